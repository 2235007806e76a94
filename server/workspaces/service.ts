import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { REVOCATION_CHANNEL, tokenRevocationKey } from '../auth/identity-cache.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { artifactIdFor, storagePrefix } from '../ingest/artifact-id.ts';
import { enqueuePurge } from '../storage/purge-objects.job.ts';
import { notifyRevocation } from '../tokens/queries.ts';
import { workspaceSettings } from '../registry/checkpoints.ts';
import * as q from './queries.ts';
import { type Actor, effectiveRole, higherRole, judge, type Need, type Role, rls } from './roles.ts';

/** `my-team-3f9a1c2e`: the name made URL-safe, with a random suffix so two teams may share a name. */
function slugFor(name: string): string {
  const stem =
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .slice(0, 40)
      .replace(/^-+|-+$/g, '') || 'workspace';
  return `${stem}-${randomBytes(4).toString('hex')}`;
}

/**
 * The user's personal workspace id, made on first need (sign-up makes it; this also covers a user whose
 * sign-up hook did not finish). Owner connection: it runs while the caller's identity is being resolved.
 */
export async function personalWorkspace(db: Db, user: { id: string; name: string }): Promise<string> {
  return (await q.personalWorkspaceId(db, user.id)) ?? q.ensurePersonalWorkspace(db, user, slugFor(user.name));
}

/** Runs `fn` as the actor under row-level security, after checking their role in `workspaceId` meets `need`. */
export async function inWorkspace<T>(
  deps: Deps,
  actor: Actor,
  workspaceId: string,
  need: Need,
  fn: (tx: Tx, role: Role) => Promise<T>,
  options?: { relaxedCommit?: boolean },
): Promise<T> {
  return deps.database.asUser(
    rls(actor),
    async (tx) => {
      const role = judge(actor, await q.memberRole(tx, actor.userId, workspaceId), need);
      return fn(tx, role);
    },
    options,
  );
}

function shape(row: { id: string; name: string; slug: string; personal: boolean; role: Role; memberCount: number; createdAt: Date }, actor: Actor) {
  return { ...row, role: effectiveRole(actor, row.role), createdAt: row.createdAt.toISOString() };
}

export async function listWorkspaces(deps: Deps, actor: Actor) {
  const rows = await deps.database.asUser(rls(actor), (tx) => q.listWorkspaces(tx, actor));
  return rows.map((r) => shape(r, actor));
}

export async function getWorkspace(deps: Deps, actor: Actor, workspaceId: string) {
  const row = await deps.database.asUser(rls(actor), (tx) => q.getWorkspace(tx, actor, workspaceId));
  if (!row) throw ERRORS.notFound('Workspace');
  const { keepCheckpoints, includeSkipped, ...workspace } = row;
  return { ...shape(workspace, actor), settings: workspaceSettings({ keepCheckpoints, includeSkipped }) };
}

/** A team workspace with the caller as its owner. An API token acts in its own workspace only, so it makes none. */
export async function createWorkspace(deps: Deps, actor: Actor, name: string) {
  if (actor.token) throw ERRORS.forbidden('An API token acts in its own workspace only; create workspaces from the dashboard.');
  const slug = slugFor(name);
  // Owner connection: the caller is not a member of what does not exist yet.
  const id = await deps.database.db.transaction((tx) => q.insertWorkspace(tx, { name, slug, ownerId: actor.userId }));
  return { id, slug };
}

export async function renameWorkspace(deps: Deps, actor: Actor, workspaceId: string, name: string) {
  await inWorkspace(deps, actor, workspaceId, 'admin', (tx) => q.renameWorkspace(tx, workspaceId, name));
  return { id: workspaceId, name };
}

/** Sends the revocation of these tokens with the commit of `tx`; the caller drops them from this process's cache after. */
async function announceRevoked(tx: Tx, tokenHashes: string[]): Promise<string[]> {
  const keys = tokenHashes.map(tokenRevocationKey);
  for (const key of keys) await notifyRevocation(tx, REVOCATION_CHANNEL, key);
  return keys;
}

/**
 * Deletes a team workspace with everything it owns (owner only; a personal workspace stays while its
 * user does). Its stored objects are purged by background jobs enqueued in the same transaction.
 */
