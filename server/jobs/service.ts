import { sql } from 'drizzle-orm';
import { fromDrizzle } from 'pg-boss';
import type { z } from 'zod';
import type { Tx } from '../../db/client.ts';
import { WORKER_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens.ts';
import { workspaceDatasetId } from '../datasets/queries.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { publishJobChange } from '../events/publish.ts';
import { familyFromName } from '../registry/refs.ts';
import { ingestArtifactJob } from '../ingest/ingest-artifact.job.ts';
import { checkOutputUri } from '../ingest/sources/allowed.ts';
import { sendOptions } from '../queue/define-job.ts';
import { type Actor, judge, rls, targetWorkspace } from '../workspaces/roles.ts';
import { inWorkspace } from '../workspaces/service.ts';
import * as q from './queries.ts';
import type { completeJobInput, createJobInput, metricsPoint } from './schemas.ts';

/** Enqueues the ingest of `jobId` inside `tx`: it exists exactly when the transaction commits. */
async function enqueueIngest(deps: Deps, tx: Tx, jobId: string): Promise<void> {
  const payload = { jobId };
  await deps.boss.send(ingestArtifactJob.name, payload, { ...sendOptions(ingestArtifactJob, payload), db: fromDrizzle(tx, sql) });
}

export async function createJob(deps: Deps, actor: Actor, input: z.infer<typeof createJobInput>) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const workerToken = generateToken(WORKER_TOKEN_PREFIX);
  const jobId = await inWorkspace(deps, actor, workspaceId, 'write', async (tx) => {
    // The dataset must be the same workspace's.
    const datasetId = await workspaceDatasetId(tx, workspaceId, input.datasetId);
    if (!datasetId) throw ERRORS.notFound('Dataset');
    const id = await q.insertJob(tx, {
      workspaceId,
      createdBy: actor.userId,
      datasetId,
      name: input.name,
      family: input.family ?? familyFromName(input.name),
      config: input.config,
      gpu: input.gpu,
      workerTokenHash: hashToken(workerToken),
    });
    // As the member (row-level security lets them announce to their own workspace).
    await publishJobChange(tx, id);
    return id;
  });
  return { jobId, workerToken };
}

/** The workspace's latest 200 jobs, as summaries (no config: up to 64 KB each, and the list does not show it). */
export function listJobs(deps: Deps, actor: Actor, input: { workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  return inWorkspace(deps, actor, workspaceId, 'read', (tx) => q.listJobs(tx, workspaceId));
}

export async function getJob(deps: Deps, actor: Actor, jobId: string) {
  const row = await deps.database.asUser(rls(actor), (tx) => q.getJob(tx, actor, jobId));
  if (!row) throw ERRORS.notFound('Job');
  return row;
}

/** Re-queues a failed ingest (or one that never started), in the same transaction as the state change (members and up). */
export async function retryIngest(deps: Deps, actor: Actor, jobId: string) {
  return deps.database.asUser(rls(actor), async (tx) => {
    // Judged before the lock: FOR UPDATE would hide the job from a viewer (see jobRole).
    judge(actor, await q.jobRole(tx, actor, jobId), 'write', 'Job');
    const job = await q.lockJobForIngest(tx, actor, jobId);
    if (!job) throw ERRORS.notFound('Job');
    if (job.status !== 'completed') throw ERRORS.conflict(`Job is ${job.status}; only a completed job has files to ingest.`);
    // The tombstone: its model was delivered, then purged with its files; the run is not ingested again.
    if (job.purgedAt) throw ERRORS.conflict("This job's model was purged (deleted for good); it cannot be ingested again.");
    if (job.artifactId || job.ingestStatus === 'ready') throw ERRORS.conflict('This job already has its model.');
    if (job.ingestStatus === 'pending' || job.ingestStatus === 'ingesting') return { jobId, ingestStatus: job.ingestStatus };
    await q.setIngestPending(tx, jobId);
    // pg-boss's tables are not app_user's: leave the restricted role for the enqueue (same transaction).
    await q.leaveUserRole(tx);
    await enqueueIngest(deps, tx, jobId);
    await publishJobChange(tx, jobId);
    return { jobId, ingestStatus: 'pending' as const };
  });
}

// ---- the GPU worker's side: authenticated by the job's own worker token, so the job id is the filter.

/** The job a worker token (`lwt_…`) was issued for, or null. */
export async function resolveWorkerToken(deps: Deps, token: string): Promise<{ jobId: string } | null> {
  if (!token.startsWith(WORKER_TOKEN_PREFIX)) return null;
  const job = await q.findJobByWorkerTokenHash(deps.database.db, hashToken(token));
  return job ? { jobId: job.id } : null;
}

async function lockJob(tx: Tx, jobId: string) {
  const job = await q.lockJob(tx, jobId);
  if (!job) throw ERRORS.notFound('Job');
  return job;
}

export async function startJob(deps: Deps, jobId: string) {
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status === 'running') return { jobId, status: job.status };
    if (job.status !== 'queued') throw ERRORS.conflict(`Job is ${job.status} and cannot start.`);
    await q.markRunning(tx, jobId);
    await publishJobChange(tx, jobId);
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
      await q.markRunning(tx, jobId);
      await publishJobChange(tx, jobId);
    }
    // One statement for the whole batch (up to 10,000 points).
    await q.upsertMetrics(tx, jobId, rows);
    return { accepted: rows.length };
  });
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
    const admitted = await checkOutputUri(deps.env, { jobId, userId: job.createdBy, workspaceId: job.workspaceId }, outputUri);
    if (!admitted.allowed) throw ERRORS.invalidField('outputUri', admitted.reason);
    await q.markCompleted(tx, input);
    await enqueueIngest(deps, tx, jobId);
    await publishJobChange(tx, jobId);
    return { jobId, status: 'completed' as const };
  });
}

export async function failJob(deps: Deps, jobId: string, error: string) {
  return deps.database.db.transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (job.status === 'failed') return { jobId, status: 'failed' as const };
    if (job.status !== 'queued' && job.status !== 'running') throw ERRORS.conflict(`Job is ${job.status} and cannot fail.`);
    await q.markFailed(tx, jobId, error);
    await publishJobChange(tx, jobId);
    return { jobId, status: 'failed' as const };
  });
}
