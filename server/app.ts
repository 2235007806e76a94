import path from 'node:path';
import { trpcServer } from '@hono/trpc-server';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { authOutageGuard } from './auth/outage-guard.ts';
import { authRateLimit } from './auth/rate-limit.ts';
import { isDatabaseUnavailable } from './db-unavailable.ts';
import type { Deps } from './deps.ts';
import { AppError, ERRORS, errorResponse } from './errors.ts';
import { liveEventsRoute } from './events/route.ts';
import { authBodyLimit, MAX_BATCH_CALLS, trpcBodyLimit } from './http/body-limits.ts';
import { crossSiteMutationGuard, securityHeaders } from './http/browser-defense.ts';
import { clientAddress, isLocalCaller } from './http/client-address.ts';
import { requestMetrics } from './metrics/http.ts';
import { metricsHandler } from './metrics/route.ts';
import { bundleRoute } from './models/bundle-route.ts';
import { downloadManyRoute } from './registry/download-many-route.ts';
import { storageSpaceReport } from './storage/free-space.ts';
import { mayStillRead } from './shares/service.ts';
import { fsFilesRoute } from './storage/fs-route.ts';
import type { FsStorage } from './storage/fs.ts';
import { createContext, type Context } from './trpc/context.ts';
import { appRouter } from './trpc/root.ts';

type Env = { Variables: { requestId: string }; Bindings: { requestIP?: (req: Request) => { address: string } | null } };

export interface AppOptions {
  /** Folder of the built dashboard (vite build output); absent in API-only tests. */
  webDist?: string | null;
  /** Our sign-in/sign-up limits in front of /api/auth (server/auth/rate-limit.ts); off in most tests. */
  rateLimit?: boolean;
  /**
   * `probes`: only /healthz, /readyz and /metrics, what a ROLE=worker process serves on METRICS_PORT (it has no
   * API, but its ingests and deliveries are counted where they run). Default `all`.
   */
  surface?: 'all' | 'probes';
}

const ASSET = /\.[a-z0-9]{1,8}$/i;

/**
 * The HTTP surface: health probes, auth, tRPC, signed downloads, and the dashboard. Every error
 * leaves as `{ error: { code, message, requestId } }`, never with a stack trace.
 */
