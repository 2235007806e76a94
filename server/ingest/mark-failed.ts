import type { Deps } from '../deps.ts';
import { notify } from '../notifications/service.ts';
import * as q from './queries.ts';

/**
 * The one way an ingest ends in failure: the job says "failed" with a readable error and its workspace's
 * members are told, in one transaction, unless a concurrent attempt delivered the model meanwhile (then nothing
 * changes and this returns false).
 */
export async function markIngestFailed(
  deps: Pick<Deps, 'database' | 'boss' | 'env' | 'now'>,
  job: { id: string; workspaceId: string; name: string },
  message: string,
): Promise<boolean> {
  return deps.database.db.transaction(async (tx) => {
    if (!(await q.markIngestFailed(tx, job.id, message))) return false;
    await notify(deps, tx, { kind: 'ingest.failed', workspaceId: job.workspaceId, jobId: job.id, jobName: job.name, error: message });
    return true;
  });
}
