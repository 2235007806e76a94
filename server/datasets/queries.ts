import { and, desc, eq } from 'drizzle-orm';
import type { Tx } from '../../db/client.ts';
import { datasets } from '../../db/schema/index.ts';

/** Inserts a dataset of `workspaceId`, made by `createdBy`; returns its id. */
export async function insertDataset(
  tx: Tx,
  values: { workspaceId: string; createdBy: string; name: string; format: string | null; rowCount: number | null },
): Promise<string> {
  const [row] = await tx.insert(datasets).values(values).returning({ id: datasets.id });
  return row!.id;
}

/** The workspace's datasets, newest first. */
export function listDatasets(tx: Tx, workspaceId: string) {
  return tx
    .select({ id: datasets.id, name: datasets.name, format: datasets.format, rowCount: datasets.rowCount, createdAt: datasets.createdAt })
    .from(datasets)
    .where(eq(datasets.workspaceId, workspaceId))
    .orderBy(desc(datasets.createdAt));
}

/** The dataset's id when it belongs to `workspaceId`, else null. */
export async function workspaceDatasetId(tx: Tx, workspaceId: string, datasetId: string): Promise<string | null> {
  const [row] = await tx
    .select({ id: datasets.id })
    .from(datasets)
    .where(and(eq(datasets.id, datasetId), eq(datasets.workspaceId, workspaceId)));
  return row?.id ?? null;
}
