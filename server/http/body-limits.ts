/**
 * Request-size limits: a request body is read whole (tRPC and auth parse JSON), so each route gets a
 * cap that its largest honest request fits in, and a tRPC batch holds at most MAX_BATCH_CALLS calls.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ERRORS, errorResponse } from '../errors.ts';

/** The most calls one tRPC batch may carry (the dashboard's httpBatchLink sends at most this many). */
export const MAX_BATCH_CALLS = 10;

export const BODY_LIMITS = {
  /** Every tRPC call but reportMetrics: a job config is at most 64 KB, everything else far smaller. */
  trpc: 1024 * 1024,
  /** jobs.reportMetrics: 10,000 points with every number at full length measured at 1.56 MB. */
  reportMetrics: 4 * 1024 * 1024,
  /** Sign-up, sign-in and the rest of /api/auth: a few short fields. */
  auth: 64 * 1024,
} as const;

const tooLarge = (limit: number) => (c: Context) => {
  const requestId = c.get('requestId') as string | undefined;
  return errorResponse(ERRORS.payloadTooLarge(`The request body is over the ${limit / 1024} KiB this endpoint accepts.`), requestId);
};

const limiter = (maxSize: number) => bodyLimit({ maxSize, onError: tooLarge(maxSize) });

/** For `/trpc/*`: 1 MiB, or 4 MiB when every call of the request is jobs.reportMetrics. */
export function trpcBodyLimit(): MiddlewareHandler {
  const normal = limiter(BODY_LIMITS.trpc);
  const metrics = limiter(BODY_LIMITS.reportMetrics);
  return (c, next) => {
    const paths = c.req.path.replace(/^\/trpc\//, '').split(',');
    return paths.every((p) => p === 'jobs.reportMetrics') ? metrics(c, next) : normal(c, next);
  };
}

/** For `/api/auth/*`. */
export function authBodyLimit(): MiddlewareHandler {
  return limiter(BODY_LIMITS.auth);
}
