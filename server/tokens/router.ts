import { z } from 'zod';
import { protectedProcedure, router } from '../trpc/init.ts';
import { workspaceIdInput } from '../workspaces/schemas.ts';
import * as tokens from './service.ts';

const name = z.string().trim().min(1).max(100);

/** API tokens for programmatic clients: one workspace each, read or write, shown once, stored hashed, revocable. */
export const tokensRouter = router({
  create: protectedProcedure
    .input(
      z.object({
        name,
        workspaceId: workspaceIdInput,
        scope: z.enum(['read', 'write']).optional(),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
      }),
    )
    .mutation(({ ctx, input }) => tokens.createToken(ctx.deps, ctx.user, input)),
  list: protectedProcedure
    .input(z.object({ workspaceId: workspaceIdInput }).optional())
    .query(({ ctx, input }) => tokens.listTokens(ctx.deps, ctx.user, input ?? {})),
  revoke: protectedProcedure.input(z.object({ id: z.uuid() })).mutation(({ ctx, input }) => tokens.revokeToken(ctx.deps, ctx.user, input.id)),
});
