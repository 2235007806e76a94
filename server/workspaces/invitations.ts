import { sql } from 'drizzle-orm';
import { generateToken, hashToken } from '../auth/tokens.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { notify } from '../notifications/service.ts';
import * as q from './queries.ts';
import type { Actor, Role } from './roles.ts';
import { assertMayGrant, inWorkspace } from './service.ts';

/**
 * Invitations to a workspace: a link for one email address, valid a week, single use, accepted only by the
 * signed-in user with that address. Only the token's hash is stored.
 */

/** Invitations last a week. */
const INVITE_LIFETIME_MS = 7 * 24 * 3600 * 1000;
const INVITE_TOKEN_PREFIX = 'lwi_';

/** The pending invitations of a workspace (admins). */
export async function listInvites(deps: Deps, actor: Actor, workspaceId: string) {
  const rows = await inWorkspace(deps, actor, workspaceId, 'admin', (tx) => q.pendingInvites(tx, workspaceId, new Date(deps.now())));
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    role: r.role,
    expiresAt: r.expiresAt.toISOString(),
    createdAt: r.createdAt.toISOString(),
    invitedBy: r.invitedByEmail ? { name: r.invitedByName ?? '', email: r.invitedByEmail } : null,
  }));
}

export async function revokeInvite(deps: Deps, actor: Actor, workspaceId: string, inviteId: string) {
  const done = await inWorkspace(deps, actor, workspaceId, 'admin', (tx) => q.revokeInvite(tx, workspaceId, inviteId));
  if (!done) throw ERRORS.notFound('Invitation');
  return { id: inviteId };
}

/**
 * An invitation link for one email address: valid 7 days, single use, accepted only by the signed-in
 * user with that email. Only its hash is stored; a new invitation to the same address replaces the old.
 * When the person already has an account, they are notified too.
 */
export async function inviteMember(deps: Deps, actor: Actor, input: { workspaceId: string; email: string; role: Role }) {
  const email = input.email.trim().toLowerCase();
  const token = generateToken(INVITE_TOKEN_PREFIX);
  const expiresAt = new Date(deps.now() + INVITE_LIFETIME_MS);
  const id = await inWorkspace(deps, actor, input.workspaceId, 'admin', async (tx, role) => {
    assertMayGrant(role, input.role);
    if (await q.isPersonal(tx, input.workspaceId)) {
      throw ERRORS.conflict('A personal workspace cannot be shared; create a team workspace and invite people there.');
    }
    if (await q.isMemberByEmail(tx, input.workspaceId, email)) throw ERRORS.conflict(`${email} is already a member of this workspace.`);
    await q.revokePendingInvites(tx, input.workspaceId, email);
    const inviteId = await q.insertInvite(tx, {
      workspaceId: input.workspaceId,
      email,
      role: input.role,
      tokenHash: hashToken(token),
      invitedBy: actor.userId,
      expiresAt,
    });
    const workspace = await q.getWorkspace(tx, actor, input.workspaceId);
    // The invitee is nobody this caller may see yet: look them up, and notify them, as the service.
    await tx.execute(sql`reset role`);
    const invitee = await q.userIdByEmail(tx, email);
    if (invitee) {
      await notify(deps, tx, {
        kind: 'workspace.invited',
        userId: invitee,
        workspaceName: workspace?.name ?? 'a workspace',
        role: input.role,
        link: `/invite/${token}`,
      });
    }
    return inviteId;
  });
  return { id, token, url: `${deps.env.publicUrl}/invite/${token}`, expiresAt: expiresAt.toISOString() };
}

type InviteStatus = 'pending' | 'accepted' | 'expired' | 'revoked';

function inviteStatus(invite: { acceptedAt: Date | null; revokedAt: Date | null; expiresAt: Date }, nowMs: number): InviteStatus {
  if (invite.acceptedAt) return 'accepted';
  if (invite.revokedAt) return 'revoked';
  if (invite.expiresAt.getTime() <= nowMs) return 'expired';
  return 'pending';
}

/** What an invitation link offers, for its page; anyone holding the link may see it. */
export async function previewInvite(deps: Deps, token: string) {
  const invite = token.startsWith(INVITE_TOKEN_PREFIX) ? await q.findInvite(deps.database.db, hashToken(token)) : null;
  if (!invite) throw ERRORS.notFound('Invitation');
  return {
    workspaceName: invite.workspaceName,
    role: invite.role,
    email: invite.email,
    expiresAt: invite.expiresAt.toISOString(),
    status: inviteStatus(invite, deps.now()),
  };
}

const INVITE_CONFLICT: Record<Exclude<InviteStatus, 'pending'>, string> = {
  accepted: 'This invitation has already been used.',
  revoked: 'This invitation was withdrawn.',
  expired: 'This invitation has expired; ask for a new one.',
};

/** Joins the workspace an invitation names, as its role; the invitation is used up in the same transaction. */
export async function acceptInvite(deps: Deps, actor: Actor & { email: string }, token: string) {
  // As for workspaces.create: a token acts in its own workspace, and joining another is the person's own act.
  if (actor.token) throw ERRORS.forbidden('Accept an invitation signed in to the dashboard; an API token acts in its own workspace only.');
  if (!token.startsWith(INVITE_TOKEN_PREFIX)) throw ERRORS.notFound('Invitation');
  // Owner connection: the caller is not a member yet; every rule is checked here, on the locked invitation.
  return deps.database.db.transaction(async (tx) => {
    const invite = await q.findInvite(tx, hashToken(token), true);
    if (!invite) throw ERRORS.notFound('Invitation');
    const status = inviteStatus(invite, deps.now());
    if (status !== 'pending') throw ERRORS.conflict(INVITE_CONFLICT[status]);
    if (invite.email !== actor.email.trim().toLowerCase()) {
      throw ERRORS.conflict('This invitation is for another email address; sign in with that address to accept it.');
    }
    if (!(await q.addMember(tx, invite.workspaceId, actor.userId, invite.role))) throw ERRORS.conflict('You are already a member of this workspace.');
    await q.markInviteAccepted(tx, invite.id, actor.userId);
    return { workspaceId: invite.workspaceId, role: invite.role };
  });
}
