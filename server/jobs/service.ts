import { and, desc, eq, sql } from 'drizzle-orm';
import { fromDrizzle } from 'pg-boss';
import type { z } from 'zod';
import type { Tx } from '../../db/client';
import { datasets, metricsPoints, trainingJobs } from '../../db/schema';
import { WORKER_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens';
import type { Deps } from '../deps';
import { ERRORS } from '../errors';
import { ingestArtifactJob } from '../ingest/ingest-artifact.job';
import { checkOutputUri } from '../ingest/sources/allowed';
import { sendOptions } from '../queue/define-job';
import type { completeJobInput, createJobInput, metricsPoint } from './schemas';

const jobColumns = {
  id: trainingJobs.id,
  name: trainingJobs.name,
  datasetId: trainingJobs.datasetId,
  status: trainingJobs.status,
  config: trainingJobs.config,
  gpu: trainingJobs.gpu,
  outputUri: trainingJobs.outputUri,
  error: trainingJobs.error,
  startedAt: trainingJobs.startedAt,
  completedAt: trainingJobs.completedAt,
  epochsCompleted: trainingJobs.epochsCompleted,
  totalSteps: trainingJobs.totalSteps,
  durationSeconds: trainingJobs.durationSeconds,
  costUsd: trainingJobs.costUsd,
  artifactId: trainingJobs.artifactId,
  ingestStatus: trainingJobs.ingestStatus,
  ingestError: trainingJobs.ingestError,
  ingestAttempts: trainingJobs.ingestAttempts,
  createdAt: trainingJobs.createdAt,
  updatedAt: trainingJobs.updatedAt,
};

/** Enqueues the ingest of `jobId` inside `tx`: it exists exactly when the transaction commits. */
export async function enqueueIngest(deps: Deps, tx: Tx, jobId: string): Promise<void> {
  const payload = { jobId };
  await deps.boss.send(ingestArtifactJob.name, payload, { ...sendOptions(ingestArtifactJob, payload), db: fromDrizzle(tx, sql) });
}

export async function createJob(deps: Deps, userId: string, input: z.infer<typeof createJobInput>) {
  const workerToken = generateToken(WORKER_TOKEN_PREFIX);
  const jobId = await deps.database.asUser(userId, async (tx) => {
    const [ds] = await tx.select({ id: datasets.id }).from(datasets).where(and(eq(datasets.id, input.datasetId), eq(datasets.userId, userId)));
    if (!ds) throw ERRORS.notFound('Dataset');
    const [row] = await tx
      .insert(trainingJobs)
      .values({ userId, datasetId: ds.id, name: input.name, config: input.config, gpu: input.gpu, workerTokenHash: hashToken(workerToken) })
      .returning({ id: trainingJobs.id });
    return row!.id;
  });
  return { jobId, workerToken };
}

/** What jobs.list shows of each job: everything but the config, which only jobs.get returns. */
const { config: _config, ...jobSummaryColumns } = jobColumns;

/** The caller's latest 200 jobs, as summaries (no config: up to 64 KB each, and the list does not show it). */
export function listJobs(deps: Deps, userId: string) {
  return deps.database.asUser(userId, (tx) =>
    tx.select(jobSummaryColumns).from(trainingJobs).where(eq(trainingJobs.userId, userId)).orderBy(desc(trainingJobs.createdAt), desc(trainingJobs.id)).limit(200),
  );
}

export async function getJob(deps: Deps, userId: string, jobId: string) {
  const [row] = await deps.database.asUser(userId, (tx) =>
    tx.select(jobColumns).from(trainingJobs).where(and(eq(trainingJobs.id, jobId), eq(trainingJobs.userId, userId))),
  );
  if (!row) throw ERRORS.notFound('Job');
  return row;
}

/** Re-queues a failed ingest (or one that never started), in the same transaction as the state change. */
export async function retryIngest(deps: Deps, userId: string, jobId: string) {
  return deps.database.asUser(userId, async (tx) => {
    const [job] = await tx
      .select({ status: trainingJobs.status, ingestStatus: trainingJobs.ingestStatus, artifactId: trainingJobs.artifactId })
      .from(trainingJobs)
      .where(and(eq(trainingJobs.id, jobId), eq(trainingJobs.userId, userId)))
      .for('update');
    if (!job) throw ERRORS.notFound('Job');
    if (job.status !== 'completed') throw ERRORS.conflict(`Job is ${job.status}; only a completed job has files to ingest.`);
    if (job.artifactId || job.ingestStatus === 'ready') throw ERRORS.conflict('This job already has its model.');
    if (job.ingestStatus === 'pending' || job.ingestStatus === 'ingesting') return { jobId, ingestStatus: job.ingestStatus };
    await tx
      .update(trainingJobs)
      .set({ ingestStatus: 'pending', ingestError: null, updatedAt: new Date() })
      .where(and(eq(trainingJobs.id, jobId), eq(trainingJobs.userId, userId)));
    // pg-boss's tables are not app_user's: leave the restricted role for the enqueue (same transaction).
    await tx.execute(sql`reset role`);
    await enqueueIngest(deps, tx, jobId);
    return { jobId, ingestStatus: 'pending' as const };
  });
}

// ---- the GPU worker's side: authenticated by the job's own worker token, so the job id is the filter.

async function lockJob(tx: Tx, jobId: string) {
  const [job] = await tx
    .select({
      userId: trainingJobs.userId,
      status: trainingJobs.status,
      outputUri: trainingJobs.outputUri,
      epochsCompleted: trainingJobs.epochsCompleted,
      totalSteps: trainingJobs.totalSteps,
      durationSeconds: trainingJobs.durationSeconds,
      costUsd: trainingJobs.costUsd,
    })
    .from(trainingJobs)
    .where(eq(trainingJobs.id, jobId))
    .for('update');
  if (!job) throw ERRORS.notFound('Job');
  return job;
}

export async function startJob(deps: Deps, jobId: string) {
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status === 'running') return { jobId, status: job.status };
    if (job.status !== 'queued') throw ERRORS.conflict(`Job is ${job.status} and cannot start.`);
    await tx.update(trainingJobs).set({ status: 'running', startedAt: new Date(), updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
    return { jobId, status: 'running' as const };
  });
}

