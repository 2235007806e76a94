import type { Deps } from '../deps.ts';
import { type Actor, targetWorkspace } from '../workspaces/roles.ts';
import { inWorkspace } from '../workspaces/service.ts';
import * as q from './queries.ts';

export interface CreateDatasetInput {
  workspaceId?: string | undefined;
  name: string;
  format?: string | undefined;
  rowCount?: number | undefined;
}

/** Records a dataset the workspace trains on (members and up); the data itself lives with the trainer. */
export async function createDataset(deps: Deps, actor: Actor, input: CreateDatasetInput): Promise<{ id: string }> {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const id = await inWorkspace(deps, actor, workspaceId, 'write', (tx) =>
    q.insertDataset(tx, { workspaceId, createdBy: actor.userId, name: input.name, format: input.format ?? null, rowCount: input.rowCount ?? null }),
  );
  return { id };
}

/** The workspace's datasets, newest first. */
export function listDatasets(deps: Deps, actor: Actor, input: { workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  return inWorkspace(deps, actor, workspaceId, 'read', (tx) => q.listDatasets(tx, workspaceId));
}
