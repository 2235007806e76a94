import { foreignKey, index, integer, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';
import { workspaces } from './workspaces.ts';

/**
 * A family of models in a workspace (`support-bot`): its versions are the models with that family, v1, v2, …
 * `last_version` only grows (the ingest takes the next under this row's lock), so a version number is never
 * reused, even after its model is purged.
 */
export const modelFamilies = pgTable(
  'model_families',
  {
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    lastVersion: integer('last_version').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.name] })],
);

/**
 * A named pointer into a family (`production`, `staging`): at most one model per alias (the primary key),
 * moved by one upsert, so concurrent moves end with exactly one holder. Goes with its model when it is purged.
 */
export const modelAliases = pgTable(
  'model_aliases',
  {
    workspaceId: uuid('workspace_id').notNull(),
    family: text('family').notNull(),
    alias: text('alias').notNull(),
    artifactId: uuid('artifact_id')
      .notNull()
      .references(() => modelArtifacts.id, { onDelete: 'cascade' }),
    setBy: text('set_by').references(() => users.id, { onDelete: 'set null' }),
    setAt: tstz('set_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.workspaceId, t.family, t.alias] }),
    foreignKey({ columns: [t.workspaceId, t.family], foreignColumns: [modelFamilies.workspaceId, modelFamilies.name] }).onDelete('cascade'),
    index('model_aliases_artifact_idx').on(t.artifactId),
  ],
);

/**
 * Who moved which alias to which version, and when: the history a rollback is read from. Kept when the
 * model is purged (version numbers are never reused, so "v3" still means what it meant).
 */
export const modelAliasEvents = pgTable(
  'model_alias_events',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    family: text('family').notNull(),
    alias: text('alias').notNull(),
    /** `set` (also a move) or `removed`. */
    action: text('action', { enum: ['set', 'removed'] }).notNull(),
    /** The version it points at after the event (set), or pointed at before (removed). */
    version: integer('version').notNull(),
    /** The version it pointed at before a move; null when it was new. */
    previousVersion: integer('previous_version'),
    actorId: text('actor_id').references(() => users.id, { onDelete: 'set null' }),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [index('model_alias_events_family_idx').on(t.workspaceId, t.family, t.at)],
);
