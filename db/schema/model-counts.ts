import { integer, pgTable, uuid } from 'drizzle-orm/pg-core';
import { workspaces } from './workspaces.ts';

/**
 * How many models each workspace has, kept by a trigger on model_artifacts (migrations 0003, 0007), so the
 * catalogue's unfiltered total is one row read instead of a count over 100,000 index entries.
 */
export const modelCounts = pgTable('model_counts', {
  workspaceId: uuid('workspace_id')
    .primaryKey()
    .references(() => workspaces.id, { onDelete: 'cascade' }),
  total: integer('total').notNull().default(0),
});
