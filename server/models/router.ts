import { shareModel, unshareModel } from '../shares/service.ts';
import { protectedProcedure, router } from '../trpc/init.ts';
import { downloadInput, listModelsInput, modelIdInput, shareInput } from './schemas.ts';
import * as models from './service.ts';

export const modelsRouter = router({
  list: protectedProcedure.input(listModelsInput).query(({ ctx, input }) => models.listModels(ctx.deps, ctx.user, input)),
  get: protectedProcedure.input(modelIdInput).query(({ ctx, input }) => models.getModel(ctx.deps, ctx.user, input.modelId)),
  // A mutation: it records the download.
  download: protectedProcedure
    .input(downloadInput)
    .mutation(({ ctx, input }) => models.downloadModel(ctx.deps, ctx.user, input, { ip: ctx.ip, userAgent: ctx.userAgent })),
  share: protectedProcedure.input(shareInput).mutation(({ ctx, input }) => shareModel(ctx.deps, ctx.user, input)),
  unshare: protectedProcedure.input(modelIdInput).mutation(({ ctx, input }) => unshareModel(ctx.deps, ctx.user, input.modelId)),
});
