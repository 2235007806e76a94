import { asc, count, desc, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { artifactFiles, modelArtifacts } from '../../db/schema/index.ts';

/**
 * The SQL of storage usage (server/registry/usage.ts) and of the ingest's quota check. Every byte count is
 * `model_artifacts.total_bytes` (what a model's stored files take) or a sum of `artifact_files.size_bytes`;
 * a model in the trash is still stored until it is purged.
 */

const bytes = (expression: ReturnType<typeof sql>) => sql<number>`coalesce(${expression}, 0)`.mapWith(Number);

/** Everything the workspace stores (live models and the trash): what its quota is measured against. Owner connection. */
export async function storedBytes(db: Db | Tx, workspaceId: string): Promise<number> {
  const [row] = await db
    .select({ total: bytes(sql`sum(${modelArtifacts.totalBytes})`) })
    .from(modelArtifacts)
    .where(eq(modelArtifacts.workspaceId, workspaceId));
  return row?.total ?? 0;
}

/** A model's bytes inside checkpoint folders (files of kind `checkpoint`), for the model row it is selected with. */
const checkpointBytesOfModel = bytes(
  sql`(select sum(${artifactFiles.sizeBytes}) from ${artifactFiles} where ${artifactFiles.artifactId} = ${modelArtifacts.id} and ${artifactFiles.kind} = 'checkpoint')`,
);

/** The workspace's totals: all stored, live, in the trash, in checkpoint folders, and never stored thanks to pruning. */
export async function usageTotals(tx: Tx, workspaceId: string) {
  const [row] = await tx
    .select({
      totalBytes: bytes(sql`sum(${modelArtifacts.totalBytes})`),
      liveBytes: bytes(sql`sum(${modelArtifacts.totalBytes}) filter (where ${modelArtifacts.deletedAt} is null)`),
      trashBytes: bytes(sql`sum(${modelArtifacts.totalBytes}) filter (where ${modelArtifacts.deletedAt} is not null)`),
      checkpointBytes: bytes(sql`sum(${checkpointBytesOfModel})`),
      prunedBytes: bytes(sql`sum(${modelArtifacts.prunedBytes})`),
    })
    .from(modelArtifacts)
    .where(eq(modelArtifacts.workspaceId, workspaceId));
  return row ?? { totalBytes: 0, liveBytes: 0, trashBytes: 0, checkpointBytes: 0, prunedBytes: 0 };
}

/** The `limit` models that take the most storage (the trash included), biggest first. */
export function usageModels(tx: Tx, workspaceId: string, limit: number) {
  return tx
    .select({
      id: modelArtifacts.id,
      name: modelArtifacts.name,
      family: modelArtifacts.family,
      version: modelArtifacts.version,
      totalBytes: modelArtifacts.totalBytes,
      checkpointBytes: checkpointBytesOfModel,
      deletedAt: modelArtifacts.deletedAt,
    })
    .from(modelArtifacts)
    .where(eq(modelArtifacts.workspaceId, workspaceId))
    .orderBy(desc(modelArtifacts.totalBytes), asc(modelArtifacts.id))
    .limit(limit);
}

/** Bytes and model counts by family (the trash included), biggest first, at most `limit` families. */
export function usageFamilies(tx: Tx, workspaceId: string, limit: number) {
  const total = bytes(sql`sum(${modelArtifacts.totalBytes})`);
  return tx
    .select({ family: modelArtifacts.family, models: count(), totalBytes: total })
    .from(modelArtifacts)
    .where(eq(modelArtifacts.workspaceId, workspaceId))
    .groupBy(modelArtifacts.family)
    .orderBy(desc(sql`sum(${modelArtifacts.totalBytes})`), asc(modelArtifacts.family))
    .limit(limit);
}
