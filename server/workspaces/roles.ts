import type { RlsActor } from '../../db/client.ts';
import { workspaceRoles } from '../../db/schema/index.ts';
import { ERRORS } from '../errors.ts';

/** Workspace roles, highest first. */
export const ROLES = workspaceRoles;
export type Role = (typeof ROLES)[number];

/** What an action needs: `read` (viewer), `write` (member), `admin`, `owner`. Mirrors app.workspaces(need) in SQL. */
export type Need = 'read' | 'write' | 'admin' | 'owner';

const ROLE_RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3, owner: 4 };
const NEED_RANK: Record<Need, number> = { read: 1, write: 2, admin: 3, owner: 4 };

/** An API token's scope: `read` may call every query and download; `write` whatever its creator's role allows. */
export type TokenScope = 'read' | 'write';

/**
 * Who is calling, as every workspace-scoped service sees it: the user, their personal workspace (the
 * default), and for an API token its one workspace and scope. Identity only: the role is read from
 * Postgres in each request's own transaction, never cached.
 */
export interface Actor {
  userId: string;
  personalWorkspaceId: string;
  token: { workspaceId: string; scope: TokenScope } | null;
}

/** What of an actor decides which records they can reach (a signed link carries no more than this). */
export type Reach = Pick<Actor, 'userId' | 'token'>;

/** How row-level security sees the actor (db/client.ts asUser). */
export function rls(actor: Reach): RlsActor {
  return { userId: actor.userId, readOnly: actor.token?.scope === 'read', workspaceId: actor.token?.workspaceId ?? null };
}

/** The role an actor acts with: a read token is capped at viewer. */
export function effectiveRole(actor: Actor, role: Role): Role {
  return actor.token?.scope === 'read' && ROLE_RANK[role] > ROLE_RANK.viewer ? 'viewer' : role;
}

export function roleAtLeast(role: Role, need: Need | Role): boolean {
  const wanted = need in NEED_RANK ? NEED_RANK[need as Need] : ROLE_RANK[need as Role];
  return ROLE_RANK[role] >= wanted;
}

export function higherRole(a: Role, b: Role): boolean {
  return ROLE_RANK[a] > ROLE_RANK[b];
}

/**
 * Judges a member's role (null: not a member, or out of the token's reach) against what the action needs:
 * a non-member is told the record does not exist (NOT_FOUND, as for a missing one), a member whose
 * role is too low is told so (FORBIDDEN). Returns the effective role.
 */
export function judge(actor: Actor, role: Role | null, need: Need, what = 'Workspace'): Role {
  if (role === null) throw ERRORS.notFound(what);
  const effective = effectiveRole(actor, role);
  if (!roleAtLeast(effective, need)) {
    const reason =
      actor.token?.scope === 'read' && roleAtLeast(role, need)
        ? 'This API token is read-only.'
        : `This needs the ${minimumRole(need)} role or higher in this workspace; you are ${article(effective)} ${effective}.`;
    throw ERRORS.forbidden(reason);
  }
  return effective;
}

function minimumRole(need: Need): Role {
  return need === 'read' ? 'viewer' : need === 'write' ? 'member' : need;
}

function article(role: Role): string {
  return role === 'admin' || role === 'owner' ? 'an' : 'a';
}

/**
 * The workspace a list or create call acts in: the one named, else the token's own, else the caller's
 * personal workspace. A token names no other workspace than its own (NOT_FOUND, as for a stranger's).
 */
export function targetWorkspace(actor: Actor, workspaceId: string | undefined): string {
  if (actor.token && workspaceId && workspaceId !== actor.token.workspaceId) throw ERRORS.notFound('Workspace');
  return workspaceId ?? actor.token?.workspaceId ?? actor.personalWorkspaceId;
}
