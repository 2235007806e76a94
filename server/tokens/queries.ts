import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { apiTokens, users } from '../../db/schema/index.ts';

export async function insertToken(tx: Tx, userId: string, values: { name: string; tokenHash: string; prefix: string }): Promise<string> {
  const [row] = await tx
    .insert(apiTokens)
    .values({ userId, name: values.name, tokenHash: values.tokenHash, prefix: values.prefix })
    .returning({ id: apiTokens.id });
  return row!.id;
}

/** The user's tokens, newest first; never the hash. */
export function listTokens(tx: Tx, userId: string) {
  return tx
    .select({
      id: apiTokens.id,
      name: apiTokens.name,
      prefix: apiTokens.prefix,
      lastUsedAt: apiTokens.lastUsedAt,
      revokedAt: apiTokens.revokedAt,
      createdAt: apiTokens.createdAt,
    })
    .from(apiTokens)
    .where(eq(apiTokens.userId, userId))
    .orderBy(desc(apiTokens.createdAt));
}

export async function findToken(tx: Tx, userId: string, id: string) {
  const [row] = await tx
    .select({ id: apiTokens.id, revokedAt: apiTokens.revokedAt, tokenHash: apiTokens.tokenHash })
    .from(apiTokens)
    .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId)));
  return row ?? null;
}

/** NOTIFY that is delivered when `tx` commits, and not at all if it rolls back. */
export async function notifyRevocation(tx: Tx, channel: string, key: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${channel}, ${key})`);
}

/** Revokes the token unless it already is; returns the row it changed, or null. */
export async function revokeToken(tx: Tx, userId: string, id: string) {
  const [row] = await tx
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id, revokedAt: apiTokens.revokedAt });
  return row ?? null;
}

/**
 * The live (unrevoked, unexpired) token with this hash and its user. Runs on the owner's connection:
 * it is how a request finds out who its user is, before any user transaction can exist.
 */
export async function findLiveTokenByHash(db: Db, tokenHash: string) {
  const [row] = await db
    .select({
      tokenId: apiTokens.id,
      lastUsedAt: apiTokens.lastUsedAt,
      expiresAt: apiTokens.expiresAt,
      id: users.id,
      email: users.email,
      name: users.name,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`))))
    .limit(1);
  return row ?? null;
}

export async function touchLastUsed(db: Db, tokenId: string): Promise<void> {
  await db.update(apiTokens).set({ lastUsedAt: sql`now()` }).where(eq(apiTokens.id, tokenId));
}
