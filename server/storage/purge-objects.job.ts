import { sql } from 'drizzle-orm';
import { fromDrizzle, type PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Tx } from '../../db/client.ts';
import { defineJob, sendOptions } from '../queue/define-job.ts';

/** At most this many prefixes per job: a workspace of 10,000 models becomes 20 jobs, each quick to retry. */
const PURGE_BATCH = 500;

/** At most this many single keys per job (a pruned checkpoint's files): one S3 DeleteObjects request. */
const KEY_BATCH = 1000;

/**
 * Prefixes emptied at once. Each is a LIST and a DELETE (S3) or a directory removal (fs): on R2 every
 * request is a round trip, so one at a time would leave the purge waiting on latency, not on work.
 */
const PREFIX_CONCURRENCY = 8;

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure (the job is retried whole). */
async function eachConcurrently<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Deletes the stored objects of models whose rows are gone (a deleted workspace: `prefixes`) or of files
 * whose rows are gone (pruned checkpoints: exact `keys`, as `artifacts/a/1` is a prefix of `artifacts/a/10`).
 * Enqueued in the same transaction as the delete, so the bytes go exactly when the rows did; deleting twice
 * is harmless.
 */
export const purgeObjectsJob = defineJob({
  name: 'purge-objects',
  payload: z
    .object({
      prefixes: z.array(z.string().min(1).max(200)).min(1).max(PURGE_BATCH).optional(),
      keys: z.array(z.string().min(1).max(1024)).min(1).max(KEY_BATCH).optional(),
    })
    .refine((p) => p.prefixes !== undefined || p.keys !== undefined, 'needs prefixes, keys or both'),
  queue: {
    policy: 'standard',
    notify: true,
    expireInSeconds: 30 * 60,
    // A worker killed mid-purge is noticed within a minute (missed heartbeat), not after the 30-minute expiry.
    heartbeatSeconds: 30,
    retryLimit: 10,
    retryDelay: 30,
    retryBackoff: true,
    deadLetter: 'purge-objects-dead',
  },
  work: { pollingIntervalSeconds: 5 },
  async handle(deps, { prefixes = [], keys = [] }) {
    await eachConcurrently(prefixes, PREFIX_CONCURRENCY, (prefix) => deps.storage.deletePrefix(prefix));
    await deps.storage.deleteKeys(keys);
    deps.log.info('objects purged', { prefixes: prefixes.length, keys: keys.length });
    return { status: 'completed', output: { prefixes: prefixes.length, keys: keys.length } };
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

/** Enqueues the deletion of exactly these objects inside `tx` (owner role by then, as for `enqueuePurge`). */
export async function enqueueKeyPurge(boss: PgBoss, tx: Tx, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += KEY_BATCH) {
    const payload = { keys: keys.slice(i, i + KEY_BATCH) };
    await boss.send(purgeObjectsJob.name, payload, { ...sendOptions(purgeObjectsJob, payload), db: fromDrizzle(tx, sql) });
  }
}
