import path from 'node:path';
import { trpcServer } from '@hono/trpc-server';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Deps } from './deps';
import { errorBody } from './errors';
import { bundleRoute } from './models/bundle-route';
import { fsFilesRoute } from './storage/fs-route';
import type { FsStorage } from './storage/fs';
import { createContext, type Context } from './trpc/context';
import { appRouter } from './trpc/root';

type Env = { Variables: { requestId: string }; Bindings: { requestIP?: (req: Request) => { address: string } | null } };

export interface AppOptions {
  /** Folder of the built dashboard (vite build output); absent in API-only tests. */
  webDist?: string | null;
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
    await next();
    c.header('X-Request-Id', requestId);
    const url = new URL(c.req.url);
    // Signed query strings are credentials: never log them.
    log.info('request', {
      requestId,
      method: c.req.method,
      path: url.pathname,
      status: c.res.status,
      ms: Math.round((performance.now() - start) * 10) / 10,
    });
  });

  app.onError((err, c) => {
    const requestId = c.get('requestId');
    log.error('unhandled error', { requestId, err });
    return c.json(errorBody('INTERNAL_SERVER_ERROR', 'Something went wrong on our side.', requestId), 500);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
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
    const [database, queue, storage] = await Promise.all([
      check(() => deps.database.db.execute(sql`select 1`)),
      check(() => deps.boss.getQueue('ingest-artifact')),
      check(() => deps.storage.check()),
    ]);
    const ready = database.ok && queue.ok && storage.ok;
    return c.json({ status: ready ? 'ready' : 'not ready', role: deps.env.role, checks: { database, queue, storage } }, ready ? 200 : 503);
  });

  app.on(['GET', 'POST'], '/api/auth/*', (c) => deps.auth.handler(c.req.raw));

  app.use(
    '/trpc/*',
    trpcServer({
      endpoint: '/trpc',
      router: appRouter,
      createContext: async (_opts, c) => {
        const ip = c.env?.requestIP?.(c.req.raw)?.address ?? null;
        return (await createContext(deps, c.req.raw, { requestId: c.get('requestId'), ip })) as unknown as Record<string, unknown> & Context;
      },
    }),
  );

  if (deps.storage.kind === 'fs') app.route('/files', fsFilesRoute(deps.storage as FsStorage));
  app.route('/bundles', bundleRoute(deps));

  app.all('/api/*', (c) => c.json(errorBody('NOT_FOUND', 'No such endpoint.', c.get('requestId')), 404));
  app.all('/trpc', (c) => c.json(errorBody('NOT_FOUND', 'No such endpoint.', c.get('requestId')), 404));

  const dist = options.webDist ? path.resolve(options.webDist) : null;
  app.get('*', async (c) => {
    if (!dist) return c.json(errorBody('NOT_FOUND', 'No such page.', c.get('requestId')), 404);
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      return c.json(errorBody('BAD_REQUEST', 'Malformed path.', c.get('requestId')), 400);
    }
    const target = path.resolve(dist, `.${pathname}`);
    if (target.startsWith(dist + path.sep) && ASSET.test(pathname)) {
      const file = Bun.file(target);
      if (await file.exists()) {
        const immutable = pathname.startsWith('/assets/');
        return new Response(file, { headers: { 'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' } });
      }
      return c.json(errorBody('NOT_FOUND', 'No such file.', c.get('requestId')), 404);
    }
    // SPA fallback: the dashboard's router takes it from here.
    return new Response(Bun.file(path.join(dist, 'index.html')), {
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' },
    });
  });

  return app;
}
