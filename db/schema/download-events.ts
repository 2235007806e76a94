import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';

export const downloadEvents = pgTable(
  'download_events',
  {
    id: id(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
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
