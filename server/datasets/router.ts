import { z } from 'zod';
import { protectedProcedure, router } from '../trpc/init.ts';
import { workspaceIdInput } from '../workspaces/schemas.ts';
import * as datasets from './service.ts';

export const datasetsRouter = router({
  create: protectedProcedure
    .input(
      z.object({
        workspaceId: workspaceIdInput,
        name: z.string().trim().min(1).max(200),
        format: z.string().trim().min(1).max(50).optional(),
        rowCount: z.number().int().min(0).max(2_000_000_000).optional(),
      }),
    )
    .mutation(({ ctx, input }) => datasets.createDataset(ctx.deps, ctx.user, input)),

  list: protectedProcedure
    .input(z.object({ workspaceId: workspaceIdInput }).optional())
    .query(({ ctx, input }) => datasets.listDatasets(ctx.deps, ctx.user, input ?? {})),
});
