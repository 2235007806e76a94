import { bigserial, index, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * One row per counted event (a failed sign-in, a sign-up…), keyed by what is limited. Counted over a
 * sliding window in Postgres, so every API process shares the same limits; old rows are deleted.
 */
export const rateLimitEvents = pgTable(
  'rate_limit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** What is limited, e.g. `sign-in-failure:ip`. */
    bucket: text('bucket').notNull(),
    /** Who: a client address, an account, or both joined. */
    key: text('key').notNull(),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [index('rate_limit_events_bucket_key_at_idx').on(t.bucket, t.key, t.at), index('rate_limit_events_at_idx').on(t.at)],
);
