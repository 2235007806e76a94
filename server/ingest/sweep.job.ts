import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import { trainingJobs } from '../../db/schema';
import { defineJob, sendOptions } from '../queue/define-job';
import { ingestArtifactJob } from './ingest-artifact.job';

/**
 * The safety net behind the event path: every minute, any completed job with no artifact and no
 * ingest under way is queued again (the seed's one-minute cron, kept only as a backstop). The ingest
 * queue's singleton key makes a job already queued a no-op.
 */
export const ingestSweepJob = defineJob({
  name: 'ingest-sweep',
  payload: z.object({}).loose(),
  queue: { policy: 'singleton', expireInSeconds: 120, retryLimit: 0 },
  work: { pollingIntervalSeconds: 5 },
  cron: '* * * * *',
  async handle(deps) {
    const stale = await deps.database.db
      .select({ id: trainingJobs.id })
      .from(trainingJobs)
      .where(
        and(
          eq(trainingJobs.status, 'completed'),
          isNull(trainingJobs.artifactId),
          inArray(trainingJobs.ingestStatus, ['none', 'pending']),
          // Give the event path its moment first.
          lt(trainingJobs.completedAt, sql`now() - interval '30 seconds'`),
        ),
      )
      .limit(500);
    let queued = 0;
    for (const { id } of stale) {
      const payload = { jobId: id };
      if (await deps.boss.send(ingestArtifactJob.name, payload, sendOptions(ingestArtifactJob, payload))) queued++;
    }
    if (queued) deps.log.info('sweep queued ingests', { queued, found: stale.length });
    return { status: 'completed', output: { found: stale.length, queued } };
  },
});
