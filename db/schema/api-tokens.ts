import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { workspaces } from './workspaces.ts';

/**
 * API tokens: only a SHA-256 of the token is kept; the token itself is shown once. A token acts in its one
 * workspace, as its creator, with the lesser of its scope and the creator's current role there.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: id(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** `read`: every query plus downloads; `write`: whatever the creator's role allows. */
    scope: text('scope', { enum: ['read', 'write'] })
      .notNull()
      .default('write'),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    /** First characters of the token, so a user can tell tokens apart. */
    prefix: text('prefix').notNull(),
    lastUsedAt: tstz('last_used_at'),
    revokedAt: tstz('revoked_at'),
    expiresAt: tstz('expires_at'),
    createdAt: createdAt(),
  },
  (t) => [index('api_tokens_user_idx').on(t.userId, t.createdAt), index('api_tokens_workspace_idx').on(t.workspaceId, t.createdAt)],
);