export async function deleteWorkspace(deps: Deps, actor: Actor, workspaceId: string) {
  const revoked = await inWorkspace(deps, actor, workspaceId, 'owner', async (tx) => {
    if (await q.isPersonal(tx, workspaceId)) throw ERRORS.conflict('A personal workspace cannot be deleted.');
    const jobIds = await q.jobIds(tx, workspaceId);
    const keys = await announceRevoked(tx, await q.workspaceTokenHashes(tx, workspaceId));
    const prefixes = new Set(await q.deleteWorkspace(tx, workspaceId));
    // Models delivered before storage keys dropped their owner keep their stored prefix (above); newer ones,
    // and the partial copies of runs not yet delivered, live under artifacts/<id>/.
    for (const jobId of jobIds) prefixes.add(storagePrefix(artifactIdFor(jobId)));
    // pg-boss's tables are not app_user's: leave the restricted role for the enqueue (same transaction).
    await tx.execute(sql`reset role`);
    await enqueuePurge(deps.boss, tx, [...prefixes]);
    return keys;
  });
  for (const key of revoked) deps.identities.revoke(key);
  return { id: workspaceId };
}

/** The last owner can neither leave nor be demoted or removed: a workspace always has someone to run it. */
async function assertNotLastOwner(tx: Tx, workspaceId: string, role: Role, what: string): Promise<void> {
  if (role === 'owner' && (await q.lockOwners(tx, workspaceId)) <= 1) {
    throw ERRORS.conflict(`${what}: this is the workspace's last owner. Make someone else an owner first, or delete the workspace.`);
  }
}

/** Takes a member out: their tokens of this workspace are revoked in the same transaction, and stop at once. */
async function takeOut(tx: Tx, workspaceId: string, userId: string): Promise<string[]> {
  const keys = await announceRevoked(tx, await q.revokeMemberTokens(tx, workspaceId, userId));
  await q.removeMember(tx, workspaceId, userId);
  return keys;
}

export async function leaveWorkspace(deps: Deps, actor: Actor, workspaceId: string) {
  const keys = await inWorkspace(deps, actor, workspaceId, 'read', async (tx) => {
    if (await q.isPersonal(tx, workspaceId)) throw ERRORS.conflict('You cannot leave your personal workspace.');
    // The caller is a member (judged above) and every statement below names them. Row-level security would let
    // a viewer neither lock their own member row (FOR UPDATE needs the admin UPDATE policy) nor revoke the tokens
    // they made as a member (WITH CHECK needs write): leaving runs as the service.
    await tx.execute(sql`reset role`);
    const role = (await q.lockMember(tx, workspaceId, actor.userId))!;
    await assertNotLastOwner(tx, workspaceId, role, 'You cannot leave');
    return takeOut(tx, workspaceId, actor.userId);
  });
  for (const key of keys) deps.identities.revoke(key);
  return { workspaceId };
}

// ---- members

export async function listMembers(deps: Deps, actor: Actor, workspaceId: string) {
  const rows = await inWorkspace(deps, actor, workspaceId, 'read', (tx) => q.listMembers(tx, workspaceId));
  return rows.map((r) => ({ ...r, addedAt: r.addedAt.toISOString() }));
}
/** Only an owner makes (or unmakes) an owner; an admin manages everyone else. */
export function assertMayGrant(actorRole: Role, role: Role): void {
  if (role === 'owner' && actorRole !== 'owner') throw ERRORS.forbidden('Only an owner can make someone an owner.');
}

export async function setMemberRole(deps: Deps, actor: Actor, input: { workspaceId: string; userId: string; role: Role }) {
  await inWorkspace(deps, actor, input.workspaceId, 'admin', async (tx, role) => {
    const current = await q.lockMember(tx, input.workspaceId, input.userId);
    if (!current) throw ERRORS.notFound('Member');
    assertMayGrant(role, input.role);
    assertMayGrant(role, current);
    if (current === input.role) return;
    if (current === 'owner') await assertNotLastOwner(tx, input.workspaceId, current, 'Cannot change this role');
    await q.setRole(tx, input.workspaceId, input.userId, input.role);
  });
  return { userId: input.userId, role: input.role };
}

export async function removeMember(deps: Deps, actor: Actor, input: { workspaceId: string; userId: string }) {
  const keys = await inWorkspace(deps, actor, input.workspaceId, 'admin', async (tx, role) => {
    const current = await q.lockMember(tx, input.workspaceId, input.userId);
    if (!current) throw ERRORS.notFound('Member');
    if (higherRole(current, role)) throw ERRORS.forbidden('Only an owner can remove an owner.');
    if (await q.isPersonal(tx, input.workspaceId)) throw ERRORS.conflict('A personal workspace keeps its owner.');
    await assertNotLastOwner(tx, input.workspaceId, current, 'Cannot remove this member');
    return takeOut(tx, input.workspaceId, input.userId);
  });
  for (const key of keys) deps.identities.revoke(key);
  return { userId: input.userId };
}
