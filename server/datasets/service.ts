import type { Deps } from '../deps.ts';
import * as q from './queries.ts';

export interface CreateDatasetInput {
  name: string;
  format?: string | undefined;
  rowCount?: number | undefined;
}

/** Records a dataset the caller trains on; the data itself lives with the trainer. */
export async function createDataset(deps: Deps, userId: string, input: CreateDatasetInput): Promise<{ id: string }> {
  const id = await deps.database.asUser(userId, (tx) =>
    q.insertDataset(tx, userId, { name: input.name, format: input.format ?? null, rowCount: input.rowCount ?? null }),
  );
  return { id };
}

/** The caller's datasets, newest first. */
export function listDatasets(deps: Deps, userId: string) {
  return deps.database.asUser(userId, (tx) => q.listDatasets(tx, userId));
}
