import { shareModel, unshareModel } from '../shares/service.ts';
import { protectedProcedure, router } from '../trpc/init.ts';
import { downloadInput, downloadsInput, exportInput, getModelInput, listModelsInput, modelIdInput, shareInput } from './schemas.ts';
import { listExports, requestExport } from '../adapters/export.ts';
import * as models from './service.ts';
import * as versions from '../registry/versions.ts';
import { aliasInput, resolveInput, versionsInput } from '../registry/schemas.ts';
import { compare } from '../registry/compare.ts';
import { downloadMany } from '../registry/download-many.ts';
import { compareInput, downloadManyInput } from '../registry/schemas.ts';
import * as checkpoints from '../registry/checkpoints.ts';
import { promoteCheckpointInput, pruneCheckpointsInput } from '../registry/schemas.ts';
import { updateModel } from '../registry/edit.ts';
import * as trash from '../registry/trash.ts';
import { trashInput, updateModelInput } from '../registry/schemas.ts';

export const modelsRouter = router({
  list: protectedProcedure.input(listModelsInput).query(({ ctx, input }) => models.listModels(ctx.deps, ctx.user, input)),
  get: protectedProcedure.input(getModelInput).query(({ ctx, input }) => models.getModel(ctx.deps, ctx.user, input)),
  // A mutation: it records the download.
  download: protectedProcedure
    .input(downloadInput)
    .mutation(({ ctx, input }) => models.downloadModel(ctx.deps, ctx.user, input, { ip: ctx.ip, userAgent: ctx.userAgent })),
  // Who downloaded which files, and when (any member of the model's workspace).
  downloads: protectedProcedure.input(downloadsInput).query(({ ctx, input }) => models.listDownloads(ctx.deps, ctx.user, input)),
  share: protectedProcedure.input(shareInput).mutation(({ ctx, input }) => shareModel(ctx.deps, ctx.user, input)),
  unshare: protectedProcedure.input(modelIdInput).mutation(({ ctx, input }) => unshareModel(ctx.deps, ctx.user, input.modelId)),
  compare: protectedProcedure.input(compareInput).query(({ ctx, input }) => compare(ctx.deps, ctx.user, input)),
  // A mutation like download: it hands out a signed link (each model's download is recorded when the zip is fetched).
  downloadMany: protectedProcedure.input(downloadManyInput).mutation(({ ctx, input }) => downloadMany(ctx.deps, ctx.user, input)),
  versions: protectedProcedure.input(versionsInput).query(({ ctx, input }) => versions.listVersions(ctx.deps, ctx.user, input)),
  setAlias: protectedProcedure.input(aliasInput).mutation(({ ctx, input }) => versions.setAlias(ctx.deps, ctx.user, input)),
  removeAlias: protectedProcedure.input(aliasInput).mutation(({ ctx, input }) => versions.removeAlias(ctx.deps, ctx.user, input)),
  // The model as models.get answers it, found by family and alias or version (neither: the latest).
  resolve: protectedProcedure.input(resolveInput).query(({ ctx, input }) => models.getModel(ctx.deps, ctx.user, input)),
  pruneCheckpoints: protectedProcedure
    .input(pruneCheckpointsInput)
    .mutation(({ ctx, input }) => checkpoints.pruneCheckpoints(ctx.deps, ctx.user, input)),
  promoteCheckpoint: protectedProcedure
    .input(promoteCheckpointInput)
    .mutation(({ ctx, input }) => checkpoints.promoteCheckpoint(ctx.deps, ctx.user, input)),
  update: protectedProcedure.input(updateModelInput).mutation(({ ctx, input }) => updateModel(ctx.deps, ctx.user, input)),
  delete: protectedProcedure.input(trashInput).mutation(({ ctx, input }) => trash.deleteModels(ctx.deps, ctx.user, input.modelIds)),
  restore: protectedProcedure.input(trashInput).mutation(({ ctx, input }) => trash.restoreModels(ctx.deps, ctx.user, input.modelIds)),
  purge: protectedProcedure.input(trashInput).mutation(({ ctx, input }) => trash.purgeNow(ctx.deps, ctx.user, input.modelIds)),
  // A GGUF for llama.cpp and Ollama, made by a job; asking again for the same content is the same export.
  export: protectedProcedure.input(exportInput).mutation(({ ctx, input }) => requestExport(ctx.deps, ctx.user, input)),
  exports: protectedProcedure.input(modelIdInput).query(({ ctx, input }) => listExports(ctx.deps, ctx.user, input)),
});
