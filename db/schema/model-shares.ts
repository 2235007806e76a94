import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';
import { workspaces } from './workspaces.ts';

/** A public, read-only link to one model (`/s/<token>`); only the token's hash is kept. Goes with its model. */
export const modelShares = pgTable(
  'model_shares',
  {
    id: id(),
    artifactId: uuid('artifact_id')
      .notNull()
      .references(() => modelArtifacts.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    expiresAt: tstz('expires_at').notNull(),
    revokedAt: tstz('revoked_at'),
    createdAt: createdAt(),
  },
  (t) => [index('model_shares_artifact_idx').on(t.artifactId)],
);
