import { and, desc, eq } from 'drizzle-orm';
import type { Tx } from '../../db/client.ts';
import { datasets } from '../../db/schema/index.ts';

/** Inserts a dataset row for `userId`; returns its id. */
export async function insertDataset(
  tx: Tx,
  userId: string,
  values: { name: string; format: string | null; rowCount: number | null },
): Promise<string> {
  const [row] = await tx
    .insert(datasets)
    .values({ userId, name: values.name, format: values.format, rowCount: values.rowCount })
    .returning({ id: datasets.id });
  return row!.id;
}

/** The user's datasets, newest first. */
export function listDatasets(tx: Tx, userId: string) {
  return tx
    .select({ id: datasets.id, name: datasets.name, format: datasets.format, rowCount: datasets.rowCount, createdAt: datasets.createdAt })
    .from(datasets)
    .where(eq(datasets.userId, userId))
    .orderBy(desc(datasets.createdAt));
}

/** The dataset's id when `userId` owns it, else null. */
export async function ownedDatasetId(tx: Tx, userId: string, datasetId: string): Promise<string | null> {
  const [row] = await tx
    .select({ id: datasets.id })
    .from(datasets)
    .where(and(eq(datasets.id, datasetId), eq(datasets.userId, userId)));
  return row?.id ?? null;
}
