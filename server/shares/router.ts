import { z } from 'zod';
import { publicProcedure, router } from '../trpc/init.ts';
import * as shares from './service.ts';

const token = z.string().min(1).max(200);

/** The public side of share links: anyone holding the link, signed in or not. */
export const sharesRouter = router({
  get: publicProcedure.input(z.object({ token })).query(({ ctx, input }) => shares.getShared(ctx.deps, input.token)),
  // A mutation: it records the download.
  download: publicProcedure
    .input(z.object({ token, fileIds: z.array(z.uuid()).min(1).max(2000).optional(), bundleOnly: z.boolean().optional() }))
    .mutation(({ ctx, input }) => shares.downloadShared(ctx.deps, input, { ip: ctx.ip, userAgent: ctx.userAgent })),
});
