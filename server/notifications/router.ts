import { z } from 'zod';
import { protectedProcedure, router } from '../trpc/init.ts';
import * as notifications from './service.ts';

export const notificationsRouter = router({
  list: protectedProcedure
    .input(
      z
        .object({
          unreadOnly: z.boolean().optional(),
          limit: z.number().int().min(1).max(100).default(30),
          /** The previous page's `nextCursor`: the id of its last notification. */
          cursor: z.uuid().nullish(),
        })
        .default({ limit: 30 }),
    )
    .query(({ ctx, input }) => notifications.listNotifications(ctx.deps, ctx.user.userId, input)),

  markRead: protectedProcedure
    .input(z.object({ ids: z.array(z.uuid()).min(1).max(500) }))
    .mutation(({ ctx, input }) => notifications.markRead(ctx.deps, ctx.user.userId, input.ids)),

  markAllRead: protectedProcedure.mutation(({ ctx }) => notifications.markAllRead(ctx.deps, ctx.user.userId)),
});
