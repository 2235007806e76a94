import type { MiddlewareHandler } from 'hono';
import type { Metrics } from './metrics.ts';

/** Plain routes timed under their own name; everything under a prefix below is timed as the prefix's pattern. */
const EXACT = new Set(['/healthz', '/readyz', '/metrics', '/api/events']);
/** Longest first: `/api/auth/` before `/api/`. Ids, tokens and signed keys live past these prefixes and never reach a label. */
const PREFIXES = ['/api/auth/', '/api/', '/files/', '/bundles/', '/assets/', '/s/'] as const;

/**
 * The label values one request is timed under, from a closed set: a tRPC call by the procedures it names
 * (each call of a batch, when `?batch=1`, as tRPC itself splits it), if they are procedures of the router
 * and the batch is one tRPC accepts; `unknown` otherwise. Any other path by the pattern of its route,
 * `other` for the rest (the dashboard's pages, 404s). Never the path itself: ids, share tokens and signed
 * keys would each become a time series.
 */
function requestLabels(path: string, batch: boolean, procedures: ReadonlySet<string>, maxBatch: number): string[] {
  if (path.startsWith('/trpc/')) {
    const rest = path.slice('/trpc/'.length);
    const names = batch ? rest.split(',') : [rest];
    if (names.length > maxBatch) return ['unknown'];
    return names.map((n) => (procedures.has(n) ? n : 'unknown'));
  }
  if (EXACT.has(path)) return [path];
  const prefix = PREFIXES.find((p) => path.startsWith(p));
  return [prefix ? `${prefix}*` : 'other'];
}

/**
 * Times every request to its response's headers (a streamed body is not waited for) into
 * `lora_http_request_duration_seconds{procedure,status}`; a batch is observed once per call it carries,
 * each with the batch's duration and HTTP status. Errors are timed too: `app.onError` has set the
 * response by the time `next()` returns.
 */
export function requestMetrics(metrics: Metrics, procedureNames: readonly string[], maxBatch: number): MiddlewareHandler {
  const procedures = new Set(procedureNames);
  return async (c, next) => {
    const start = performance.now();
    await next();
    const seconds = (performance.now() - start) / 1000;
    const status = String(c.res.status);
    for (const procedure of requestLabels(c.req.path, c.req.query('batch') === '1', procedures, maxBatch)) {
      metrics.httpRequestDuration.observe({ procedure, status }, seconds);
    }
  };
}
