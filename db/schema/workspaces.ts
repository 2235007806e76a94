import { sql } from 'drizzle-orm';
import { boolean, check, index, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';

/**
 * What owns every dataset, job, model, file, download record and API token. Each user has one personal
 * workspace (`personal_user_id` set, unique), made at sign-up; a team workspace has none.
 */
export const workspaces = pgTable(
  'workspaces',
  {
    id: id(),
    name: text('name').notNull(),
    /** URL-friendly and unique: the name, slugified, with a random suffix. */
    slug: text('slug').notNull().unique(),
    /** The user whose personal workspace this is; null for a team workspace. */
    personalUserId: text('personal_user_id')
      .unique()
      .references(() => users.id, { onDelete: 'cascade' }),
    personal: boolean('personal').notNull().generatedAlwaysAs(sql`personal_user_id is not null`),
    /** Which checkpoints an ingest keeps: `all`, `best`, `best+final` or the N best (`'3'`); see server/registry/checkpoints.ts. */
    keepCheckpoints: text('keep_checkpoints').notNull().default('all'),
    /** Whether an ingest copies the folders it skips by default (.git/, runs/, wandb/, caches, tmp-checkpoint-*); see classify.ts skippedBy. */
    includeSkipped: boolean('include_skipped').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [check('workspaces_keep_checkpoints_check', sql`${t.keepCheckpoints} ~ '^(all|best|best\\+final|[1-9][0-9]{0,2})$'`)],
);

/** Plain text in SQL with a CHECK; server/workspaces/roles.ts reads it as ROLES. */
export const workspaceRoles = ['owner', 'admin', 'member', 'viewer'] as const;

export const workspaceMembers = pgTable(
  'workspace_members',
  {
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: workspaceRoles }).notNull(),
    addedAt: tstz('added_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.userId] }), index('workspace_members_user_idx').on(t.userId)],
);

/** An invitation to one email address: single use, valid until `expires_at`; only the token's hash is kept. */
export const workspaceInvites = pgTable(
  'workspace_invites',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Lower-cased. */
    email: text('email').notNull(),
    role: text('role', { enum: workspaceRoles }).notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    invitedBy: text('invited_by').references(() => users.id, { onDelete: 'set null' }),
    expiresAt: tstz('expires_at').notNull(),
    acceptedAt: tstz('accepted_at'),
    acceptedBy: text('accepted_by').references(() => users.id, { onDelete: 'set null' }),
    revokedAt: tstz('revoked_at'),
    createdAt: createdAt(),
  },
  (t) => [index('workspace_invites_workspace_idx').on(t.workspaceId, t.email)],
);
