import type { PgBoss } from 'pg-boss';
import type { Deps } from '../deps';
import { ingestArtifactJob } from '../ingest/ingest-artifact.job';
import { ingestSweepJob } from '../ingest/sweep.job';
import type { AnyJob } from './define-job';

/** Every background job of the service, in one place. */
export const JOBS: AnyJob[] = [ingestArtifactJob as unknown as AnyJob, ingestSweepJob as unknown as AnyJob];

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

/** Starts the workers of this process. `concurrency` is INGEST_CONCURRENCY. */
export async function startWorkers(boss: PgBoss, deps: Deps, concurrency: number): Promise<void> {
  for (const def of JOBS) {
    const localConcurrency = def.name === ingestArtifactJob.name ? concurrency : 1;
    await boss.work(def.name, { ...def.work, batchSize: 1, includeMetadata: true, perJobResults: true, localConcurrency }, async (jobs) => {
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
    });
  }
}
