import { type CachedUser, sessionRevocationKey } from '../auth/identity-cache.ts';
import { WORKER_TOKEN_PREFIX, bearerToken, hashToken } from '../auth/tokens.ts';
import { databaseReachable, isDatabaseUnavailable } from '../db-unavailable.ts';
import type { Deps } from '../deps.ts';
import { ERRORS, toTRPCError } from '../errors.ts';
import { resolveWorkerToken } from '../jobs/service.ts';
import { resolveApiToken } from '../tokens/service.ts';
import { personalWorkspace } from '../workspaces/service.ts';

/** A signed-in caller: who they are (an Actor, for every workspace-scoped service) and how they came. */
type AuthUser = CachedUser & { via: 'session' | 'token' };

interface WorkerIdentity {
  jobId: string;
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
async function resolveIdentity(deps: Deps, headers: Headers): Promise<Pick<Context, 'user' | 'worker'>> {
  const token = bearerToken(headers.get('authorization'));
  if (token?.startsWith(WORKER_TOKEN_PREFIX)) return { user: null, worker: await resolveWorkerToken(deps, token) };
  if (token) {
    // Any other bearer token must be a personal API token; an unknown one is no identity at all.
    const user = await resolveApiToken(deps, token);
    return { user: user ? { ...user, via: 'token' } : null, worker: null };
  }
  const cookie = headers.get('cookie');
  if (!cookie) return { user: null, worker: null };
  // Keyed by the whole Cookie header (hashed): any other cookie value is another key, never a wrong user.
  const key = `c:${hashToken(cookie)}`;
  const cached = deps.identities.get(key);
  if (cached) return { user: { ...cached, via: 'session' }, worker: null };
  const epoch = deps.identities.epoch();
  // "No session" and "the database is down" must not look alike: the first is UNAUTHORIZED, the second 503.
  const session = await deps.auth.api.getSession({ headers }).catch(async (e: unknown) => {
    if (isDatabaseUnavailable(e) || !(await databaseReachable(deps.database.db))) throw ERRORS.unavailable();
    return null;
  });
  if (!session) return { user: null, worker: null };
  const personalWorkspaceId = await personalWorkspace(deps.database.db, session.user);
  const user: CachedUser = { userId: session.user.id, email: session.user.email, name: session.user.name, personalWorkspaceId, token: null };
  deps.identities.set(key, user, sessionRevocationKey(session.session.token), new Date(session.session.expiresAt).getTime(), epoch);
  return { user: { ...user, via: 'session' }, worker: null };
}

export async function createContext(deps: Deps, req: Request, meta: { requestId: string; ip: string | null }): Promise<Context> {
  // toTRPCError turns a database outage into SERVICE_UNAVAILABLE.
  const identity = await resolveIdentity(deps, req.headers).catch((e: unknown) => {
    throw toTRPCError(e);
  });
  return createContextInner(deps, { ...identity, requestId: meta.requestId, ip: meta.ip, userAgent: req.headers.get('user-agent') });
}
