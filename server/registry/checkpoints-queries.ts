import { and, asc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { type Db, prepared, type Tx } from '../../db/client.ts';
import { artifactFiles, modelArtifacts, workspaceMembers, workspaces } from '../../db/schema/index.ts';
import type { Reach } from '../workspaces/roles.ts';

/**
 * The SQL of checkpoints kept by quality (server/registry/checkpoints.ts): the delivery view of a promoted
 * checkpoint, the model state pruning and promotion act on, and the workspace's retention setting.
 */

type PrunedCheckpoint = (typeof modelArtifacts.$inferSelect)['prunedCheckpoints'][number];

/** The same-named file inside the promoted checkpoint folder, for a top-level adapter file (see `deliveredFiles`). */
const promoted = alias(artifactFiles, 'promoted');

/**
 * What a delivery (members' and share downloads, bundles, file lists) reads of each file. A promoted
 * checkpoint (`model_artifacts.main_checkpoint`) is a view, not a copy: each TOP-LEVEL file of kind
 * adapter_weights or adapter_config is served with the storage key, size, hash and type of the same-named
 * file in that checkpoint folder, under its own path and id. Every other file, and a top-level adapter
 * file the checkpoint has no twin of, is served as stored.
 */
const deliveredColumns = {
  id: artifactFiles.id,
  path: artifactFiles.path,
  sizeBytes: sql<number>`coalesce(${promoted.sizeBytes}, ${artifactFiles.sizeBytes})`.mapWith(artifactFiles.sizeBytes),
  sha256: sql<string>`coalesce(${promoted.sha256}, ${artifactFiles.sha256})`,
  kind: artifactFiles.kind,
  contentType: sql<string>`coalesce(${promoted.contentType}, ${artifactFiles.contentType})`,
  storageKey: sql<string>`coalesce(${promoted.storageKey}, ${artifactFiles.storageKey})`,
};

/**
 * The delivery listing of the files `where` selects (in path order), with a promoted checkpoint's adapter in
 * place of the run's own: the one statement models/queries.ts `listFiles` and shares/queries.ts
 * `sharedFiles` both build on. The checkpoint's twin is found through artifact_files' (artifact_id, path) key.
 */
export function deliveredFiles(db: Db | Tx, where: SQL | undefined) {
  return db
    .select(deliveredColumns)
    .from(artifactFiles)
    .innerJoin(modelArtifacts, eq(modelArtifacts.id, artifactFiles.artifactId))
    .leftJoin(
      promoted,
      and(
        eq(promoted.artifactId, artifactFiles.artifactId),
        sql`${modelArtifacts.mainCheckpoint} is not null`,
        inArray(artifactFiles.kind, ['adapter_weights', 'adapter_config']),
        sql`strpos(${artifactFiles.path}, '/') = 0`,
        sql`${promoted.path} = ${modelArtifacts.mainCheckpoint} || '/' || ${artifactFiles.path}`,
      ),
    )
    .where(where)
    .orderBy(asc(artifactFiles.path));
}

/**
 * The caller's role in a live model's workspace (null: not theirs, out of their token's reach, or in the
 * trash). Read without a lock, so a viewer is told FORBIDDEN rather than not finding a row they may not lock.
 */
export async function modelRole(tx: Tx, reach: Reach, modelId: string) {
  const [row] = await tx
    .select({ role: workspaceMembers.role, workspaceId: modelArtifacts.workspaceId })
    .from(modelArtifacts)
    .innerJoin(
      workspaceMembers,
      and(
        eq(workspaceMembers.workspaceId, modelArtifacts.workspaceId),
        eq(workspaceMembers.userId, reach.userId),
        reach.token ? eq(modelArtifacts.workspaceId, reach.token.workspaceId) : undefined,
      ),
    )
    .where(and(eq(modelArtifacts.id, modelId), isNull(modelArtifacts.deletedAt)));
  return row ?? null;
}

/**
 * The checkpoint state of a live model, its row locked until the transaction ends: two prunes, or a prune
 * and a promotion, of one model take turns, and each reads the files the other left.
 */
export async function lockCheckpointState(tx: Tx, modelId: string) {
  const [row] = await tx
    .select({
      mainCheckpoint: modelArtifacts.mainCheckpoint,
      prunedCheckpoints: modelArtifacts.prunedCheckpoints,
      bestCheckpoint: modelArtifacts.bestCheckpoint,
    })
    .from(modelArtifacts)
    .where(and(eq(modelArtifacts.id, modelId), isNull(modelArtifacts.deletedAt)))
    .for('update');
  return row ?? null;
}

/** Every stored file of a model as stored (no promotion view): what pruning deletes and promotion checks. */
export function storedFiles(tx: Tx, modelId: string) {
  return tx
    .select({
      id: artifactFiles.id,
      path: artifactFiles.path,
      kind: artifactFiles.kind,
      size: artifactFiles.sizeBytes,
      storageKey: artifactFiles.storageKey,
    })
    .from(artifactFiles)
    .where(eq(artifactFiles.artifactId, modelId))
    .orderBy(asc(artifactFiles.path));
}

/** Deletes the pruned files' rows and records what went (the objects follow by the purge job). */
export async function recordPruned(
  tx: Tx,
  modelId: string,
  pruned: { fileIds: string[]; bytes: number; entries: PrunedCheckpoint[] },
): Promise<void> {
  await tx.delete(artifactFiles).where(and(eq(artifactFiles.artifactId, modelId), inArray(artifactFiles.id, pruned.fileIds)));
  await tx
    .update(modelArtifacts)
    .set({
      totalBytes: sql`${modelArtifacts.totalBytes} - ${pruned.bytes}`,
      fileCount: sql`${modelArtifacts.fileCount} - ${pruned.fileIds.length}`,
      prunedCheckpoints: sql`${modelArtifacts.prunedCheckpoints} || ${JSON.stringify(pruned.entries)}::jsonb`,
      prunedBytes: sql`${modelArtifacts.prunedBytes} + ${pruned.bytes}`,
    })
    .where(eq(modelArtifacts.id, modelId));
}

export async function setMainCheckpoint(tx: Tx, modelId: string, checkpoint: string | null): Promise<void> {
  await tx.update(modelArtifacts).set({ mainCheckpoint: checkpoint }).where(eq(modelArtifacts.id, modelId));
}

/**
 * Leaves the restricted role for the rest of the transaction: pg-boss's tables (the purge job's enqueue,
 * in the same transaction as the rows' delete) are not app_user's.
 */
export async function leaveUserRole(tx: Tx): Promise<void> {
  await tx.execute(sql`reset role`);
}

/** What models.get shows of a model's checkpoints beyond `best_checkpoint` (row-level security decides who sees it). */
export async function checkpointColumns(tx: Tx, modelId: string) {
  const [row] = await prepared(
    tx,
    'checkpointColumns',
    (b) =>
      b
        .select({
          mainCheckpoint: modelArtifacts.mainCheckpoint,
          prunedCheckpoints: modelArtifacts.prunedCheckpoints,
          prunedBytes: modelArtifacts.prunedBytes,
        })
        .from(modelArtifacts)
        .where(eq(modelArtifacts.id, sql.placeholder('modelId'))),
    { modelId },
  );
  return row ?? null;
}

/** The workspace's checkpoint retention, as stored (`all`, `best`, `best+final`, `'3'`). Owner connection (the ingest). */
export async function keepCheckpointsOf(db: Db | Tx, workspaceId: string): Promise<string> {
  const [row] = await db.select({ keep: workspaces.keepCheckpoints }).from(workspaces).where(eq(workspaces.id, workspaceId));
  return row?.keep ?? 'all';
}

export async function setKeepCheckpoints(tx: Tx, workspaceId: string, keep: string): Promise<void> {
  await tx.update(workspaces).set({ keepCheckpoints: keep }).where(eq(workspaces.id, workspaceId));
}
