import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { artifactFiles, modelArtifacts, workspaceMembers, workspaces } from '../../db/schema/index.ts';
import { fileColumns } from '../models/queries.ts';
import type { Reach } from '../workspaces/roles.ts';

/**
 * The SQL of checkpoints kept by quality (server/registry/checkpoints.ts): the model state pruning and
 * promotion act on, and the workspace's retention setting.
 */

type PrunedCheckpoint = (typeof modelArtifacts.$inferSelect)['prunedCheckpoints'][number];

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

/**
 * Every stored file of a model as stored (no promotion view), in path order, with no reach filter (the
 * caller's transaction decides: row-level security, or the owner's connection of a job): what pruning
 * deletes, promotion checks, an export starts from and the model card lists.
 */
export function storedFiles(db: Db | Tx, modelId: string) {
  return db
    .select({ ...fileColumns, sourcePath: artifactFiles.sourcePath })
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

/** The workspace's checkpoint retention, as stored (`all`, `best`, `best+final`, `'3'`). Owner connection (the ingest). */
export async function keepCheckpointsOf(db: Db | Tx, workspaceId: string): Promise<string> {
  return (await settingsOf(db, workspaceId)).keepCheckpoints;
}

/** The workspace's ingest settings as stored. */
export async function settingsOf(db: Db | Tx, workspaceId: string): Promise<{ keepCheckpoints: string; includeSkipped: boolean }> {
  const [row] = await db
    .select({ keepCheckpoints: workspaces.keepCheckpoints, includeSkipped: workspaces.includeSkipped })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  return row ?? { keepCheckpoints: 'all', includeSkipped: false };
}

export async function setSettings(tx: Tx, workspaceId: string, settings: { keepCheckpoints?: string; includeSkipped?: boolean }): Promise<void> {
  await tx.update(workspaces).set(settings).where(eq(workspaces.id, workspaceId));
}
