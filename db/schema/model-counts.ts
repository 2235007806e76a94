import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';

/**
 * How many models each user has, kept by a trigger on model_artifacts (migration 0003), so the
 * catalogue's unfiltered total is one row read instead of a count over 100,000 index entries.
 */
export const modelCounts = pgTable('model_counts', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  total: integer('total').notNull().default(0),
});
