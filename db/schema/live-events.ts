import { sql } from 'drizzle-orm';
import { bigserial, check, index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt } from './columns.ts';
import { workspaces } from './workspaces.ts';

/**
 * What `GET /api/events` streams: written in the transaction of the change it reports, announced by
 * NOTIFY at its commit, so any API process hears what any worker did. Kept briefly, for `Last-Event-ID`
 * replay after a short disconnect. For one user (`user_id`: a notification) or every member of a
 * workspace (`workspace_id`: job, ingest and export status).
 */
export const liveEvents = pgTable(
  'live_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id').references(() => workspaces.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    data: jsonb('data').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('live_events_created_idx').on(t.createdAt),
    check('live_events_audience_check', sql`${t.userId} is not null or ${t.workspaceId} is not null`),
  ],
);
