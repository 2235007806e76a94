import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { artifactFiles, modelArtifacts, modelExports } from '../../db/schema/index.ts';
import { publishExportChange } from '../events/publish.ts';

/**
 * The SQL of exports (server/adapters/export.ts). Requests run as the member (row-level security: write to
 * ask, read to list); the export-gguf job runs on the owner's connection and names its export in every statement.
 */

type ExportRow = typeof modelExports.$inferSelect;

/** What models.export needs of a live model: its workspace, version and fit, and the files an export may start from. */
export async function exportSubject(tx: Tx, modelId: string) {
  const [row] = await tx
    .select({
      workspaceId: modelArtifacts.workspaceId,
      mainCheckpoint: modelArtifacts.mainCheckpoint,
      prunedCheckpoints: modelArtifacts.prunedCheckpoints,
      compatibility: modelArtifacts.compatibility,
    })
    .from(modelArtifacts)
    .where(and(eq(modelArtifacts.id, modelId), sql`${modelArtifacts.deletedAt} is null`));
  return row ?? null;
}

/**
 * Records a request, or finds the export of the same content: UNIQUE(artifact, format, source SHA-256) makes
 * two requests at once one row. Returns the row and whether this call made it.
 */
export async function claimExport(
  tx: Tx,
  values: Pick<ExportRow, 'artifactId' | 'workspaceId' | 'format' | 'checkpoint' | 'sourcePath' | 'sourceSha256' | 'requestedBy'>,
): Promise<{ row: ExportRow; created: boolean }> {
  const [inserted] = await tx.insert(modelExports).values(values).onConflictDoNothing().returning();
  if (inserted) return { row: inserted, created: true };
  const [existing] = await tx
    .select()
    .from(modelExports)
    .where(
      and(eq(modelExports.artifactId, values.artifactId), eq(modelExports.format, values.format), eq(modelExports.sourceSha256, values.sourceSha256)),
    )
    .for('update');
  return { row: existing!, created: false };
}

/** An export asked for again (failed, or its job lost): queued once more, its error cleared. */
export async function requeueExport(tx: Tx, exportId: string, requestedBy: string): Promise<void> {
  await tx
    .update(modelExports)
    .set({ status: 'queued', error: null, requestedBy, updatedAt: new Date() })
    .where(and(eq(modelExports.id, exportId), inArray(modelExports.status, ['failed', 'queued', 'running'])));
}

/**
 * Whether pg-boss still holds a job for the export (queued, waiting to retry, or running). Owner role: an
 * export left queued or running without one (its worker died more often than the job's retries) is asked again.
 */
export async function exportJobLive(tx: Tx, queue: string, exportId: string): Promise<boolean> {
  const rows = await tx.execute(
    sql`select 1 from pgboss.job where name = ${queue} and singleton_key = ${exportId} and state in ('created', 'retry', 'active') limit 1`,
  );
  return rows.length > 0;
}

/** A model's exports, newest first, with the size of each ready one's file. */
export function listExports(tx: Tx, modelId: string) {
  return tx
    .select({
      id: modelExports.id,
      format: modelExports.format,
      status: modelExports.status,
      checkpoint: modelExports.checkpoint,
      sourcePath: modelExports.sourcePath,
      fileId: modelExports.fileId,
      path: artifactFiles.path,
      sizeBytes: artifactFiles.sizeBytes,
      error: modelExports.error,
      createdAt: modelExports.createdAt,
      updatedAt: modelExports.updatedAt,
    })
    .from(modelExports)
    .leftJoin(artifactFiles, eq(artifactFiles.id, modelExports.fileId))
    .where(eq(modelExports.artifactId, modelId))
    .orderBy(desc(modelExports.createdAt), desc(modelExports.id));
}

/** What the job needs: the export, and its model's name, family, version, prefix and fit (null: either is gone). */
export async function exportForJob(db: Db, exportId: string) {
  const [row] = await db
    .select({
      id: modelExports.id,
      artifactId: modelExports.artifactId,
      workspaceId: modelExports.workspaceId,
      status: modelExports.status,
      sourcePath: modelExports.sourcePath,
      sourceSha256: modelExports.sourceSha256,
      checkpoint: modelExports.checkpoint,
      requestedBy: modelExports.requestedBy,
      name: modelArtifacts.name,
      family: modelArtifacts.family,
      version: modelArtifacts.version,
      storagePrefix: modelArtifacts.storagePrefix,
      compatibility: modelArtifacts.compatibility,
    })
    .from(modelExports)
    .innerJoin(modelArtifacts, eq(modelArtifacts.id, modelExports.artifactId))
    .where(eq(modelExports.id, exportId));
  return row ?? null;
}

/** Marks the export running or failed, and announces it live in the same transaction (its own, given the pool). */
export async function markExport(db: Db | Tx, exportId: string, status: 'running' | 'failed', error: string | null = null): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(modelExports).set({ status, error, updatedAt: new Date() }).where(eq(modelExports.id, exportId));
    await publishExportChange(tx, exportId);
  });
}

/**
 * Locks the model's row for the export's delivery (a purge or a prune of the same model waits, or went
 * first): the model's live state, and whether the source file is still stored. Null when the model is gone.
 */
export async function lockForDelivery(tx: Tx, artifactId: string, sourcePath: string, sourceSha256: string) {
  const [model] = await tx.select({ id: modelArtifacts.id }).from(modelArtifacts).where(eq(modelArtifacts.id, artifactId)).for('update');
  if (!model) return null;
  const [source] = await tx
    .select({ id: artifactFiles.id })
    .from(artifactFiles)
    .where(and(eq(artifactFiles.artifactId, artifactId), eq(artifactFiles.path, sourcePath), eq(artifactFiles.sha256, sourceSha256)));
  const taken = await tx.select({ path: artifactFiles.path }).from(artifactFiles).where(eq(artifactFiles.artifactId, artifactId));
  return { sourceStored: !!source, takenPaths: new Set(taken.map((t) => t.path)) };
}

/** The export's file joins the model: its row, the model's totals, and the export marked ready, in the caller's transaction. */
export async function deliverExport(
  tx: Tx,
  e: { exportId: string; artifactId: string; workspaceId: string },
  file: { path: string; storageKey: string; sizeBytes: number; sha256: string },
): Promise<string> {
  const [row] = await tx
    .insert(artifactFiles)
    .values({
      artifactId: e.artifactId,
      workspaceId: e.workspaceId,
      path: file.path,
      storageKey: file.storageKey,
      sizeBytes: file.sizeBytes,
      sha256: file.sha256,
      kind: 'export',
      contentType: 'application/octet-stream',
    })
    .returning({ id: artifactFiles.id });
  await tx
    .update(modelArtifacts)
    .set({ totalBytes: sql`${modelArtifacts.totalBytes} + ${file.sizeBytes}`, fileCount: sql`${modelArtifacts.fileCount} + 1` })
    .where(eq(modelArtifacts.id, e.artifactId));
  await tx.update(modelExports).set({ status: 'ready', fileId: row!.id, error: null, updatedAt: new Date() }).where(eq(modelExports.id, e.exportId));
  await publishExportChange(tx, e.exportId);
  return row!.id;
}
