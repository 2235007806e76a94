import { initTRPC } from '@trpc/server';
import { ZodError, z } from 'zod';
import { AppError, toTRPCError } from '../errors';
import type { Context } from './context';

const t = initTRPC.context<Context>().create({
  // Never hand stack traces to a client, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? z.flattenError(error.cause) : null;
    const { stack: _stack, ...data } = shape.data as typeof shape.data & { stack?: string };
    return {
      ...shape,
      message: error.code === 'INTERNAL_SERVER_ERROR' && !(error.cause instanceof AppError) ? 'Something went wrong on our side.' : shape.message,
      data: { ...data, zodError: zod },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

/** Turns AppError (and anything unexpected) into a TRPCError once, at the edge. */
const errors = t.middleware(async ({ next, ctx, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (result.error.code === 'INTERNAL_SERVER_ERROR' && cause && !(cause instanceof AppError)) {
      ctx.deps.log.error('procedure failed', { path, requestId: ctx.requestId, err: cause });
    }
    if (cause instanceof AppError) (result as { error: unknown }).error = toTRPCError(cause);
  }
  return result;
});

export const publicProcedure = t.procedure.use(errors);

/** A signed-in user (session cookie or personal API token). */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw toTRPCError(new AppError('UNAUTHORIZED', 'Sign in, or send a valid API token.'));
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/** A GPU training worker holding the token that jobs.create returned for one job. */
export const workerProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.worker) throw toTRPCError(new AppError('UNAUTHORIZED', 'This call needs the worker token of a training job.'));
  return next({ ctx: { ...ctx, worker: ctx.worker } });
});
