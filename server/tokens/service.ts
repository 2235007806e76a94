import { type CachedUser, REVOCATION_CHANNEL, tokenRevocationKey } from '../auth/identity-cache.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import * as q from './queries.ts';

/** "Last used" is kept to the minute: a write per request would serialise a busy client on one row. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Creates a personal API token; the token itself is returned this once and only its hash is stored. */
export async function createToken(deps: Deps, userId: string, name: string): Promise<{ id: string; token: string }> {
  const token = generateToken(API_TOKEN_PREFIX);
  const id = await deps.database.asUser(userId, (tx) => q.insertToken(tx, userId, { name, tokenHash: hashToken(token), prefix: token.slice(0, 10) }));
  return { id, token };
}

export function listTokens(deps: Deps, userId: string) {
  return deps.database.asUser(userId, (tx) => q.listTokens(tx, userId));
}

/**
 * Revokes one of the caller's tokens; revoking twice answers with the first revocation. The NOTIFY goes
 * out with the commit, to every process's identity cache; this process's entry is dropped before the
 * answer, so the caller's next request with the token already fails.
 */
export async function revokeToken(deps: Deps, userId: string, id: string) {
  const { result, revocationKey } = await deps.database.asUser(userId, async (tx) => {
    const row = await q.findToken(tx, userId, id);
    if (!row) throw ERRORS.notFound('Token');
    const key = tokenRevocationKey(row.tokenHash);
    if (row.revokedAt) return { result: { id: row.id, revokedAt: row.revokedAt }, revocationKey: key };
    const updated = await q.revokeToken(tx, userId, id);
    await q.notifyRevocation(tx, REVOCATION_CHANNEL, key);
    return { result: { id: updated!.id, revokedAt: updated!.revokedAt }, revocationKey: key };
  });
  deps.identities.revoke(revocationKey);
  return result;
}

/**
 * The user a personal API token (`lat_…`) belongs to, or null when it is unknown, revoked or expired.
 * Answered from the identity cache when it can be (auth/identity-cache.ts); "last used" is written at
 * most once a minute and off the request path: the request never waits for that write.
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
  const user = { id: found.id, email: found.email, name: found.name };
  deps.identities.set(key, user, key, found.expiresAt?.getTime() ?? null, epoch);
  return user;
}
