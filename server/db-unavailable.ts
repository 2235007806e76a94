import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/**
 * One answer to "is this error the database being unreachable?", so every edge (tRPC, Hono routes,
 * the auth route, the session lookup) reports an outage as 503 SERVICE_UNAVAILABLE rather than as
 * "sign in" or a 500. The codes are postgres.js's connection errors, socket errors, SQLSTATE class 08
 * (connection exception) and 57P01-57P03 (the server shutting down, crashed, or starting up).
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
]);

/** node-postgres (pg-boss's driver) says it in words, without a code. */
const CONNECTION_MESSAGES = /Connection terminated|connection timeout|the database system is (starting up|shutting down|in recovery mode)/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  // Wrappers (drizzle's DrizzleQueryError, better-auth's errors, AggregateError) keep the driver's error as a cause.
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e) || seen.size > 10) continue;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (e instanceof Error && !code && CONNECTION_MESSAGES.test(e.message)) return true;
    queue.push((e as { cause?: unknown }).cause);
    if (e instanceof AggregateError) queue.push(...e.errors);
  }
  return false;
}

/** A quick `select 1` with a short deadline: false when the database cannot answer now. */
export async function databaseReachable(db: Db, timeoutMs = 1_000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      db.execute(sql`select 1`),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
