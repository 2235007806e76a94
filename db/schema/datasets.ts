import { index, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id } from './columns.ts';
import { workspaces } from './workspaces.ts';

export const datasets = pgTable(
  'datasets',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Who made it; kept when they leave the workspace or delete their account (then null). */
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    name: text('name').notNull(),
    format: text('format'),
    rowCount: integer('row_count'),
    createdAt: createdAt(),
  },
  (t) => [index('datasets_workspace_idx').on(t.workspaceId, t.createdAt)],
);