export async function reportMetrics(deps: Deps, jobId: string, points: z.infer<typeof metricsPoint>[]) {
  // Last write wins within a batch too: Postgres refuses to upsert the same key twice in one statement.
  const byStep = new Map<number, z.infer<typeof metricsPoint>>();
  for (const p of points) byStep.set(p.step, p);
  const rows = [...byStep.values()];
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status !== 'queued' && job.status !== 'running') throw ERRORS.conflict(`Job is ${job.status}; metrics are no longer accepted.`);
    if (job.status === 'queued') {
      await tx.update(trainingJobs).set({ status: 'running', startedAt: new Date(), updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
    }
    // One statement for the whole batch (up to 10,000 points): arrays unnested server-side.
    const arr = (values: (number | null)[], type: string) => sql`${sql.raw(`'{`)}${sql.raw(values.map(pgNumber).join(','))}${sql.raw(`}'::${type}[]`)}`;
    await tx.execute(sql`
      insert into ${metricsPoints} (job_id, step, epoch, training_loss, validation_loss, learning_rate)
      select ${jobId}::uuid, s, e, t, v, l
      from unnest(${arr(rows.map((p) => p.step), 'int4')}, ${arr(rows.map((p) => p.epoch ?? null), 'float4')},
                  ${arr(rows.map((p) => p.trainingLoss), 'float8')}, ${arr(rows.map((p) => p.validationLoss ?? null), 'float8')},
                  ${arr(rows.map((p) => p.learningRate ?? null), 'float8')}) as u(s, e, t, v, l)
      on conflict (job_id, step) do update set epoch = excluded.epoch, training_loss = excluded.training_loss,
        validation_loss = excluded.validation_loss, learning_rate = excluded.learning_rate, recorded_at = now()`);
    return { accepted: rows.length };
  });
}

/** Numbers were validated by zod; render them as Postgres array literal elements (NaN/Infinity too). */
function pgNumber(v: number | null): string {
  if (v === null) return 'NULL';
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return String(v);
}

export async function completeJob(deps: Deps, input: z.infer<typeof completeJobInput>) {
  const { jobId, outputUri, summary } = input;
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status === 'completed') {
      const same =
        job.outputUri === outputUri &&
        job.epochsCompleted === summary.epochsCompleted &&
        job.totalSteps === summary.totalSteps &&
        Number(job.durationSeconds) === Number(summary.durationSeconds.toFixed(3)) &&
        Number(job.costUsd) === Number(summary.costUsd.toFixed(4));
      if (same) return { jobId, status: 'completed' as const };
      throw ERRORS.conflict('Job is already completed with other data.');
    }
    if (job.status !== 'queued' && job.status !== 'running') throw ERRORS.conflict(`Job is ${job.status} and cannot complete.`);
    // Only where the operator allows, scoped to this job: otherwise a worker token reads any file the server can.
    const admitted = await checkOutputUri(deps.env, { jobId, userId: job.userId }, outputUri);
    if (!admitted.allowed) throw ERRORS.invalidField('outputUri', admitted.reason);
    const now = new Date();
    await tx
      .update(trainingJobs)
      .set({
        status: 'completed',
        outputUri,
        completedAt: now,
        epochsCompleted: summary.epochsCompleted,
        totalSteps: summary.totalSteps,
        durationSeconds: summary.durationSeconds,
        costUsd: summary.costUsd,
        ingestStatus: 'pending',
        updatedAt: now,
      })
      .where(eq(trainingJobs.id, jobId));
    await enqueueIngest(deps, tx, jobId);
    return { jobId, status: 'completed' as const };
  });
}

export async function failJob(deps: Deps, jobId: string, error: string) {
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status === 'failed') return { jobId, status: 'failed' as const };
    if (job.status !== 'queued' && job.status !== 'running') throw ERRORS.conflict(`Job is ${job.status} and cannot fail.`);
    await tx.update(trainingJobs).set({ status: 'failed', error, completedAt: new Date(), updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
    return { jobId, status: 'failed' as const };
  });
}

