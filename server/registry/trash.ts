/**
 * The trash: models.delete moves models there (they leave the catalogue, and every link to them stops at
 * once: models/queries.ts, shares/queries.ts and userMayReadObject all read only live models),
 * models.restore brings them back, and after TRASH_RETENTION_DAYS the hourly trash-purge job removes them
 * for good, as models.purge does at once. Each bulk call is all or nothing over its ids.
 */
import type { PgBoss } from 'pg-boss';
import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import type { Env } from '../env.ts';
import { DAY_MS } from '../vocabulary.ts';
import { ERRORS } from '../errors.ts';
import { notify } from '../notifications/service.ts';
import { enqueuePurge } from '../storage/purge-objects.job.ts';
import { type Actor, judge, type Need, type Role, rls } from '../workspaces/roles.ts';
import * as q from './trash-queries.ts';

/**
 * Judges every named model, all or nothing: any id that is not there for the caller (not in their
 * workspaces, or purged: no row) makes the whole call NOT_FOUND, and a role too low anywhere FORBIDDEN.
 */
function judgeAll(actor: Actor, modelIds: readonly string[], found: readonly { id: string; role: Role }[], need: Need): void {
  const roles = new Map(found.map((r) => [r.id, r.role]));
  for (const id of modelIds) if (!roles.has(id)) throw ERRORS.notFound('Model');
  for (const id of modelIds) judge(actor, roles.get(id)!, need, 'Model');
}

/** When a model deleted at `deletedAt` may be purged by the retention sweep (TRASH_RETENTION_DAYS later). */
export function purgeAfter(env: Pick<Env, 'trashRetentionDays'>, deletedAt: Date): string {
  return new Date(deletedAt.getTime() + env.trashRetentionDays * DAY_MS).toISOString();
}

/**
 * Moves the models to the trash (members and up). Already there: a no-op. Each workspace's members are told
 * in the same transaction. `purgeAfter` is when the first of them may be purged (deletion + retention).
 */
export async function deleteModels(deps: Deps, actor: Actor & { name: string }, modelIds: string[]) {
  return deps.database.asUser(rls(actor), async (tx) => {
    const found = await q.modelsWithRole(tx, actor, modelIds);
    judgeAll(actor, modelIds, found, 'write');
    const moved = await q.trash(
      tx,
      found.filter((m) => m.deletedAt === null).map((m) => m.id),
      actor.userId,
    );
    const since = (await q.earliestDeletion(tx, modelIds)) ?? new Date();
    const after = purgeAfter(deps.env, since);
    if (moved.length) {
      // Notifications are written for other members too: the owner's role (app.user_id stays set).
      await q.leaveUserRole(tx);
      const byWorkspace = new Map<string, { id: string; name: string }[]>();
      for (const m of moved) byWorkspace.set(m.workspaceId, [...(byWorkspace.get(m.workspaceId) ?? []), m]);
      for (const [workspaceId, models] of byWorkspace) {
        const [modelIds, modelNames] = [models.map((m) => m.id), models.map((m) => m.name)];
        await notify(deps, tx, { kind: 'model.deleted', workspaceId, modelIds, modelNames, by: actor.name, purgeAfter: after });
      }
    }
    return { deleted: moved.length, purgeAfter: after };
  });
}

/** Takes the models out of the trash (members and up); a live one is a no-op, a purged one NOT_FOUND. */
export async function restoreModels(deps: Deps, actor: Actor, modelIds: string[]) {
  return deps.database.asUser(rls(actor), async (tx) => {
    judgeAll(actor, modelIds, await q.modelsWithRole(tx, actor, modelIds), 'write');
    // Locked (the role judged above lets the caller update them): a purge running now either finished
    // before this, and the model is gone (NOT_FOUND, nothing restored), or waits until this commits.
    if ((await q.lockModels(tx, modelIds)).length !== modelIds.length) throw ERRORS.notFound('Model');
    return { restored: await q.untrash(tx, modelIds) };
  });
}

/**
 * Purges the models now (admins and owners), whether in the trash or not. One already purged (its job's
 * tombstone names it) is a no-op for someone who could have purged it.
 */
export async function purgeNow(deps: Deps, actor: Actor, modelIds: string[]) {
  return deps.database.asUser(rls(actor), async (tx) => {
    const found = await q.modelsWithRole(tx, actor, modelIds);
    const have = new Set(found.map((m) => m.id));
    const missing = modelIds.filter((id) => !have.has(id));
    const purged = missing.length ? await q.purgedWithRole(tx, actor, missing) : [];
    judgeAll(actor, modelIds, [...found, ...purged], 'admin');
    // Rows of other tables (files, jobs) and pg-boss's: the owner's role from here, in the same transaction.
    await q.leaveUserRole(tx);
    return { purged: await purgeModels(deps.boss, tx, [...have]) };
  });
}

/**
 * The one purge, for models.purge and the trash-purge job: in `tx` (the owner's role), deletes the models'
 * rows (their files, aliases and share links by cascade), sets their jobs' tombstones, and enqueues the
 * deletion of their stored objects, which happens exactly when this commits (the durable outbox of
 * purge-objects, retried until done). Returns how many models it removed.
 */
export async function purgeModels(boss: PgBoss, tx: Tx, modelIds: readonly string[]): Promise<number> {
  if (!modelIds.length) return 0;
  const gone = await q.deleteModels(tx, modelIds);
  if (!gone.length) return 0;
  await q.setTombstones(
    tx,
    gone.map((m) => m.jobId),
  );
  await enqueuePurge(boss, tx, [...new Set(gone.map((m) => m.storagePrefix))]);
  return gone.length;
}
