import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../db-unavailable.ts';
import { AppError, FieldError, toTRPCError } from '../errors.ts';
import type { Context } from './context.ts';

/**
 * zod's flattened errors, keyed by the field's dotted path (`filter.search`, `fileIds`) so a nested
 * field is named, not just its top-level object. Array indexes are left out of the key.
 */
function fieldErrors(err: ZodError): { formErrors: string[]; fieldErrors: Record<string, string[]> } {
  const formErrors: string[] = [];
  const fields: Record<string, string[]> = {};
  for (const issue of err.issues) {
    const key = issue.path
      .filter((p) => typeof p !== 'number')
      .map(String)
      .join('.');
    if (!key) formErrors.push(issue.message);
    else fields[key] = [...(fields[key] ?? []), issue.message];
  }
  return { formErrors, fieldErrors: fields };
}

const t = initTRPC.context<Context>().create({
  // Never hand stack traces to a client, whatever NODE_ENV says.
  isDev: false,
  // The envelope keeps tRPC's wire format (`data.code`, `data.httpStatus`, `data.zodError`, read by web/ and
  // integrators) and adds `data.requestId`, the id of the log line and of the plain HTTP routes' envelope.
  // It is null only when the context itself could not be built (the database was down while resolving the caller).
  errorFormatter({ shape, error, ctx }) {
    const zod =
      error.cause instanceof ZodError
        ? fieldErrors(error.cause)
        : error.cause instanceof FieldError
          ? { formErrors: [], fieldErrors: { [error.cause.field]: [error.cause.message] } }
          : null;
    const { stack: _stack, ...data } = shape.data as typeof shape.data & { stack?: string };
    return {
      ...shape,
      message: error.code === 'INTERNAL_SERVER_ERROR' && !(error.cause instanceof AppError) ? 'Something went wrong on our side.' : shape.message,
      data: { ...data, zodError: zod, requestId: ctx?.requestId ?? null },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Turns AppError (and anything unexpected) into a TRPCError once, at the edge. */
const errors = t.middleware(async ({ next, ctx, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    // The database being down is the caller's cue to retry (503, by toTRPCError), not a bug to log as one.
    const outage = isDatabaseUnavailable(cause);
    if (result.error.code === 'INTERNAL_SERVER_ERROR' && cause && !(cause instanceof AppError) && !outage) {
      ctx.deps.log.error('procedure failed', { path, requestId: ctx.requestId, err: cause });
    }
    if (cause instanceof AppError || outage) (result as { error: unknown }).error = toTRPCError(cause);
  }
  return result;
});

/** Anyone: the share-link and invitation pages, whose token is the credential. */
export const publicProcedure = t.procedure.use(errors);

/** What a read-scoped API token may call besides queries: the downloads (mutations only because they are recorded). */
const READ_TOKEN_MUTATIONS = new Set(['models.download', 'models.downloadMany']);

/** A signed-in user (session cookie or personal API token). */
export const protectedProcedure = publicProcedure.use(({ ctx, next, type, path }) => {
  if (!ctx.user) throw toTRPCError(new AppError('UNAUTHORIZED', 'Sign in, or send a valid API token.'));
  // Row-level security caps a read token at viewer too; this refuses every other change up front, even
  // those outside a workspace (notifications, invitations).
  if (ctx.user.token?.scope === 'read' && type === 'mutation' && !READ_TOKEN_MUTATIONS.has(path)) {
    throw toTRPCError(new AppError('FORBIDDEN', 'This API token is read-only.'));
  }
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/** A GPU training worker holding the token that jobs.create returned for one job. */
export const workerProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.worker) throw toTRPCError(new AppError('UNAUTHORIZED', 'This call needs the worker token of a training job.'));
  return next({ ctx: { ...ctx, worker: ctx.worker } });
});
