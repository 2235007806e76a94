import { TRPCError } from '@trpc/server';
import type { Context as HonoContext } from 'hono';
import { sessionRevocationKey, tokenRevocationKey } from '../auth/identity-cache.ts';
import { bearerToken, hashToken } from '../auth/tokens.ts';
import type { Deps } from '../deps.ts';
import { AppError, ERRORS } from '../errors.ts';
import { clientAddress } from '../http/client-address.ts';
import { createContext } from '../trpc/context.ts';
import type { StreamCredential } from './hub.ts';

/** Tells EventSource how long to wait before reconnecting (ms). */
const RETRY_MS = 2000;
/** What a stream may have queued and unsent (bytes) before it is ended as too slow; the queue asks for 64 KiB. */
const MAX_QUEUED_BYTES = 1024 * 1024;

/** The Last-Event-ID header, or `?lastEventId=` (for clients that cannot set headers); null when absent or not an id. */
function lastEventId(c: HonoContext): number | null {
  const raw = c.req.header('last-event-id') ?? c.req.query('lastEventId');
  if (!raw || !/^\d{1,15}$/.test(raw.trim())) return null;
  return Number(raw.trim());
}

/**
 * GET /api/events: server-sent events for the caller (the dashboard's session cookie, or a personal API
 * token as `Authorization: Bearer`): their notifications, and the job and export changes of their
 * workspaces (a token: its one workspace, and no notifications, which are per user and not per workspace).
 * The caller is resolved by tRPC's own context, so a credential means the same here as for any procedure;
 * a worker token or none is 401 in the JSON envelope. Events come from the process's hub (events/hub.ts).
 */
export function liveEventsRoute(deps: Deps) {
  return async (c: HonoContext<{ Variables: { requestId: string } }>) => {
    const hub = deps.events;
    if (!hub) throw new AppError('NOT_FOUND', 'No such endpoint.');
    const ctx = await createContext(deps, c.req.raw, { requestId: c.get('requestId'), ip: clientAddress(c, deps.env.trustProxy) }).catch(
      (e: unknown) => {
        // createContext speaks tRPC; this route answers in the plain envelope (a database outage stays a 503).
        throw e instanceof TRPCError && e.cause instanceof AppError ? e.cause : e;
      },
    );
    const user = ctx.user;
    if (!user) throw ERRORS.unauthorized();
    const credential = await credentialOf(deps, c.req.raw.headers, user.via);

    const encoder = new TextEncoder();
    let done = false;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let subscription: { close(): void } | null = null;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (ctl) => {
          controller = ctl;
        },
        // The client went away (Bun cancels the body): the hub forgets the stream at once.
        cancel: () => {
          done = true;
          subscription?.close();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
    );
    const write = (chunk: string): boolean => {
      if (done) return false;
      try {
        controller.enqueue(encoder.encode(chunk));
      } catch {
        return false;
      }
      // Bun pulls from the queue only as fast as the socket drains: a queue this deep is a client that stopped reading.
      return (controller.desiredSize ?? 0) > -MAX_QUEUED_BYTES;
    };
    const end = () => {
      if (done) return;
      done = true;
      try {
        controller.close();
      } catch {
        // Already errored or closed by the cancelled response.
      }
    };
    write(`retry: ${RETRY_MS}\n\n`);
    subscription = await hub.open(
      { userId: user.userId, tokenWorkspaceId: user.token?.workspaceId ?? null, userEvents: user.via === 'session', credential, write, end },
      lastEventId(c),
    );
    const signal = c.req.raw.signal;
    if (signal.aborted || done) subscription.close();
    else signal.addEventListener('abort', () => subscription?.close(), { once: true });
    return new Response(body, {
      headers: {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-store',
        // nginx and its kin would otherwise buffer the stream.
        'X-Accel-Buffering': 'no',
      },
    });
  };
}

/** What ends the stream with the credential: an API token's hash, or the dashboard session (read once more for its id). */
async function credentialOf(deps: Deps, headers: Headers, via: 'session' | 'token'): Promise<StreamCredential> {
  const token = bearerToken(headers.get('authorization'));
  if (via === 'token' && token) {
    const hash = hashToken(token);
    return { revocationKey: tokenRevocationKey(hash), check: { kind: 'token', hash } };
  }
  const session = await deps.auth.api.getSession({ headers });
  if (!session) throw ERRORS.unauthorized();
  return { revocationKey: sessionRevocationKey(session.session.token), check: { kind: 'session', id: session.session.id } };
}
