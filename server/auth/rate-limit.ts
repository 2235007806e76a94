import { inArray, sql } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../../db/client.ts';
import { rateLimitEvents } from '../../db/schema/index.ts';
import { ERRORS, errorResponse } from '../errors.ts';
import { clientAddress, limitKey } from '../http/client-address.ts';
import type { Logger } from '../logger.ts';

/** A sliding-window limit: at most `max` events of `bucket` per key within `windowSeconds`. */
interface RateLimitRule {
  bucket: string;
  max: number;
  windowSeconds: number;
}

/**
 * The numbers (README "Rate limits"). Failures are what a guesser produces, so sign-in counts failures
 * (better-auth's 401), never successes. The account-wide count only slows attempts down: refusing on it
 * would let anyone lock a victim out by failing the victim's password from addresses of their own.
 */
const AUTH_LIMITS = {
  signInFailuresPerAddress: { bucket: 'sign-in-failure:ip', max: 10, windowSeconds: 60 },
  signInFailuresPerAccountAndAddress: { bucket: 'sign-in-failure:account-ip', max: 5, windowSeconds: 60 },
  signInFailuresPerAccount: { bucket: 'sign-in-failure:account', max: 20, windowSeconds: 600 },
  signUpsPerAddress: { bucket: 'sign-up:ip', max: 10, windowSeconds: 60 },
  otherAuthPostsPerAddress: { bucket: 'auth:ip', max: 60, windowSeconds: 60 },
} satisfies Record<string, RateLimitRule>;

/** How long a sign-in waits once its account has passed `signInFailuresPerAccount`, wherever from. */
const ACCOUNT_SLOWDOWN_MS = 1000;

const LONGEST_WINDOW_SECONDS = Math.max(...Object.values(AUTH_LIMITS).map((r) => r.windowSeconds));
const PRUNE_EVERY_MS = 60_000;

interface WindowCount {
  count: number;
  /** Seconds until the oldest counted event leaves the window (≥ 1). */
  retryAfterSeconds: number;
}

/**
 * Counts events in Postgres (`rate_limit_events`), so every API process behind a balancer shares one
 * set of limits, and a restart forgets nothing. Time is the database's `now()`, one clock for all
 * processes. Old rows are deleted at most once a minute per process.
 */
class RateLimitStore {
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {}

  /** The events of each (rule, key) within its window, in one round trip. */
  async counts(checks: { rule: RateLimitRule; key: string }[]): Promise<WindowCount[]> {
    if (!checks.length) return [];
    const parts = checks.map(
      ({ rule, key }, i) => sql`select ${i}::int as i, count(*)::int as n,
        coalesce(ceil(extract(epoch from min(${rateLimitEvents.at}) + make_interval(secs => ${rule.windowSeconds}) - now())), 1)::int as retry
        from ${rateLimitEvents}
        where ${rateLimitEvents.bucket} = ${rule.bucket} and ${rateLimitEvents.key} = ${key}
          and ${rateLimitEvents.at} > now() - make_interval(secs => ${rule.windowSeconds})`,
    );
    const rows = (await this.db.execute(sql.join(parts, sql` union all `))) as unknown as { i: number; n: number; retry: number }[];
    const out: WindowCount[] = checks.map(() => ({ count: 0, retryAfterSeconds: 1 }));
    for (const r of rows) out[r.i] = { count: r.n, retryAfterSeconds: Math.max(1, r.retry) };
    return out;
  }

  /**
   * Counts one event in each bucket first and then reads the windows (their own event included), in two
   * statements: of any number of concurrent requests, each sees every event inserted before its count,
   * so a burst cannot all pass a check made before any of them was counted. Returns the ids for release.
   */
  async claim(checks: { rule: RateLimitRule; key: string }[]): Promise<{ ids: number[]; counts: WindowCount[] }> {
    const rows = await this.db
      .insert(rateLimitEvents)
      .values(checks.map(({ rule, key }) => ({ bucket: rule.bucket, key })))
      .returning({ id: rateLimitEvents.id });
    this.pruneSometimes();
    return { ids: rows.map((r) => r.id), counts: await this.counts(checks) };
  }

