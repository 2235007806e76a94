import { and, asc, count, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { type Db, prepared, type Tx } from '../../db/client.ts';
import {
  apiTokens,
  artifactFiles,
  modelArtifacts,
  sessions,
  trainingJobs,
  users,
  workspaceInvites,
  workspaceMembers,
  workspaces,
} from '../../db/schema/index.ts';
import type { Reach, Role } from './roles.ts';

/**
 * The caller's stored role in a workspace, or null when they are not a member (or, for a token, it is
 * not the token's workspace: row-level security hides every other). Read in the request's own
 * transaction every time: membership and role are never cached.
 */
export async function memberRole(tx: Tx, userId: string, workspaceId: string): Promise<Role | null> {
  const [row] = await prepared(
    tx,
    'memberRole',
    (b) =>
      b
        .select({ role: workspaceMembers.role })
        .from(workspaceMembers)
        .where(and(eq(workspaceMembers.workspaceId, sql.placeholder('workspaceId')), eq(workspaceMembers.userId, sql.placeholder('userId')))),
    { workspaceId, userId },
  );
  return row?.role ?? null;
}

/** The user's personal workspace, made (with its owner) if it does not exist yet; returns its id. Owner connection. */
export async function ensurePersonalWorkspace(db: Db, user: { id: string; name: string }, slug: string): Promise<string> {
  return db.transaction(async (tx) => {
    const [made] = await tx
      .insert(workspaces)
      .values({ name: user.name, slug, personalUserId: user.id })
      .onConflictDoNothing({ target: workspaces.personalUserId })
      .returning({ id: workspaces.id });
    const id = made?.id ?? (await tx.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.personalUserId, user.id)))[0]!.id;
    await tx.insert(workspaceMembers).values({ workspaceId: id, userId: user.id, role: 'owner' }).onConflictDoNothing();
    return id;
  });
}

export async function personalWorkspaceId(db: Db, userId: string): Promise<string | null> {
  const [row] = await db.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.personalUserId, userId));
  return row?.id ?? null;
}

const memberCount = sql<number>`(select count(*)::int from ${workspaceMembers} c where c.workspace_id = ${workspaces.id})`;

/** What workspaces.list and workspaces.get show of a workspace, with the caller's role in it. */
const workspaceColumns = {
  id: workspaces.id,
  name: workspaces.name,
  slug: workspaces.slug,
  personal: workspaces.personal,
  role: workspaceMembers.role,
  memberCount,
  createdAt: workspaces.createdAt,
};

/** The workspace's own row joined to the caller's membership; a token reaches only its own workspace. */
function membership(reach: Reach) {
  return and(
    eq(workspaceMembers.workspaceId, workspaces.id),
    eq(workspaceMembers.userId, reach.userId),
    reach.token ? eq(workspaces.id, reach.token.workspaceId) : undefined,
  );
}

/** The caller's workspaces with their role: personal first, then by name. */
export function listWorkspaces(tx: Tx, reach: Reach) {
  return tx
    .select(workspaceColumns)
    .from(workspaces)
    .innerJoin(workspaceMembers, membership(reach))
    .orderBy(desc(workspaces.personal), asc(sql`lower(${workspaces.name})`), asc(workspaces.id));
}

export async function getWorkspace(tx: Tx, reach: Reach, workspaceId: string) {
  const [row] = await tx
    .select({ ...workspaceColumns, keepCheckpoints: workspaces.keepCheckpoints, includeSkipped: workspaces.includeSkipped })
    .from(workspaces)
    .innerJoin(workspaceMembers, membership(reach))
    .where(eq(workspaces.id, workspaceId));
  return row ?? null;
}

export async function insertWorkspace(tx: Tx, values: { name: string; slug: string; ownerId: string }): Promise<string> {
  const [row] = await tx.insert(workspaces).values({ name: values.name, slug: values.slug }).returning({ id: workspaces.id });
  await tx.insert(workspaceMembers).values({ workspaceId: row!.id, userId: values.ownerId, role: 'owner' });
  return row!.id;
}

export async function renameWorkspace(tx: Tx, workspaceId: string, name: string): Promise<void> {
  await tx.update(workspaces).set({ name }).where(eq(workspaces.id, workspaceId));
}

/** Whether the workspace is someone's personal one. */
export async function isPersonal(tx: Tx, workspaceId: string): Promise<boolean> {
  const [row] = await tx.select({ personal: workspaces.personal }).from(workspaces).where(eq(workspaces.id, workspaceId));
  return row?.personal ?? false;
}

export async function jobIds(tx: Tx, workspaceId: string): Promise<string[]> {
  const rows = await tx.select({ id: trainingJobs.id }).from(trainingJobs).where(eq(trainingJobs.workspaceId, workspaceId));
  return rows.map((r) => r.id);
}

/**
 * Deletes a workspace and, by cascade, everything it owns; returns the storage prefixes of its models
 * (read first), for the object purge.
 */
