import { sql } from 'drizzle-orm';
import { fromDrizzle, type PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Tx } from '../../db/client.ts';
import { defineJob, sendOptions } from '../queue/define-job.ts';

/** At most this many prefixes per job: a workspace of 10,000 models becomes 20 jobs, each quick to retry. */
const PURGE_BATCH = 500;

/**
 * Deletes the stored objects of models whose rows are gone (a deleted workspace). Enqueued in the same
 * transaction as the delete, so the bytes go exactly when the rows did; deleting a prefix twice is harmless.
 */
export const purgeObjectsJob = defineJob({
  name: 'purge-objects',
  payload: z.object({ prefixes: z.array(z.string().min(1).max(200)).min(1).max(PURGE_BATCH) }),
  queue: {
    policy: 'standard',
    notify: true,
    expireInSeconds: 30 * 60,
    retryLimit: 10,
    retryDelay: 30,
    retryBackoff: true,
    deadLetter: 'purge-objects-dead',
  },
  work: { pollingIntervalSeconds: 5 },
  async handle(deps, { prefixes }) {
    for (const prefix of prefixes) await deps.storage.deletePrefix(prefix);
    deps.log.info('objects purged', { prefixes: prefixes.length });
    return { status: 'completed', output: { prefixes: prefixes.length } };
  },
});

/**
 * Enqueues the purge of `prefixes` inside `tx`, so the bytes go exactly when the rows do. `tx` must run as
 * the owner by then (pg-boss's tables are not app_user's).
 */
export async function enqueuePurge(boss: PgBoss, tx: Tx, prefixes: string[]): Promise<void> {
  for (let i = 0; i < prefixes.length; i += PURGE_BATCH) {
    const payload = { prefixes: prefixes.slice(i, i + PURGE_BATCH) };
    await boss.send(purgeObjectsJob.name, payload, { ...sendOptions(purgeObjectsJob, payload), db: fromDrizzle(tx, sql) });
  }
}
