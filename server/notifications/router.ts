import { and, count, desc, eq, inArray, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { notifications } from '../../db/schema';
import { protectedProcedure, router } from '../trpc/init';

export const notificationsRouter = router({
  list: protectedProcedure
    .input(z.object({ unreadOnly: z.boolean().optional(), limit: z.number().int().min(1).max(100).default(30) }).default({ limit: 30 }))
    .query(({ ctx, input }) =>
      ctx.deps.database.asUser(ctx.user.id, async (tx) => {
        const mine = eq(notifications.userId, ctx.user.id);
        const rows = await tx
          .select({
            id: notifications.id,
            type: notifications.type,
            title: notifications.title,
            body: notifications.body,
            link: notifications.link,
            readAt: notifications.readAt,
            createdAt: notifications.createdAt,
          })
          .from(notifications)
          .where(input.unreadOnly ? and(mine, isNull(notifications.readAt)) : mine)
          .orderBy(desc(notifications.createdAt), desc(notifications.id))
          .limit(input.limit);
        const [unread] = await tx.select({ n: count() }).from(notifications).where(and(mine, isNull(notifications.readAt)));
        return { notifications: rows, unreadCount: unread?.n ?? 0 };
      }),
    ),

  markRead: protectedProcedure
    .input(z.object({ ids: z.array(z.uuid()).min(1).max(500) }))
    .mutation(({ ctx, input }) =>
      ctx.deps.database.asUser(ctx.user.id, async (tx) => {
        const rows = await tx
          .update(notifications)
          .set({ readAt: new Date() })
          .where(and(eq(notifications.userId, ctx.user.id), inArray(notifications.id, input.ids), isNull(notifications.readAt)))
          .returning({ id: notifications.id });
        return { updated: rows.length };
      }),
    ),
});