export async function deleteWorkspace(tx: Tx, workspaceId: string): Promise<string[]> {
  const models = await tx.select({ prefix: modelArtifacts.storagePrefix }).from(modelArtifacts).where(eq(modelArtifacts.workspaceId, workspaceId));
  await tx.delete(workspaces).where(eq(workspaces.id, workspaceId));
  return models.map((m) => m.prefix);
}

/** How many owners the workspace has; rows locked, so two demotions cannot both pass the last-owner check. */
export async function lockOwners(tx: Tx, workspaceId: string): Promise<number> {
  const rows = await tx
    .select({ userId: workspaceMembers.userId })
    .from(workspaceMembers)
    .where(and(eq(workspaceMembers.workspaceId, workspaceId), eq(workspaceMembers.role, 'owner')))
    .for('update');
  return rows.length;
}

export function listMembers(tx: Tx, workspaceId: string) {
  return tx
    .select({ userId: workspaceMembers.userId, email: users.email, name: users.name, role: workspaceMembers.role, addedAt: workspaceMembers.addedAt })
    .from(workspaceMembers)
    .innerJoin(users, eq(users.id, workspaceMembers.userId))
    .where(eq(workspaceMembers.workspaceId, workspaceId))
    .orderBy(asc(workspaceMembers.addedAt), asc(workspaceMembers.userId));
}

/** A member's role, the row locked for the rest of `tx`; null when they are not a member. */
export async function lockMember(tx: Tx, workspaceId: string, userId: string): Promise<Role | null> {
  const [row] = await tx
    .select({ role: workspaceMembers.role })
    .from(workspaceMembers)
    .where(and(eq(workspaceMembers.workspaceId, workspaceId), eq(workspaceMembers.userId, userId)))
    .for('update');
  return row?.role ?? null;
}

export async function isMemberByEmail(tx: Tx, workspaceId: string, email: string): Promise<boolean> {
  const [row] = await tx
    .select({ n: count() })
    .from(workspaceMembers)
    .innerJoin(users, eq(users.id, workspaceMembers.userId))
    .where(and(eq(workspaceMembers.workspaceId, workspaceId), sql`lower(${users.email}) = ${email}`));
  return (row?.n ?? 0) > 0;
}

export async function setRole(tx: Tx, workspaceId: string, userId: string, role: Role): Promise<void> {
  await tx
    .update(workspaceMembers)
    .set({ role })
    .where(and(eq(workspaceMembers.workspaceId, workspaceId), eq(workspaceMembers.userId, userId)));
}

export async function removeMember(tx: Tx, workspaceId: string, userId: string): Promise<void> {
  await tx.delete(workspaceMembers).where(and(eq(workspaceMembers.workspaceId, workspaceId), eq(workspaceMembers.userId, userId)));
}

export async function addMember(tx: Tx, workspaceId: string, userId: string, role: Role): Promise<boolean> {
  const rows = await tx
    .insert(workspaceMembers)
    .values({ workspaceId, userId, role })
    .onConflictDoNothing()
    .returning({ role: workspaceMembers.role });
  return rows.length > 0;
}

/**
 * Revokes the member's live API tokens of this workspace (they act as their creator, who is leaving);
 * returns their hashes so every process's identity cache can drop them.
 */
export async function revokeMemberTokens(tx: Tx, workspaceId: string, userId: string): Promise<string[]> {
  const rows = await tx
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.workspaceId, workspaceId), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt)))
    .returning({ tokenHash: apiTokens.tokenHash });
  return rows.map((r) => r.tokenHash);
}

/** Every live token of the workspace (it is being deleted); their hashes. */
export async function workspaceTokenHashes(tx: Tx, workspaceId: string): Promise<string[]> {
  const rows = await tx
    .select({ tokenHash: apiTokens.tokenHash })
    .from(apiTokens)
    .where(and(eq(apiTokens.workspaceId, workspaceId), isNull(apiTokens.revokedAt)));
  return rows.map((r) => r.tokenHash);
}

// ---- invitations

/** Voids the pending invitations of this email (a new one replaces them). */
export async function revokePendingInvites(tx: Tx, workspaceId: string, email: string): Promise<void> {
  await tx
    .update(workspaceInvites)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(workspaceInvites.workspaceId, workspaceId),
        eq(workspaceInvites.email, email),
        isNull(workspaceInvites.acceptedAt),
        isNull(workspaceInvites.revokedAt),
      ),
    );
}

export async function insertInvite(
  tx: Tx,
  values: { workspaceId: string; email: string; role: Role; tokenHash: string; invitedBy: string; expiresAt: Date },
): Promise<string> {
  const [row] = await tx.insert(workspaceInvites).values(values).returning({ id: workspaceInvites.id });
  return row!.id;
}

