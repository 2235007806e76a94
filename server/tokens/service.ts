import { type CachedUser, REVOCATION_CHANNEL, tokenRevocationKey } from '../auth/identity-cache.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { memberRole } from '../workspaces/queries.ts';
import { type Actor, judge, rls, roleAtLeast, type TokenScope, targetWorkspace } from '../workspaces/roles.ts';
import { inWorkspace, personalWorkspace } from '../workspaces/service.ts';
import * as q from './queries.ts';

/** "Last used" is kept to the minute: a write per request would serialise a busy client on one row. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Creates an API token of a workspace (members and up) acting as the caller; the token itself is returned
 * this once and only its hash is stored.
 */
export async function createToken(
  deps: Deps,
  actor: Actor,
  input: { name: string; workspaceId?: string | undefined; scope?: TokenScope | undefined; expiresAt?: string | undefined },
): Promise<{ id: string; token: string }> {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const scope = input.scope ?? 'write';
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt.getTime() <= deps.now()) throw ERRORS.invalidField('expiresAt', 'must be in the future');
  const token = generateToken(API_TOKEN_PREFIX);
  // Members and up: a token acts with the lesser of its scope and its creator's role, so either scope is theirs to give.
  const id = await inWorkspace(deps, actor, workspaceId, 'write', (tx) =>
    q.insertToken(tx, {
      userId: actor.userId,
      workspaceId,
      scope,
      name: input.name,
      tokenHash: hashToken(token),
      prefix: token.slice(0, 10),
      expiresAt,
    }),
  );
  return { id, token };
}

/** The workspace's tokens: a member sees their own, an admin every one (to revoke a departed colleague's). */
export async function listTokens(deps: Deps, actor: Actor, input: { workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const rows = await inWorkspace(deps, actor, workspaceId, 'read', (tx, role) =>
    q.listTokens(tx, workspaceId, actor.userId, roleAtLeast(role, 'admin')),
  );
  return rows.map(({ userId, creatorName, creatorEmail, ...r }) => ({
    ...r,
    mine: userId === actor.userId,
    createdBy: creatorEmail ? { name: creatorName ?? '', email: creatorEmail } : null,
  }));
}

/**
 * Revokes a token: the caller's own, or, for an admin, any of the workspace's. Revoking twice answers
 * with the first revocation. The NOTIFY goes out with the commit, to every process's identity cache;
 * this process's entry is dropped before the answer, so the next request with the token already fails.
 */
export async function revokeToken(deps: Deps, actor: Actor, id: string) {
  // Row-level security shows the caller their own tokens and those of workspaces they administer; the
  // explicit check below says the same, so a policy mistake alone cannot let anyone revoke another's.
  const { result, revocationKey } = await deps.database.asUser(rls(actor), async (tx) => {
    const row = await q.findToken(tx, id);
    if (!row) throw ERRORS.notFound('Token');
    judge(actor, await memberRole(tx, actor.userId, row.workspaceId), row.userId === actor.userId ? 'read' : 'admin', 'Token');
    const key = tokenRevocationKey(row.tokenHash);
    if (row.revokedAt) return { result: { id: row.id, revokedAt: row.revokedAt }, revocationKey: key };
    const updated = await q.revokeToken(tx, id);
    await q.notifyRevocation(tx, REVOCATION_CHANNEL, key);
    return { result: { id: updated!.id, revokedAt: updated!.revokedAt }, revocationKey: key };
  });
  deps.identities.revoke(revocationKey);
  return result;
}

/**
 * Who a personal API token (`lat_…`) acts as, or null when it is unknown, revoked or expired. Answered
 * from the identity cache when it can be (auth/identity-cache.ts); "last used" is written at most once a
 * minute and off the request path: the request never waits for that write.
 */
export async function resolveApiToken(deps: Deps, token: string): Promise<CachedUser | null> {
  if (!token.startsWith(API_TOKEN_PREFIX)) return null;
  const tokenHash = hashToken(token);
  const key = tokenRevocationKey(tokenHash);
  const cached = deps.identities.get(key);
  if (cached) return cached;
  const epoch = deps.identities.epoch();
  const { db } = deps.database;
  const found = await q.findLiveTokenByHash(db, tokenHash);
  if (!found) return null;
  if (!found.lastUsedAt || Date.now() - found.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    q.touchLastUsed(db, found.tokenId).catch((err: unknown) => deps.log.warn("could not record a token's last use", { err }));
  }
  const user: CachedUser = {
    userId: found.id,
    email: found.email,
    name: found.name,
    personalWorkspaceId: found.personalWorkspaceId ?? (await personalWorkspace(db, found)),
    token: { workspaceId: found.workspaceId, scope: found.scope },
  };
  deps.identities.set(key, user, key, found.expiresAt?.getTime() ?? null, epoch);
  return user;
}
