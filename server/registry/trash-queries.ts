import { and, asc, eq, inArray, isNotNull, isNull, min, sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { modelArtifacts, trainingJobs, workspaceMembers } from '../../db/schema/index.ts';
import { myMembership, reachValues } from '../models/queries.ts';
import type { Reach } from '../workspaces/roles.ts';

/** A Postgres uuid[] literal for a `::uuid[]` placeholder (the ids are validated uuids). */
function uuidArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}

/**
 * The named models that are in the caller's workspaces (a token: its own), live or in the trash, each with
 * the caller's role there. A model of a stranger's workspace, or purged, is no row.
 */
export function modelsWithRole(tx: Tx, reach: Reach, modelIds: readonly string[]) {
  return prepared(
    tx,
    'trash:modelsWithRole',
    (b) =>
      b
        .select({
          id: modelArtifacts.id,
          workspaceId: modelArtifacts.workspaceId,
          name: modelArtifacts.name,
          deletedAt: modelArtifacts.deletedAt,
          role: workspaceMembers.role,
        })
        .from(modelArtifacts)
        .innerJoin(workspaceMembers, myMembership())
        .where(sql`${modelArtifacts.id} = any(${sql.placeholder('modelIds')}::uuid[])`),
    { modelIds: uuidArray(modelIds), ...reachValues(reach) },
  );
}

/**
 * Models already purged (their job's tombstone names them) in the caller's workspaces, with the caller's role
 * there: purging one again is a no-op, not NOT_FOUND, for someone who could have purged it.
 */
export function purgedWithRole(tx: Tx, reach: Reach, modelIds: readonly string[]) {
  const p = sql.placeholder;
  return prepared(
    tx,
    'trash:purgedWithRole',
    (b) =>
      b
        .select({ id: sql<string>`${trainingJobs.artifactId}`.as('id'), role: workspaceMembers.role })
        .from(trainingJobs)
        .innerJoin(
          workspaceMembers,
          and(
            eq(workspaceMembers.workspaceId, trainingJobs.workspaceId),
            eq(workspaceMembers.userId, p('me')),
            sql`(${p('only')}::uuid is null or ${trainingJobs.workspaceId} = ${p('only')}::uuid)`,
          ),
        )
        .where(and(sql`${trainingJobs.artifactId} = any(${p('modelIds')}::uuid[])`, isNotNull(trainingJobs.purgedAt))),
    { modelIds: uuidArray(modelIds), ...reachValues(reach) },
  );
}

/** Locks the named models that still exist (FOR UPDATE) and returns their ids: a purge cannot remove them under us. */
export async function lockModels(tx: Tx, modelIds: readonly string[]): Promise<string[]> {
  const rows = await tx
    .select({ id: modelArtifacts.id })
    .from(modelArtifacts)
    .where(inArray(modelArtifacts.id, [...modelIds]))
    .for('update');
  return rows.map((r) => r.id);
}

/** Moves the live ones of these models to the trash; returns those it moved, with their workspace and name. */
export function trash(tx: Tx, modelIds: readonly string[], userId: string) {
  return tx
    .update(modelArtifacts)
    .set({ deletedAt: sql`now()`, deletedBy: userId })
    .where(and(inArray(modelArtifacts.id, [...modelIds]), isNull(modelArtifacts.deletedAt)))
    .returning({ id: modelArtifacts.id, workspaceId: modelArtifacts.workspaceId, name: modelArtifacts.name });
}

/** When the earliest of these models went to the trash (null when none is there). */
export async function earliestDeletion(tx: Tx, modelIds: readonly string[]): Promise<Date | null> {
  const [row] = await tx
    .select({ at: min(modelArtifacts.deletedAt) })
    .from(modelArtifacts)
    .where(inArray(modelArtifacts.id, [...modelIds]));
  return row?.at ?? null;
}

/** Takes the trashed ones of these models out of the trash; returns how many. */
export async function untrash(tx: Tx, modelIds: readonly string[]): Promise<number> {
  const rows = await tx
    .update(modelArtifacts)
    .set({ deletedAt: null, deletedBy: null })
    .where(and(inArray(modelArtifacts.id, [...modelIds]), isNotNull(modelArtifacts.deletedAt)))
    .returning({ id: modelArtifacts.id });
  return rows.length;
}

/**
 * Deletes the models' rows (files, aliases, share links and download records go with them by cascade);
 * returns what the purge needs of each: its job (for the tombstone) and its storage prefix. Owner connection.
 */
export function deleteModels(tx: Tx, modelIds: readonly string[]) {
  return tx
    .delete(modelArtifacts)
    .where(inArray(modelArtifacts.id, [...modelIds]))
    .returning({ id: modelArtifacts.id, jobId: modelArtifacts.jobId, storagePrefix: modelArtifacts.storagePrefix });
}

/**
 * The jobs' tombstones: their model was purged. artifact_id stays set, so neither the sweep nor a late
 * duplicate ingest delivers them again, and jobs.retryIngest refuses them.
 */
export async function setTombstones(tx: Tx, jobIds: readonly string[]): Promise<void> {
  await tx
    .update(trainingJobs)
    .set({ purgedAt: sql`now()`, updatedAt: sql`now()` })
    .where(inArray(trainingJobs.id, [...jobIds]));
}

/**
 * Up to `limit` models in the trash for longer than `days`, oldest first, locked for this transaction;
 * rows another purge holds are skipped (it has them). Read through model_artifacts_purge_idx.
 */
export async function expiredTrash(tx: Tx, days: number, limit: number): Promise<string[]> {
  const rows = await tx
    .select({ id: modelArtifacts.id })
    .from(modelArtifacts)
    .where(and(isNotNull(modelArtifacts.deletedAt), sql`${modelArtifacts.deletedAt} <= now() - ${days}::double precision * interval '1 day'`))
    .orderBy(asc(modelArtifacts.deletedAt))
    .limit(limit)
    .for('update', { skipLocked: true });
  return rows.map((r) => r.id);
}

/** Leaves app_user for the rest of `tx`: notifications, the purge and pg-boss's tables are the owner's. */
export async function leaveUserRole(tx: Tx): Promise<void> {
  await tx.execute(sql`reset role`);
}
