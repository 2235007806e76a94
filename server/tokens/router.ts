import { and, desc, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { apiTokens } from '../../db/schema';
import { API_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens';
import { ERRORS } from '../errors';
import { protectedProcedure, router } from '../trpc/init';

const name = z.string().trim().min(1).max(100);

/** Personal API tokens for programmatic clients: shown once, stored hashed, revocable. */
export const tokensRouter = router({
  create: protectedProcedure.input(z.object({ name })).mutation(async ({ ctx, input }) => {
    const token = generateToken(API_TOKEN_PREFIX);
    const [row] = await ctx.deps.database.asUser(ctx.user.id, (tx) =>
      tx
        .insert(apiTokens)
        .values({ userId: ctx.user.id, name: input.name, tokenHash: hashToken(token), prefix: token.slice(0, 10) })
        .returning({ id: apiTokens.id }),
    );
    return { id: row!.id, token };
  }),

  list: protectedProcedure.query(({ ctx }) =>
    ctx.deps.database.asUser(ctx.user.id, (tx) =>
      tx
        .select({
          id: apiTokens.id,
          name: apiTokens.name,
          prefix: apiTokens.prefix,
          lastUsedAt: apiTokens.lastUsedAt,
          revokedAt: apiTokens.revokedAt,
          createdAt: apiTokens.createdAt,
        })
        .from(apiTokens)
        .where(eq(apiTokens.userId, ctx.user.id))
        .orderBy(desc(apiTokens.createdAt)),
    ),
  ),

  revoke: protectedProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    return ctx.deps.database.asUser(ctx.user.id, async (tx) => {
      const [row] = await tx
        .select({ id: apiTokens.id, revokedAt: apiTokens.revokedAt })
        .from(apiTokens)
        .where(and(eq(apiTokens.id, input.id), eq(apiTokens.userId, ctx.user.id)));
      if (!row) throw ERRORS.notFound('Token');
      if (row.revokedAt) return { id: row.id, revokedAt: row.revokedAt };
      const [updated] = await tx
        .update(apiTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiTokens.id, input.id), eq(apiTokens.userId, ctx.user.id), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id, revokedAt: apiTokens.revokedAt });
      return { id: updated!.id, revokedAt: updated!.revokedAt };
    });
  }),
});
