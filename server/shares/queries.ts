import { and, asc, count, eq, gt, isNull } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { artifactFiles, modelArtifacts, modelShares } from '../../db/schema/index.ts';
import { cardColumns, fileColumns } from '../models/queries.ts';

export async function insertShare(
  tx: Tx,
  values: { artifactId: string; workspaceId: string; tokenHash: string; createdBy: string; expiresAt: Date },
): Promise<string> {
  const [row] = await tx.insert(modelShares).values(values).returning({ id: modelShares.id });
  return row!.id;
}

/** Revokes the model's live share links; how many. */
export async function revokeShares(tx: Tx, artifactId: string): Promise<number> {
  const rows = await tx
    .update(modelShares)
    .set({ revokedAt: new Date() })
    .where(and(eq(modelShares.artifactId, artifactId), isNull(modelShares.revokedAt)))
    .returning({ id: modelShares.id });
  return rows.length;
}

/**
 * A share link that is live at `now` (not revoked, not expired; its model still there, or the row would
 * have gone with it, and not in the trash), by its token's hash or its id. Owner connection: the caller is
 * anyone with the link. A model's trip to the trash leaves its link alone: a restore brings it back.
 */
export async function liveShare(db: Db | Tx, by: { tokenHash: string } | { id: string }, now: Date) {
  const [row] = await db
    .select({ id: modelShares.id, artifactId: modelShares.artifactId, expiresAt: modelShares.expiresAt })
    .from(modelShares)
    .innerJoin(modelArtifacts, and(eq(modelArtifacts.id, modelShares.artifactId), isNull(modelArtifacts.deletedAt)))
    .where(
      and(
        'tokenHash' in by ? eq(modelShares.tokenHash, by.tokenHash) : eq(modelShares.id, by.id),
        isNull(modelShares.revokedAt),
        gt(modelShares.expiresAt, now),
      ),
    );
  return row ?? null;
}

/** What the public page shows of a model: the model alone, nothing else of its workspace (no dataset, job or people). */
export async function sharedModel(db: Db | Tx, artifactId: string) {
  const [row] = await db
    .select({
      id: modelArtifacts.id,
      // name and mainCheckpoint come with cardColumns.
      createdAt: modelArtifacts.createdAt,
      qualityScore: modelArtifacts.qualityScore,
      convergenceQuality: modelArtifacts.convergence,
      totalCost: modelArtifacts.totalCost,
      totalBytes: modelArtifacts.totalBytes,
      ...cardColumns,
    })
    .from(modelArtifacts)
    .where(and(eq(modelArtifacts.id, artifactId), isNull(modelArtifacts.deletedAt)));
  return row ?? null;
}

/** The stored files of a share link's model, in path order (the service applies a promoted checkpoint: `asDelivered`). */
export function sharedFiles(db: Db | Tx, artifactId: string) {
  return db.select(fileColumns).from(artifactFiles).where(eq(artifactFiles.artifactId, artifactId)).orderBy(asc(artifactFiles.path));
}

/** Whether an object stored under `key` is a file of the share's model (not in the trash). */
export async function shareHoldsObject(db: Db, artifactId: string, key: string): Promise<boolean> {
  const [row] = await db
    .select({ n: count() })
    .from(artifactFiles)
    .innerJoin(modelArtifacts, and(eq(modelArtifacts.id, artifactFiles.artifactId), isNull(modelArtifacts.deletedAt)))
    .where(and(eq(artifactFiles.artifactId, artifactId), eq(artifactFiles.storageKey, key)));
  return (row?.n ?? 0) > 0;
}
