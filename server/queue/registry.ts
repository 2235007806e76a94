import type { Job, PgBoss } from 'pg-boss';
import type { Deps } from '../deps.ts';
import { ingestArtifactJob } from '../ingest/ingest-artifact.job.ts';
import { ingestSweepJob } from '../ingest/sweep.job.ts';
import { purgeObjectsJob } from '../storage/purge-objects.job.ts';
import { trashPurgeJob } from '../registry/trash-purge.job.ts';
import { exportGgufJob } from '../adapters/export.ts';
import { adapterBackfillJob } from '../adapters/backfill.job.ts';
import { deliverWebhookJob } from '../webhooks/deliver.job.ts';
import { liveEventsPruneJob } from '../events/prune.job.ts';
import type { AnyJob } from './define-job.ts';

/** Every background job of the service, in one place. */
export const JOBS: AnyJob[] = [
  ingestArtifactJob as unknown as AnyJob,
  ingestSweepJob as unknown as AnyJob,
  purgeObjectsJob as unknown as AnyJob,
  trashPurgeJob as unknown as AnyJob,
  exportGgufJob as unknown as AnyJob,
  adapterBackfillJob as unknown as AnyJob,
  deliverWebhookJob as unknown as AnyJob,
  liveEventsPruneJob as unknown as AnyJob,
];

/** Creates queues (and dead-letter queues) and schedules: safe to run from every process at start. */
export async function createQueues(boss: PgBoss): Promise<void> {
  for (const def of JOBS) {
    if (def.queue.deadLetter) await boss.createQueue(def.queue.deadLetter, { retentionSeconds: 30 * 86400, deleteAfterSeconds: 30 * 86400 });
    const existing = await boss.getQueue(def.name);
    if (existing) {
      // A queue's policy is fixed at creation; everything else follows the code.
      const { policy: _policy, ...rest } = def.queue;
      await boss.updateQueue(def.name, rest);
    } else {
      await boss.createQueue(def.name, def.queue);
    }
    if (def.cron) await boss.schedule(def.name, def.cron, {}, { tz: 'UTC' });
  }
}

/**
 * Starts the workers of this process. `concurrency` is INGEST_CONCURRENCY.
 *
 * One pg-boss worker per slot (localConcurrency 1 each, batch of 1), so a slot freed by a small job
 * fetches again at once while a long copy holds another: a batch of N on one worker would idle its
 * finished slots until the slowest job of the batch ends. pg-boss waits out its poll interval (10 s with
 * NOTIFY) after each fetch unless notified, and a burst of completions notifies only once, so a backlog
 * drained at one job per slot per poll. Each worker therefore wakes itself after a job: it fetches again
 * immediately, and only an empty fetch sends it back to waiting for NOTIFY or the poll.
 */
export async function startWorkers(boss: PgBoss, deps: Deps, concurrency: number): Promise<void> {
  for (const def of JOBS) {
    const slots = def.name === ingestArtifactJob.name ? concurrency : (def.slots ?? 1);
    for (let slot = 0; slot < slots; slot++) {
      let workerId: string | null = null;
      workerId = await boss.work(
        def.name,
        { ...def.work, batchSize: 1, includeMetadata: true, perJobResults: true, localConcurrency: 1 },
        async (jobs) => {
          try {
            return await runBatch(def, deps, jobs);
          } finally {
            // A fetch that found work suggests more is queued: skip the poll delay (see above).
            if (jobs.length > 0 && workerId) boss.notifyWorker(workerId);
          }
        },
      );
    }
  }
}

async function runBatch(def: AnyJob, deps: Deps, jobs: Job<unknown>[]) {
  const results = [];
  for (const job of jobs) {
    const parsed = def.payload.safeParse(job.data);
    if (!parsed.success) {
      deps.log.error('job payload rejected', { queue: def.name, id: job.id });
      results.push({ id: job.id, status: 'deadletter' as const, output: { error: 'invalid payload' } });
      continue;
    }
    const outcome = await def.handle(deps, parsed.data, job as never);
    results.push({ id: job.id, ...outcome });
  }
  return results;
}
