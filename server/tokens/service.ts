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

/** Revokes one of the caller's tokens; revoking twice answers with the first revocation. */
export function revokeToken(deps: Deps, userId: string, id: string) {
  return deps.database.asUser(userId, async (tx) => {
    const row = await q.findToken(tx, userId, id);
    if (!row) throw ERRORS.notFound('Token');
    if (row.revokedAt) return { id: row.id, revokedAt: row.revokedAt };
    const updated = await q.revokeToken(tx, userId, id);
    return { id: updated!.id, revokedAt: updated!.revokedAt };
  });
}

/** The user a personal API token (`lat_…`) belongs to, or null when it is unknown, revoked or expired. */
export async function resolveApiToken(deps: Deps, token: string): Promise<{ id: string; email: string; name: string } | null> {
  if (!token.startsWith(API_TOKEN_PREFIX)) return null;
  const { db } = deps.database;
  const found = await q.findLiveTokenByHash(db, hashToken(token));
  if (!found) return null;
  if (!found.lastUsedAt || Date.now() - found.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) await q.touchLastUsed(db, found.tokenId);
  return { id: found.id, email: found.email, name: found.name };
}