/** Pending (not accepted, not revoked, not expired at `now`) invitations, newest first. */
export function pendingInvites(tx: Tx, workspaceId: string, now: Date) {
  return tx
    .select({
      id: workspaceInvites.id,
      email: workspaceInvites.email,
      role: workspaceInvites.role,
      expiresAt: workspaceInvites.expiresAt,
      createdAt: workspaceInvites.createdAt,
      invitedByName: users.name,
      invitedByEmail: users.email,
    })
    .from(workspaceInvites)
    .leftJoin(users, eq(users.id, workspaceInvites.invitedBy))
    .where(
      and(
        eq(workspaceInvites.workspaceId, workspaceId),
        isNull(workspaceInvites.acceptedAt),
        isNull(workspaceInvites.revokedAt),
        gt(workspaceInvites.expiresAt, now),
      ),
    )
    .orderBy(desc(workspaceInvites.createdAt));
}

export async function revokeInvite(tx: Tx, workspaceId: string, inviteId: string): Promise<boolean> {
  const rows = await tx
    .update(workspaceInvites)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(workspaceInvites.id, inviteId),
        eq(workspaceInvites.workspaceId, workspaceId),
        isNull(workspaceInvites.acceptedAt),
        isNull(workspaceInvites.revokedAt),
      ),
    )
    .returning({ id: workspaceInvites.id });
  return rows.length > 0;
}

/** An invitation by its token's hash with its workspace's name (owner connection: the invitee is no member yet). */
export async function findInvite(db: Db | Tx, tokenHash: string, lock = false) {
  const query = db
    .select({
      id: workspaceInvites.id,
      workspaceId: workspaceInvites.workspaceId,
      workspaceName: workspaces.name,
      email: workspaceInvites.email,
      role: workspaceInvites.role,
      expiresAt: workspaceInvites.expiresAt,
      acceptedAt: workspaceInvites.acceptedAt,
      revokedAt: workspaceInvites.revokedAt,
    })
    .from(workspaceInvites)
    .innerJoin(workspaces, eq(workspaces.id, workspaceInvites.workspaceId))
    .where(eq(workspaceInvites.tokenHash, tokenHash));
  const [row] = await (lock ? query.for('update', { of: workspaceInvites }) : query);
  return row ?? null;
}

export async function markInviteAccepted(tx: Tx, inviteId: string, userId: string): Promise<void> {
  await tx.update(workspaceInvites).set({ acceptedAt: new Date(), acceptedBy: userId }).where(eq(workspaceInvites.id, inviteId));
}

/** A user id by email (lower-cased), looked up on the owner's connection: to notify an invitee who has an account. */
export async function userIdByEmail(tx: Tx, email: string): Promise<string | null> {
  const [row] = await tx.select({ id: users.id }).from(users).where(sql`lower(${users.email}) = ${email}`);
  return row?.id ?? null;
}

/** Whether any file stored under `key` belongs to a model the user may read (a member of its workspace; not in the trash). */
export async function userMayReadObject(db: Db, userId: string, key: string): Promise<boolean> {
  const [row] = await db
    .select({ n: count() })
    .from(artifactFiles)
    .innerJoin(workspaceMembers, and(eq(workspaceMembers.workspaceId, artifactFiles.workspaceId), eq(workspaceMembers.userId, userId)))
    // A model in the trash is read by nobody: its links stop at once, and work again if it is restored.
    .innerJoin(modelArtifacts, and(eq(modelArtifacts.id, artifactFiles.artifactId), isNull(modelArtifacts.deletedAt)))
    .where(eq(artifactFiles.storageKey, key));
  return (row?.n ?? 0) > 0;
}

/** Team workspaces the user is the only owner of (an account that runs one cannot be deleted). */
export async function solelyOwned(db: Db, userId: string): Promise<string[]> {
  const rows = await db.execute<{ name: string }>(sql`
    select w.name from ${workspaceMembers} m join ${workspaces} w on w.id = m.workspace_id
    where m.user_id = ${userId} and m.role = 'owner' and not w.personal
      and not exists (select 1 from ${workspaceMembers} o where o.workspace_id = m.workspace_id and o.role = 'owner' and o.user_id <> ${userId})
    order by w.name`);
  return [...rows].map((r) => r.name);
}

/** What goes with an account: its personal workspace's storage prefixes (models and runs), token hashes and session tokens. */
export async function accountLeftovers(db: Db, userId: string) {
  const prefixes = await db.execute<{ prefix: string }>(sql`
    select m.storage_prefix as prefix from ${modelArtifacts} m join ${workspaces} w on w.id = m.workspace_id where w.personal_user_id = ${userId}`);
  const jobs = await db.execute<{ id: string }>(sql`
    select j.id from ${trainingJobs} j join ${workspaces} w on w.id = j.workspace_id where w.personal_user_id = ${userId}`);
  const tokens = await db.select({ tokenHash: apiTokens.tokenHash }).from(apiTokens).where(eq(apiTokens.userId, userId));
  const sessionRows = await db.select({ token: sessions.token }).from(sessions).where(eq(sessions.userId, userId));
  return {
    prefixes: [...prefixes].map((r) => r.prefix),
    jobIds: [...jobs].map((r) => r.id),
    tokenHashes: tokens.map((t) => t.tokenHash),
    sessionTokens: sessionRows.map((r) => r.token),
  };
}
