import { protectedProcedure, router } from '../trpc/init.ts';
import { downloadInput, listModelsInput, modelIdInput } from './schemas.ts';
import * as models from './service.ts';

export const modelsRouter = router({
  list: protectedProcedure.input(listModelsInput).query(({ ctx, input }) => models.listModels(ctx.deps, ctx.user.id, input)),
  get: protectedProcedure.input(modelIdInput).query(({ ctx, input }) => models.getModel(ctx.deps, ctx.user.id, input.modelId)),
  // A mutation: it records the download.
  download: protectedProcedure
    .input(downloadInput)
    .mutation(({ ctx, input }) => models.downloadModel(ctx.deps, ctx.user.id, input, { ip: ctx.ip, userAgent: ctx.userAgent })),
});
