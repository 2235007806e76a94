import { z } from 'zod';
import { protectedProcedure, router } from '../trpc/init.ts';
import * as tokens from './service.ts';

const name = z.string().trim().min(1).max(100);

/** Personal API tokens for programmatic clients: shown once, stored hashed, revocable. */
export const tokensRouter = router({
  create: protectedProcedure.input(z.object({ name })).mutation(({ ctx, input }) => tokens.createToken(ctx.deps, ctx.user.id, input.name)),
  list: protectedProcedure.query(({ ctx }) => tokens.listTokens(ctx.deps, ctx.user.id)),
  revoke: protectedProcedure.input(z.object({ id: z.uuid() })).mutation(({ ctx, input }) => tokens.revokeToken(ctx.deps, ctx.user.id, input.id)),
});
