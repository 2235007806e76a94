import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { datasets } from '../../db/schema';
import { protectedProcedure, router } from '../trpc/init';

export const datasetsRouter = router({
  create: protectedProcedure
    .input(
      z.object({
        name: z.string().trim().min(1).max(200),
        format: z.string().trim().min(1).max(50).optional(),
        rowCount: z.number().int().min(0).max(2_000_000_000).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const [row] = await ctx.deps.database.asUser(ctx.user.id, (tx) =>
        tx
          .insert(datasets)
          .values({ userId: ctx.user.id, name: input.name, format: input.format ?? null, rowCount: input.rowCount ?? null })
          .returning({ id: datasets.id }),
      );
      return { id: row!.id };
    }),

  list: protectedProcedure.query(({ ctx }) =>
    ctx.deps.database.asUser(ctx.user.id, (tx) =>
      tx
        .select({ id: datasets.id, name: datasets.name, format: datasets.format, rowCount: datasets.rowCount, createdAt: datasets.createdAt })
        .from(datasets)
        .where(eq(datasets.userId, ctx.user.id))
        .orderBy(desc(datasets.createdAt)),
    ),
  ),
});
