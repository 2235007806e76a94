import { z } from 'zod';
import { defineJob, sendOptions } from '../queue/define-job.ts';
import { ingestArtifactJob } from './ingest-artifact.job.ts';
import { markIngestFailed } from './mark-failed.ts';
import { staleIngests } from './queries.ts';

/** After this many attempts in all, the sweep stops re-queueing and fails the ingest for the user to retry. */
export const MAX_TOTAL_ATTEMPTS = 15;

/**
 * The safety net behind the event path: every minute, any completed job with no artifact and no
 * ingest under way in pg-boss is queued again (the seed's one-minute cron, kept only as a backstop).
 * That covers an enqueue lost with its transaction's process, and an attempt that died with its worker
 * on its last retry (pg-boss dead-letters it; the job would otherwise stay "ingesting" forever).
 */
export const ingestSweepJob = defineJob({
  name: 'ingest-sweep',
  payload: z.object({}).loose(),
  queue: { policy: 'singleton', expireInSeconds: 120, retryLimit: 0 },
  work: { pollingIntervalSeconds: 5 },
  cron: '* * * * *',
  async handle(deps) {
    const { db } = deps.database;
    const stale = await staleIngests(db, ingestArtifactJob.name, 500);
    let queued = 0;
    let failed = 0;
    for (const job of stale) {
      if (job.attempts >= MAX_TOTAL_ATTEMPTS) {
        const message = `gave up after ${job.attempts} attempts (the worker stopped each time); retry when the cause is fixed`;
        await markIngestFailed(deps, job, message);
        failed++;
        continue;
      }
      const payload = { jobId: job.id };
      if (await deps.boss.send(ingestArtifactJob.name, payload, sendOptions(ingestArtifactJob, payload))) queued++;
    }
    if (queued || failed) deps.log.info('sweep', { queued, failed, found: stale.length });
    return { status: 'completed', output: { found: stale.length, queued, failed } };
  },
});
