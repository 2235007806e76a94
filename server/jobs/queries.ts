import { and, desc, eq, sql } from 'drizzle-orm';
import type { z } from 'zod';
import type { Db, Tx } from '../../db/client.ts';
import { metricsPoints, trainingJobs, workspaceMembers } from '../../db/schema/index.ts';
import type { Actor, Role } from '../workspaces/roles.ts';
import type { completeJobInput, createJobInput } from './schemas.ts';

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

/** What jobs.list shows of each job: everything but the config, which only jobs.get returns. */
const { config: _config, ...jobSummaryColumns } = jobColumns;

export async function insertJob(
  tx: Tx,
  values: { workspaceId: string; createdBy: string; datasetId: string; workerTokenHash: string } & Pick<
    z.infer<typeof createJobInput>,
    'name' | 'config' | 'gpu'
  > & { family: string },
): Promise<string> {
  const [row] = await tx
    .insert(trainingJobs)
    .values({
      workspaceId: values.workspaceId,
      createdBy: values.createdBy,
      datasetId: values.datasetId,
      name: values.name,
      family: values.family,
      config: values.config,
      gpu: values.gpu,
      workerTokenHash: values.workerTokenHash,
    })
    .returning({ id: trainingJobs.id });
  return row!.id;
}

/** The workspace's latest 200 jobs, as summaries (no config: up to 64 KB each, and the list does not show it). */
export function listJobs(tx: Tx, workspaceId: string) {
  return tx
    .select(jobSummaryColumns)
    .from(trainingJobs)
    .where(eq(trainingJobs.workspaceId, workspaceId))
    .orderBy(desc(trainingJobs.createdAt), desc(trainingJobs.id))
    .limit(200);
}

/**
 * The caller's membership of the job's workspace, as a join: a job of a workspace they are not in (or,
 * for a token, any but its own) is no row. Row-level security says the same again.
 */
const member = (actor: Actor) =>
  and(
    eq(workspaceMembers.workspaceId, trainingJobs.workspaceId),
    eq(workspaceMembers.userId, actor.userId),
    actor.token ? eq(trainingJobs.workspaceId, actor.token.workspaceId) : undefined,
  );

/** The job and its workspace; null when there is no such job in any of the caller's workspaces. */
export async function getJob(tx: Tx, actor: Actor, jobId: string) {
  const [row] = await tx
    .select({ ...jobColumns, workspaceId: trainingJobs.workspaceId })
    .from(trainingJobs)
    .innerJoin(workspaceMembers, member(actor))
    .where(eq(trainingJobs.id, jobId));
  return row ?? null;
}

/**
 * The caller's role in the job's workspace, read without a lock; null when the job is not theirs to see. Under
 * row-level security SELECT … FOR UPDATE also applies the UPDATE policy, which hides the job from a viewer:
 * a change is judged on this read, so a viewer hears FORBIDDEN, not NOT_FOUND.
 */
export async function jobRole(tx: Tx, actor: Actor, jobId: string): Promise<Role | null> {
  const [row] = await tx
    .select({ role: workspaceMembers.role })
    .from(trainingJobs)
    .innerJoin(workspaceMembers, member(actor))
    .where(eq(trainingJobs.id, jobId));
  return row?.role ?? null;
}

/** The job (locked FOR UPDATE) with what a retry of its ingest decides on; null when not theirs to see. */
export async function lockJobForIngest(tx: Tx, actor: Actor, jobId: string) {
  const [job] = await tx
    .select({
      status: trainingJobs.status,
      ingestStatus: trainingJobs.ingestStatus,
      artifactId: trainingJobs.artifactId,
      purgedAt: trainingJobs.purgedAt,
    })
    .from(trainingJobs)
    .innerJoin(workspaceMembers, member(actor))
    .where(eq(trainingJobs.id, jobId))
    .for('update', { of: trainingJobs });
  return job ?? null;
}

