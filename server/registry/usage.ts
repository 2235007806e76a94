/**
 * Storage usage of a workspace (workspaces.usage): what it stores, live and in the trash, in checkpoint
 * folders, by model and by family, what checkpoint pruning saved, and its quota (WORKSPACE_QUOTA_BYTES).
 * Aggregated in SQL (usage-queries.ts); the ingest checks the quota before copying (storage-room.ts).
 */
import type { Deps } from '../deps.ts';
import { memberRole } from '../workspaces/queries.ts';
import { type Actor, judge, rls, targetWorkspace } from '../workspaces/roles.ts';
import * as q from './usage-queries.ts';

/** The biggest models listed; the totals count every model. */
const TOP_MODELS = 100;
/** The biggest families listed. */
const TOP_FAMILIES = 1000;

export async function workspaceUsage(deps: Deps, actor: Actor, input: { workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const [totals, models, families] = await deps.database.asUser(rls(actor), async (tx) => {
    // The role and the sums leave together (one round trip); a stranger's request throws before anything is returned.
    const role = memberRole(tx, actor.userId, workspaceId);
    const reads = Promise.all([
      q.usageTotals(tx, workspaceId),
      q.usageModels(tx, workspaceId, TOP_MODELS),
      q.usageFamilies(tx, workspaceId, TOP_FAMILIES),
    ]);
    reads.catch(() => {});
    judge(actor, await role, 'read');
    return reads;
  });
  return {
    workspaceId,
    /** Everything stored: live models and the trash (both count against the quota). */
    totalBytes: totals.totalBytes,
    quotaBytes: deps.env.workspaceQuotaBytes,
    liveBytes: totals.liveBytes,
    trashBytes: totals.trashBytes,
    /** Of the total, the bytes inside checkpoint folders. */
    checkpointBytes: totals.checkpointBytes,
    /** Bytes never stored, or freed, by checkpoint pruning. */
    prunedBytes: totals.prunedBytes,
    models: models.map((m) => ({
      id: m.id,
      name: m.name,
      family: m.family,
      version: m.version,
      totalBytes: Number(m.totalBytes),
      checkpointBytes: m.checkpointBytes,
      deleted: m.deletedAt !== null,
    })),
    families,
  };
}
