import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { artifactFiles, datasets, metricsPoints, modelArtifacts, modelFamilies, trainingJobs, workspaces } from '../../db/schema/index.ts';
import { publishJobChange } from '../events/publish.ts';
import type { CurveSource } from '../outputs/types.ts';

/**
 * The ingest's SQL. Workers run on the owner's connection (no user request, so no row-level
 * security); every statement names its job, and delivery is guarded by Postgres constraints.
 */
type Queryable = Db | Tx;

/** What the ingest needs of a training job; null when there is no such job. */
export async function jobForIngest(db: Queryable, jobId: string) {
  const [row] = await db
    .select({
      workspaceId: trainingJobs.workspaceId,
      createdBy: trainingJobs.createdBy,
      name: trainingJobs.name,
      family: trainingJobs.family,
      status: trainingJobs.status,
      outputUri: trainingJobs.outputUri,
      artifactId: trainingJobs.artifactId,
      datasetId: trainingJobs.datasetId,
      config: trainingJobs.config,
      gpu: trainingJobs.gpu,
      epochsCompleted: trainingJobs.epochsCompleted,
      totalSteps: trainingJobs.totalSteps,
      durationSeconds: trainingJobs.durationSeconds,
      costUsd: trainingJobs.costUsd,
      includeSkipped: workspaces.includeSkipped,
    })
    .from(trainingJobs)
    .innerJoin(workspaces, eq(workspaces.id, trainingJobs.workspaceId))
    .where(eq(trainingJobs.id, jobId));
  return row ?? null;
}

/** Marks an attempt started (and counts it), unless the model was delivered meanwhile; announced live with it. */
export async function markIngesting(db: Db, jobId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const changed = await tx
      .update(trainingJobs)
      .set({ ingestStatus: 'ingesting', ingestAttempts: sql`${trainingJobs.ingestAttempts} + 1`, ingestStartedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(trainingJobs.id, jobId), isNull(trainingJobs.artifactId)))
      .returning({ id: trainingJobs.id });
    if (changed.length > 0) await publishJobChange(tx, jobId);
  });
}

/** Shows the error of an attempt that will be retried (the status stays as it is); the jobs page hears it live. */
export async function recordAttemptError(db: Db, jobId: string, message: string): Promise<void> {
  await db.transaction(async (tx) => {
    const changed = await tx
      .update(trainingJobs)
      .set({ ingestError: message, updatedAt: new Date() })
      .where(and(eq(trainingJobs.id, jobId), isNull(trainingJobs.artifactId)))
      .returning({ id: trainingJobs.id });
    if (changed.length > 0) await publishJobChange(tx, jobId);
  });
}

/** Marks the ingest failed (announced live) unless a model was delivered meanwhile; true when it did. */
export async function markIngestFailed(tx: Tx, jobId: string, message: string): Promise<boolean> {
  const rows = await tx
    .update(trainingJobs)
    .set({ ingestStatus: 'failed', ingestError: message, updatedAt: new Date() })
    .where(and(eq(trainingJobs.id, jobId), isNull(trainingJobs.artifactId)))
    .returning({ id: trainingJobs.id });
  if (rows.length > 0) await publishJobChange(tx, jobId);
  return rows.length > 0;
}

export async function datasetName(tx: Tx, datasetId: string): Promise<string | null> {
  const [row] = await tx.select({ name: datasets.name }).from(datasets).where(eq(datasets.id, datasetId));
  return row?.name ?? null;
}

/**
 * Locks the job's row for the delivery transaction and says whether its model may be delivered now: false
 * when it already was (by a concurrent twin, which then held this lock) or was delivered and purged since.
 */
export async function claimDelivery(tx: Tx, jobId: string): Promise<boolean> {
  const [row] = await tx.select({ artifactId: trainingJobs.artifactId }).from(trainingJobs).where(eq(trainingJobs.id, jobId)).for('update');
  return !!row && row.artifactId === null;
}

/**
 * The next version of `family` in the workspace (1 for a new family). The upsert locks the family's row,
 * so concurrent deliveries into one family take 1, 2, 3 in turn; numbers are never reused.
 */
export async function nextVersion(tx: Tx, workspaceId: string, family: string): Promise<number> {
  const [row] = await tx
    .insert(modelFamilies)
    .values({ workspaceId, name: family, lastVersion: 1 })
    .onConflictDoUpdate({ target: [modelFamilies.workspaceId, modelFamilies.name], set: { lastVersion: sql`${modelFamilies.lastVersion} + 1` } })
    .returning({ version: modelFamilies.lastVersion });
  return row!.version;
}

/** Whether the job's model was purged (its tombstone is set): a late duplicate ingest then removes what it wrote. */
export async function wasPurged(db: Queryable, jobId: string): Promise<boolean> {
  const [row] = await db.select({ purgedAt: trainingJobs.purgedAt }).from(trainingJobs).where(eq(trainingJobs.id, jobId));
  return !!row?.purgedAt;
}

/**
 * Inserts the model row; false when it already exists. No conflict target: id and job_id are both unique
 * and derived from the job, so a concurrent twin may trip either.
 */
export async function insertArtifact(tx: Tx, values: typeof modelArtifacts.$inferInsert): Promise<boolean> {
  const inserted = await tx.insert(modelArtifacts).values(values).onConflictDoNothing().returning({ id: modelArtifacts.id });
  return inserted.length > 0;
}

/** The output's files and the generated ones (the model card) of one model. */
export async function insertArtifactFiles(
  tx: Tx,
  rows: (typeof artifactFiles.$inferInsert)[],
  ...generated: (typeof artifactFiles.$inferInsert)[]
): Promise<void> {
  await tx.insert(artifactFiles).values([...rows, ...generated]);
}

/** Links the job to its delivered model and marks the ingest ready (announced live, at commit). */
export async function markDelivered(tx: Tx, jobId: string, artifactId: string): Promise<void> {
  await tx
    .update(trainingJobs)
    .set({ artifactId, ingestStatus: 'ready', ingestError: null, updatedAt: new Date() })
    .where(eq(trainingJobs.id, jobId));
  await publishJobChange(tx, jobId);
}

/**
 * Completed jobs with no model and no ingest under way in pg-boss (queue `queue`), completed more than
 * 30 seconds ago so the event path has its moment first; at most `limit`.
 */
export function staleIngests(db: Queryable, queue: string, limit: number) {
  const live = sql`exists (select 1 from pgboss.job j where j.name = ${queue}
    and j.singleton_key = ${trainingJobs.id}::text and j.state in ('created', 'retry', 'active'))`;
  return db
    .select({ id: trainingJobs.id, workspaceId: trainingJobs.workspaceId, name: trainingJobs.name, attempts: trainingJobs.ingestAttempts })
    .from(trainingJobs)
    .where(
      and(
        eq(trainingJobs.status, 'completed'),
        isNull(trainingJobs.artifactId),
        inArray(trainingJobs.ingestStatus, ['none', 'pending', 'ingesting']),
        lt(trainingJobs.completedAt, sql`now() - interval '30 seconds'`),
        sql`not ${live}`,
      ),
    )
    .limit(limit);
}

/** How many of a job's stored points came from `source` (the worker's reports, or one kind of output file). */
export async function pointsFrom(db: Queryable, jobId: string, source: CurveSource): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(metricsPoints)
    .where(and(eq(metricsPoints.jobId, jobId), eq(metricsPoints.source, source)));
  return row?.n ?? 0;
}
