import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';
import { modelShares } from './model-shares.ts';
import { workspaces } from './workspaces.ts';

export const downloadEvents = pgTable(
  'download_events',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Who downloaded: null through a share link (then `share_id`), or once their account is gone. */
    userId: text('user_id').references(() => users.id, { onDelete: 'set null' }),
    shareId: uuid('share_id').references(() => modelShares.id, { onDelete: 'set null' }),
    artifactId: uuid('artifact_id')
      .notNull()
      .references(() => modelArtifacts.id, { onDelete: 'cascade' }),
    fileIds: uuid('file_ids').array().notNull(),
    kind: text('kind').$type<'files' | 'bundle'>().notNull().default('files'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
  },
  (t) => [index('download_events_artifact_idx').on(t.artifactId, t.createdAt)],
);
