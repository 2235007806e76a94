import { index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id } from './columns.ts';

export const datasets = pgTable(
  'datasets',
  {
    id: id(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    format: text('format'),
    rowCount: integer('row_count'),
    createdAt: createdAt(),
  },
  (t) => [index('datasets_user_idx').on(t.userId, t.createdAt)],
);
