import { z } from 'zod';
import { CONVERGENCE_LABELS } from '../vocabulary.ts';
import { exactlyOneTarget, tagsInput, targetFields } from '../registry/schemas.ts';

const convergence = z.enum(CONVERGENCE_LABELS);

/**
 * An ISO timestamp Postgres can compare against: zod accepts year 0000, which has no timestamptz
 * (there is no year 0), and 9999 is far enough for any filter.
 */
const filterDate = z.iso
  .datetime({ offset: true })
  .refine((v) => Number(v.slice(0, 4)) >= 1 && Number.isFinite(Date.parse(v)), 'must be a date from year 0001 to 9999');

export const listModelsInput = z
  .object({
    /** Default: the caller's personal workspace (or an API token's own). */
    workspaceId: z.uuid().optional(),
    page: z.number().int().min(1).max(1_000_000).default(1),
    limit: z.number().int().min(1).max(100).default(12),
    sort: z.enum(['recent', 'quality']).default('recent'),
    /** Opaque keyset cursor from a previous page's nextCursor; fast however deep. */
    cursor: z.string().max(500).nullish(),
    filter: z
      .object({
        minScore: z.number().int().min(1).max(5).optional(),
        convergence: convergence.optional(),
        datasetId: z.uuid().optional(),
        createdAfter: filterDate.optional(),
        createdBefore: filterDate.optional(),
        /** Matches the name or the description. */
        search: z.string().trim().max(200).optional(),
        /** Models carrying every one of these tags. */
        tags: tagsInput.optional(),
        /** The trash instead of the catalogue: only models deleted and not yet purged, each with its deletedAt. */
        deleted: z.boolean().optional(),
      })
      .optional(),
  })
  .default({ page: 1, limit: 12, sort: 'recent' });

export const modelIdInput = z.object({ modelId: z.uuid() });

/** models.downloads: a model's download history, 20 a page; `cursor` is a previous page's nextCursor. */
export const downloadsInput = z.object({ modelId: z.uuid(), cursor: z.string().max(200).nullish() });

export const shareInput = z.object({ modelId: z.uuid(), expiresInDays: z.number().int().min(1).max(90).default(7) });

/** models.get: `{ modelId }` or `{ ref, workspaceId? }` (server/registry/refs.ts). */
export const getModelInput = exactlyOneTarget(z.object(targetFields));

/** `{ modelId }` or `{ ref, workspaceId? }`, as models.get. */
export const downloadInput = exactlyOneTarget(
  z.object({
    ...targetFields,
    fileIds: z.array(z.uuid()).min(1).max(2000).optional(),
    /** Only the zip's link (every file): nothing is recorded until the zip is fetched, which records one download. */
    bundleOnly: z.boolean().optional(),
  }),
);

export type ListModelsInput = z.infer<typeof listModelsInput>;

/** models.export: the model's main adapter (or one checkpoint folder's, `checkpoint-500`) as a llama.cpp LoRA GGUF. */
export const exportInput = z.object({
  modelId: z.uuid(),
  format: z.enum(['gguf']),
  checkpoint: z.string().min(1).max(255).optional(),
});