  /** Takes back claimed events: a refused request, or a sign-in that turned out not to be a failure. */
  async release(ids: number[]): Promise<void> {
    if (ids.length) await this.db.delete(rateLimitEvents).where(inArray(rateLimitEvents.id, ids));
  }

  private pruneSometimes(): void {
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    // Uses the `at` index; not awaited, a failed prune is retried a minute later.
    this.db
      .delete(rateLimitEvents)
      .where(sql`${rateLimitEvents.at} < now() - make_interval(secs => ${LONGEST_WINDOW_SECONDS})`)
      .catch((err) => this.log?.warn('rate limit prune failed', { err }));
  }
}

/** `/api/auth/Sign-In/email/` and `/api/auth/sign-in/email` are one route to better-auth: classify them alike. */
function authRoute(pathname: string): string {
  let p = pathname;
  try {
    p = decodeURIComponent(p);
  } catch {
    // better-auth refuses a malformed path itself; it falls in the generic bucket.
  }
  return p
    .toLowerCase()
    .replace(/\/+$/, '')
    .replace(/^\/api\/auth/, '');
}

async function signInEmail(req: Request): Promise<string> {
  const body = (await req
    .clone()
    .json()
    .catch(() => null)) as { email?: unknown } | null;
  return typeof body?.email === 'string' ? body.email.trim().toLowerCase().slice(0, 320) : '';
}

/**
 * The limits in front of better-auth's `/api/auth/*` (whose own limiter is off: it keyed every client
 * without a proxy as one, and believed any X-Forwarded-For). Keys are `clientAddress`. Reading the
 * session and signing out are never limited, so a busy dashboard is never signed out by a 429.
 */
export function authRateLimit(options: { db: Db; trustProxy: number; log?: Logger }): MiddlewareHandler<{ Variables: { requestId: string } }> {
  const store = new RateLimitStore(options.db, options.log);
  const L = AUTH_LIMITS;
  return async (c, next) => {
    const route = authRoute(c.req.path);
    if (c.req.method !== 'POST' || route === '/get-session' || route === '/sign-out') return next();
    const address = limitKey(clientAddress(c, options.trustProxy));
    const tooMany = (message: string, retryAfterSeconds: number) =>
      errorResponse(ERRORS.tooManyRequests(message, retryAfterSeconds), c.get('requestId'));

    if (route === '/sign-in/email') {
      const email = await signInEmail(c.req.raw);
      // Every attempt is counted as a failure until better-auth says otherwise: a burst of parallel guesses
      // is counted while in flight, not after the first of them has finished.
      const { ids, counts } = await store.claim([
        { rule: L.signInFailuresPerAddress, key: address },
        { rule: L.signInFailuresPerAccountAndAddress, key: `${email}|${address}` },
        { rule: L.signInFailuresPerAccount, key: email },
      ]);
      const [perAddress, perAccountAddress, perAccount] = counts;
      // Counts include this attempt. A refused attempt is not counted, so hammering does not extend a lockout.
      if (perAddress!.count > L.signInFailuresPerAddress.max) {
        await store.release(ids);
        return tooMany('Too many failed sign-ins from your address.', perAddress!.retryAfterSeconds);
      }
      if (perAccountAddress!.count > L.signInFailuresPerAccountAndAddress.max) {
        await store.release(ids);
        return tooMany('Too many failed sign-ins to this account from your address.', perAccountAddress!.retryAfterSeconds);
      }
      // Slows a distributed guesser down; the rightful owner, with no failures of their own, still gets in.
      if (perAccount!.count > L.signInFailuresPerAccount.max) await Bun.sleep(ACCOUNT_SLOWDOWN_MS);
      try {
        await next();
      } finally {
        if (c.res.status !== 401) await store.release(ids);
      }
      return;
    }

    const rule = route === '/sign-up/email' ? L.signUpsPerAddress : L.otherAuthPostsPerAddress;
    const { ids, counts } = await store.claim([{ rule, key: address }]);
    if (counts[0]!.count > rule.max) {
      await store.release(ids);
      return tooMany('Too many requests from your address.', counts[0]!.retryAfterSeconds);
    }
    return next();
  };
}