export function createApp(deps: Deps, options: AppOptions = {}) {
  const app = new Hono<Env>();
  const log = deps.log;

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || crypto.randomUUID();
    c.set('requestId', requestId);
    const start = performance.now();
    // The path only (c.req.path, no URL parse per request): signed query strings are credentials, never logged.
    const pathname = c.req.path;
    // At debug, so a request that never finishes still shows in the log (the line below comes at the end).
    log.debug('request start', { requestId, method: c.req.method, path: pathname });
    await next();
    c.header('X-Request-Id', requestId);
    log.info('request', {
      requestId,
      method: c.req.method,
      path: pathname,
      status: c.res.status,
      ms: Math.round((performance.now() - start) * 10) / 10,
    });
  });

  // Latency by procedure or route pattern (server/metrics/http.ts), errors included: onError answers inside it.
  app.use('*', requestMetrics(deps.metrics, Object.keys(appRouter._def.procedures), MAX_BATCH_CALLS));
  app.use('*', securityHeaders(deps.env.publicUrl));

  // The one error edge of the plain HTTP routes: an AppError keeps its status and message, a database
  // outage is a 503, and only the unexpected is a 500, logged with its stack and the request id.
  app.onError((err, c) => {
    const requestId = c.get('requestId');
    if (err instanceof AppError) return errorResponse(err, requestId);
    if (isDatabaseUnavailable(err)) return errorResponse(ERRORS.unavailable(), requestId);
    log.error('unhandled error', { requestId, method: c.req.method, path: new URL(c.req.url).pathname, err });
    return errorResponse(new AppError('INTERNAL_SERVER_ERROR', 'Something went wrong on our side.'), requestId);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Prometheus scrape (METRICS_TOKEN, or local callers only): before the /api/* and dashboard catch-alls.
  app.get('/metrics', metricsHandler(deps));
  app.get('/readyz', async (c) => {
    const check = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      try {
        await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000))]);
        return { ok: true, ms: Math.round(performance.now() - t) };
      } catch (e) {
        return { ok: false, error: e instanceof Error ? e.message : String(e) };
      }
    };
    const [database, queue, storageProbe, space] = await Promise.all([
      check(() => deps.database.db.execute(sql`select 1`)),
      check(() => deps.boss.getQueue('ingest-artifact')),
      check(() => deps.storage.check()),
      storageSpaceReport(deps.storage),
    ]);
    // Low disk space still serves reads and downloads: ready (200), but flagged `degraded`.
    const storage = { ...storageProbe, ...space };
    const ready = database.ok && queue.ok && storage.ok;
    const status = ready ? (space?.degraded ? 'degraded' : 'ready') : 'not ready';
    const body = { status, role: deps.env.role, checks: { database, queue, storage } };
    // Checks name internal ports, paths and errors: only a caller on this machine sees them.
    return c.json(isLocalCaller(c, deps.env.trustProxy) ? body : { status: body.status }, ready ? 200 : 503);
  });

  if (options.surface === 'probes') {
    app.all('*', () => {
      throw new AppError('NOT_FOUND', 'A worker process serves /healthz, /readyz and /metrics only.');
    });
    return app;
  }

  app.use('/api/auth/*', authBodyLimit());
  if (options.rateLimit ?? true) app.use('/api/auth/*', authRateLimit({ db: deps.database.db, trustProxy: deps.env.trustProxy, log }));
  app.on(['GET', 'POST'], '/api/auth/*', (c) => authOutageGuard(deps.database.db, c.get('requestId'), () => deps.auth.handler(c.req.raw)));

  app.use('/trpc/*', crossSiteMutationGuard(deps.env.publicUrl));
  app.use('/trpc/*', trpcBodyLimit());
  app.use(
    '/trpc/*',
    trpcServer({
      endpoint: '/trpc',
      router: appRouter,
      maxBatchSize: MAX_BATCH_CALLS,
      createContext: async (_opts, c) => {
        const ip = clientAddress(c, deps.env.trustProxy);
        return (await createContext(deps, c.req.raw, { requestId: c.get('requestId'), ip })) as unknown as Record<string, unknown> & Context;
      },
    }),
  );

  if (deps.storage.kind === 'fs')
    app.route(
      '/files',
      fsFilesRoute(deps.storage as FsStorage, (key, grant) => mayStillRead(deps, key, grant)),
    );
  app.route('/bundles', bundleRoute(deps));
  // Several models in one zip (models.downloadMany): /bundles/many.zip, which no `<uuid>.zip` above matches.
  app.route('/bundles', downloadManyRoute(deps));

  // Server-sent events (events/route.ts): before the /api/* catch-all below.
  app.get('/api/events', liveEventsRoute(deps));

  const noSuchEndpoint = () => {
    throw new AppError('NOT_FOUND', 'No such endpoint.');
  };
  app.all('/api/*', noSuchEndpoint);
  app.all('/trpc', noSuchEndpoint);

  const dist = options.webDist ? path.resolve(options.webDist) : null;
  app.get('*', async (c) => {
    if (!dist) throw new AppError('NOT_FOUND', 'No such page.');
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      throw ERRORS.badRequest('Malformed path.');
    }
    const target = path.resolve(dist, `.${pathname}`);
    if (target.startsWith(dist + path.sep) && ASSET.test(pathname)) {
      const file = Bun.file(target);
      if (await file.exists()) {
        const immutable = pathname.startsWith('/assets/');
        return new Response(file, { headers: { 'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' } });
      }
      throw new AppError('NOT_FOUND', 'No such file.');
    }
    // SPA fallback: the dashboard's router takes it from here.
    return new Response(Bun.file(path.join(dist, 'index.html')), {
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' },
    });
  });

  return app;
}