export async function setIngestPending(tx: Tx, jobId: string): Promise<void> {
  await tx.update(trainingJobs).set({ ingestStatus: 'pending', ingestError: null, updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
}

/** Leaves app_user for the rest of `tx` (pg-boss's tables are not app_user's); app.user_id stays set. */
export async function leaveUserRole(tx: Tx): Promise<void> {
  await tx.execute(sql`reset role`);
}

// ---- the GPU worker's side: authenticated by the job's own worker token, so the job id is the filter.

/** The job a worker token was issued for, or null. Owner connection: it decides who the caller is. */
export async function findJobByWorkerTokenHash(db: Db, tokenHash: string) {
  const [job] = await db.select({ id: trainingJobs.id }).from(trainingJobs).where(eq(trainingJobs.workerTokenHash, tokenHash)).limit(1);
  return job ?? null;
}

/** The job, locked FOR UPDATE for the rest of `tx`, with what the worker's calls decide on; null when absent. */
export async function lockJob(tx: Tx, jobId: string) {
  const [job] = await tx
    .select({
      workspaceId: trainingJobs.workspaceId,
      createdBy: trainingJobs.createdBy,
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
  return job ?? null;
}

export async function markRunning(tx: Tx, jobId: string): Promise<void> {
  await tx.update(trainingJobs).set({ status: 'running', startedAt: new Date(), updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
}

/** A point to store: the worker's (validated by zod) or one the ingest read from the output. */
type StoredPoint = {
  step: number;
  epoch?: number | null;
  trainingLoss?: number | null;
  validationLoss?: number | null;
  learningRate?: number | null;
};
type PointSource = (typeof metricsPoints.$inferInsert)['source'];

/**
 * Writes a batch of points (distinct steps) in one statement, arrays unnested server-side. The worker's
 * (`source` 'worker') replace what a step had: last write wins. Points read from the output (`keep`) never replace
 * a stored step: the worker's own report of a step wins over the trainer's log.
 */
export async function upsertMetrics(
  tx: Tx,
  jobId: string,
  rows: readonly StoredPoint[],
  options: { source?: NonNullable<PointSource>; keep?: boolean } = {},
): Promise<void> {
  // Each column as one Postgres array literal of validated numbers (NaN and the infinities spelled out).
  const column = (type: string, pick: (p: StoredPoint) => number | null | undefined) =>
    sql.raw(`'{${rows.map((p) => pgNumber(pick(p) ?? null)).join(',')}}'::${type}[]`);
  const steps = column('int4', (p) => p.step);
  const epochs = column('float4', (p) => p.epoch);
  const training = column('float8', (p) => p.trainingLoss);
  const validation = column('float8', (p) => p.validationLoss);
  const rates = column('float8', (p) => p.learningRate);
  const source = options.source ?? 'worker';
  const conflict = options.keep
    ? sql`on conflict (job_id, step) do nothing`
    : sql`on conflict (job_id, step) do update set epoch = excluded.epoch, training_loss = excluded.training_loss,
      validation_loss = excluded.validation_loss, learning_rate = excluded.learning_rate, source = excluded.source, recorded_at = now()`;
  await tx.execute(sql`
    insert into ${metricsPoints} (job_id, step, epoch, training_loss, validation_loss, learning_rate, source)
    select ${jobId}::uuid, s, e, t, v, l, ${source}
    from unnest(${steps}, ${epochs}, ${training}, ${validation}, ${rates}) as u(s, e, t, v, l)
    ${conflict}`);
}

/** Numbers were validated by zod; render them as Postgres array literal elements (NaN/Infinity too). */
function pgNumber(v: number | null): string {
  if (v === null) return 'NULL';
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return String(v);
}

/** Completes the job with the worker's summary and marks its ingest pending (the caller enqueues it in `tx`). */
export async function markCompleted(tx: Tx, input: z.infer<typeof completeJobInput>): Promise<void> {
  const { jobId, outputUri, summary } = input;
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
}

export async function markFailed(tx: Tx, jobId: string, error: string): Promise<void> {
  await tx.update(trainingJobs).set({ status: 'failed', error, completedAt: new Date(), updatedAt: new Date() }).where(eq(trainingJobs.id, jobId));
}
