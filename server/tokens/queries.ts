import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { apiTokens, users, workspaces } from '../../db/schema/index.ts';
import type { TokenScope } from '../workspaces/roles.ts';

export async function insertToken(
  tx: Tx,
  values: { userId: string; workspaceId: string; scope: TokenScope; name: string; tokenHash: string; prefix: string; expiresAt: Date | null },
): Promise<string> {
  const [row] = await tx.insert(apiTokens).values(values).returning({ id: apiTokens.id });
  return row!.id;
}

/** The workspace's tokens, newest first: the caller's own, or every one (`all`, for an admin). Never the hash. */
export function listTokens(tx: Tx, workspaceId: string, userId: string, all: boolean) {
  return tx
    .select({
      id: apiTokens.id,
      name: apiTokens.name,
      prefix: apiTokens.prefix,
      scope: apiTokens.scope,
      workspaceId: apiTokens.workspaceId,
      userId: apiTokens.userId,
      creatorName: users.name,
      creatorEmail: users.email,
      lastUsedAt: apiTokens.lastUsedAt,
      revokedAt: apiTokens.revokedAt,
      expiresAt: apiTokens.expiresAt,
      createdAt: apiTokens.createdAt,
    })
    .from(apiTokens)
    .leftJoin(users, eq(users.id, apiTokens.userId))
    .where(all ? eq(apiTokens.workspaceId, workspaceId) : and(eq(apiTokens.workspaceId, workspaceId), eq(apiTokens.userId, userId)))
    .orderBy(desc(apiTokens.createdAt));
}

/** A token the caller may see (row-level security: their own, or any of a workspace they administer). */
export async function findToken(tx: Tx, id: string) {
  const [row] = await tx
    .select({
      id: apiTokens.id,
      userId: apiTokens.userId,
      workspaceId: apiTokens.workspaceId,
      revokedAt: apiTokens.revokedAt,
      tokenHash: apiTokens.tokenHash,
    })
    .from(apiTokens)
    .where(eq(apiTokens.id, id));
  return row ?? null;
}

/** NOTIFY that is delivered when `tx` commits, and not at all if it rolls back. */
export async function notifyRevocation(tx: Tx, channel: string, key: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${channel}, ${key})`);
}

/** Revokes the token unless it already is; returns the row it changed, or null. */
export async function revokeToken(tx: Tx, id: string) {
  const [row] = await tx
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id, revokedAt: apiTokens.revokedAt });
  return row ?? null;
}

/**
 * The live (unrevoked, unexpired) token with this hash, its user and the user's personal workspace. Runs
 * on the owner's connection: it is how a request finds out who its user is, before any user transaction.
 */
export async function findLiveTokenByHash(db: Db, tokenHash: string) {
  const [row] = await db
    .select({
      tokenId: apiTokens.id,
      lastUsedAt: apiTokens.lastUsedAt,
      expiresAt: apiTokens.expiresAt,
      workspaceId: apiTokens.workspaceId,
      scope: apiTokens.scope,
      id: users.id,
      email: users.email,
      name: users.name,
      personalWorkspaceId: workspaces.id,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .leftJoin(workspaces, eq(workspaces.personalUserId, users.id))
    .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`))))
    .limit(1);
  return row ?? null;
}

export async function touchLastUsed(db: Db, tokenId: string): Promise<void> {
  await db.update(apiTokens).set({ lastUsedAt: sql`now()` }).where(eq(apiTokens.id, tokenId));
}
