import { and, eq, isNull, or, gt, sql } from 'drizzle-orm';
import { apiTokens, trainingJobs, users } from '../../db/schema';
import { API_TOKEN_PREFIX, WORKER_TOKEN_PREFIX, bearerToken, hashToken } from '../auth/tokens';
import { databaseReachable, isDatabaseUnavailable } from '../db-unavailable';
import type { Deps } from '../deps';
import { ERRORS, toTRPCError } from '../errors';

export interface AuthUser {
  id: string;
  email: string;
  name: string;
  via: 'session' | 'token';
}

export interface WorkerIdentity {
  jobId: string;
  userId: string;
}

export interface Context {
  deps: Deps;
  user: AuthUser | null;
  worker: WorkerIdentity | null;
  requestId: string;
  ip: string | null;
  userAgent: string | null;
  /** Response headers a procedure may set (e.g. none today; kept for adapters). */
  resHeaders?: Headers;
}

/** The context without HTTP, for createCaller in tests and scripts. */
export function createContextInner(deps: Deps, identity: Partial<Omit<Context, 'deps'>> = {}): Context {
  return {
    deps,
    user: identity.user ?? null,
    worker: identity.worker ?? null,
    requestId: identity.requestId ?? crypto.randomUUID(),
    ip: identity.ip ?? null,
    userAgent: identity.userAgent ?? null,
  };
}

/** Resolves a Bearer token (API or worker) or the session cookie to an identity. */
export async function resolveIdentity(deps: Deps, headers: Headers): Promise<Pick<Context, 'user' | 'worker'>> {
  const token = bearerToken(headers.get('authorization'));
  if (token?.startsWith(WORKER_TOKEN_PREFIX)) {
    const [job] = await deps.database.db
      .select({ id: trainingJobs.id, userId: trainingJobs.userId })
      .from(trainingJobs)
      .where(eq(trainingJobs.workerTokenHash, hashToken(token)))
      .limit(1);
    return { user: null, worker: job ? { jobId: job.id, userId: job.userId } : null };
  }
  if (token) {
    if (!token.startsWith(API_TOKEN_PREFIX)) return { user: null, worker: null };
    const rows = await deps.database.db
      .select({ tokenId: apiTokens.id, lastUsedAt: apiTokens.lastUsedAt, id: users.id, email: users.email, name: users.name })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(
        and(
          eq(apiTokens.tokenHash, hashToken(token)),
          isNull(apiTokens.revokedAt),
          or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
        ),
      )
      .limit(1);
    const found = rows[0];
    // "Last used" to the minute: a write per request would serialise a busy client on one row.
    if (found && (!found.lastUsedAt || Date.now() - found.lastUsedAt.getTime() > 60_000)) {
      await deps.database.db.update(apiTokens).set({ lastUsedAt: sql`now()` }).where(eq(apiTokens.id, found.tokenId));
    }
    return { user: found ? { id: found.id, email: found.email, name: found.name, via: 'token' } : null, worker: null };
  }
  if (!headers.get('cookie')) return { user: null, worker: null };
  // "No session" and "the database is down" must not look alike: the first is UNAUTHORIZED, the second 503.
  const session = await deps.auth.api.getSession({ headers }).catch(async (e: unknown) => {
    if (isDatabaseUnavailable(e) || !(await databaseReachable(deps.database.db))) throw ERRORS.unavailable();
    return null;
  });
  if (!session) return { user: null, worker: null };
  return {
    user: { id: session.user.id, email: session.user.email, name: session.user.name, via: 'session' },
    worker: null,
  };
}

export async function createContext(deps: Deps, req: Request, meta: { requestId: string; ip: string | null }): Promise<Context> {
  // toTRPCError turns a database outage into SERVICE_UNAVAILABLE.
  const identity = await resolveIdentity(deps, req.headers).catch((e: unknown) => {
    throw toTRPCError(e);
  });
  return createContextInner(deps, { ...identity, requestId: meta.requestId, ip: meta.ip, userAgent: req.headers.get('user-agent') });
}
