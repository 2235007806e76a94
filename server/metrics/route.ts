import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { isLocalCaller } from '../http/client-address.ts';
import { queueStats } from './queries.ts';

/** Compared as SHA-256 digests: equal lengths for timingSafeEqual, and neither the token's length nor its bytes leak by timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Who may scrape. With METRICS_TOKEN set, whoever sends `Authorization: Bearer <METRICS_TOKEN>`, from
 * anywhere (a local caller too: behind a local proxy everyone would look local); a missing or wrong token
 * is 401. Without it, only a caller on this machine (`isLocalCaller`, which honours TRUST_PROXY: a local
 * proxy forwarding an outside client is not local), others 403: `/metrics` is a well-known path, so a 404
 * would hide nothing, and the message tells the operator what to set.
 */
function admit(c: Context, deps: Deps): void {
  const token = deps.env.metricsToken;
  if (token !== null) {
    const header = c.req.header('authorization') ?? '';
    const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
    if (!sameToken(given, token)) {
      throw new AppError('UNAUTHORIZED', 'Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.', { 'WWW-Authenticate': 'Bearer' });
    }
    return;
  }
  if (!isLocalCaller(c, deps.env.trustProxy)) {
    throw new AppError('FORBIDDEN', 'Metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere.');
  }
}

/** Reads the queues into their gauges; a queue that empties drops to 0 rather than keeping its last value. */
async function refreshQueueGauges(deps: Deps): Promise<void> {
  const { queueDepth, queueOldestAge } = deps.metrics;
  try {
    const rows = await queueStats(deps.database.client);
    queueDepth.reset();
    queueOldestAge.reset();
    for (const r of rows) {
      queueDepth.set({ queue: r.queue, state: 'ready' }, r.ready);
      queueDepth.set({ queue: r.queue, state: 'deferred' }, r.deferred);
      queueDepth.set({ queue: r.queue, state: 'active' }, r.active);
      queueOldestAge.set({ queue: r.queue }, r.oldestReadySeconds);
    }
  } catch (err) {
    // The rest of the scrape still answers (process metrics matter most when the database is in trouble);
    // the queue series go absent rather than stale, which `absent()` can alert on.
    queueDepth.reset();
    queueOldestAge.reset();
    deps.log.warn('metrics: queue stats unavailable', { err });
  }
}

/**
 * `GET /metrics`: this process's registry in Prometheus's text format. Counters count the work done in
 * this process (requests here; ingests and webhook deliveries where the worker runs them); the queue
 * gauges are read from Postgres, so any process reports every queue.
 */
export function metricsHandler(deps: Deps) {
  return async (c: Context) => {
    admit(c, deps);
    await refreshQueueGauges(deps);
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType, 'Cache-Control': 'no-store' });
  };
}
