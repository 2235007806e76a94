/**
 * Input schemas of the registry's procedures (issue 11), mounted on modelsRouter and workspacesRouter.
 * One section per feature; each feature's service imports its own.
 */
import { z } from 'zod';
import { workspaceIdInput } from '../workspaces/schemas.ts';
import { ALIAS_PATTERN, FAMILY_PATTERN, looksLikeVersion, type ModelRef, parseRef } from './refs.ts';
import type { ModelTarget } from './versions.ts';

/** Lower case, so `A…` and `a…` are one id (Postgres compares uuids without case) and distinctness is exact. */
const modelId = z.uuid().transform((id) => id.toLowerCase());

/** `min` to `max` distinct model ids; a repeated id is refused (BAD_REQUEST naming `modelIds`). */
function distinctModelIds(min: number, max: number) {
  return z
    .array(modelId)
    .min(min)
    .max(max)
    .refine((ids) => new Set(ids).size === ids.length, 'must not name a model twice');
}

// --- compare (models.compare) ---

/** The most models one compare lays side by side (the compare page overlays their curves in one chart). */
const MAX_COMPARE = 4;

export const compareInput = z.object({
  modelIds: distinctModelIds(2, MAX_COMPARE),
  /** Every hyperparameter and adapter row, not only those that differ. */
  allHyperparameters: z.boolean().default(false),
});

// --- several models in one download (models.downloadMany) ---

/** The most models one zip carries: its link names every id, and its listing reads each model's files. */
export const MAX_DOWNLOAD_MANY = 50;

export const downloadManyInput = z.object({ modelIds: distinctModelIds(1, MAX_DOWNLOAD_MANY) });

// --- versions and aliases (models.versions, setAlias, removeAlias, resolve; `ref` on models.get and models.download) ---

/** A family name (refs.ts FAMILY_PATTERN): jobs.create's `family`, and every call naming a family. */
export const family = z.string().regex(FAMILY_PATTERN, 'must be a family name: a-z or 0-9, then also . _ - (at most 64 characters)');

const alias = z
  .string()
  .regex(ALIAS_PATTERN, 'must be an alias: a lower-case letter, then a-z, 0-9, _ or - (at most 32 characters)')
  .refine((a) => !looksLikeVersion(a), 'must not look like a version (v3): family@v3 names a version');

/** A reference (refs.ts), parsed here: the service gets a ModelRef, and a malformed one is BAD_REQUEST naming its field. */
const modelRef = z
  .string()
  .max(200)
  .transform((text, ctx) => {
    const ref = parseRef(text);
    if (!ref) {
      ctx.addIssue({ code: 'custom', message: 'must be a model id, family, family@v3 or family@alias' });
      return z.NEVER;
    }
    return ref;
  });

export const versionsInput = z.object({ family, workspaceId: workspaceIdInput });

export const aliasInput = z.object({ modelId, alias });

export const resolveInput = z
  .object({ family, alias: alias.optional(), version: z.number().int().min(1).max(999_999_999).optional(), workspaceId: workspaceIdInput })
  .refine((i) => i.alias === undefined || i.version === undefined, { path: ['version'], message: 'give an alias or a version, not both' })
  .transform(
    (i): ModelTarget => ({
      ref:
        i.alias !== undefined
          ? { kind: 'alias', family: i.family, alias: i.alias }
          : i.version !== undefined
            ? { kind: 'version', family: i.family, version: i.version }
            : { kind: 'latest', family: i.family },
      workspaceId: i.workspaceId,
    }),
  );

/**
 * The model a call names: `modelId`, or `ref` (any form of the grammar) with `workspaceId` for the family
 * forms. Spread into an object and refine it with `exactlyOneTarget`.
 */
export const targetFields = { modelId: modelId.optional(), ref: modelRef.optional(), workspaceId: workspaceIdInput };

/** `targetFields`' rule: exactly one of `modelId` and `ref` (BAD_REQUEST naming `ref`). */
export function exactlyOneTarget<S extends z.ZodType<{ modelId?: string | undefined; ref?: ModelRef | undefined }>>(schema: S): S {
  return schema.refine((i) => (i.modelId === undefined) !== (i.ref === undefined), {
    path: ['ref'],
    message: 'give exactly one of modelId and ref',
  });
}

// --- edit and trash (models.update, delete, restore, purge; the catalogue's tag filter) ---

/** A tag: lower case (any case is accepted and stored lower), no spaces, at most 32 characters. */
const TAG_PATTERN = /^[a-z0-9][a-z0-9._:+-]{0,31}$/;

/** At most this many tags on a model (and in one catalogue filter). */
const MAX_TAGS = 20;

const tag = z
  .string()
  .max(32, 'a tag has at most 32 characters')
  .toLowerCase()
  .regex(TAG_PATTERN, 'a tag is letters, digits and . _ : + - (no spaces), starting with a letter or digit');

/** Up to 20 tags, lower-cased, duplicates collapsed (first occurrence kept). */
export const tagsInput = z
  .array(tag)
  .max(MAX_TAGS)
  .transform((tags) => [...new Set(tags)]);

export const updateModelInput = z.object({
  modelId,
  name: z.string().trim().min(1).max(200).optional(),
  description: z.string().max(2000).optional(),
  /** Replaces the model's tags (an empty list clears them). */
  tags: tagsInput.optional(),
});

/** The models one delete, restore or purge acts on; all or nothing. */
export const trashInput = z.object({ modelIds: distinctModelIds(1, 100) });

// --- checkpoints kept by quality and storage usage (workspaces.update, models.pruneCheckpoints, promoteCheckpoint, workspaces.usage) ---

/** N best checkpoints: 1..999 (workspaces.keep_checkpoints CHECKs the same). */
const keepCount = z.number().int().min(1).max(999);

export const workspaceSettingsInput = z.object({
  workspaceId: z.uuid(),
  settings: z.object({
    /** Which checkpoints an ingest keeps: `all` (default), `best`, `best+final` or the N best by validation loss. */
    keepCheckpoints: z
      .union([z.enum(['all', 'best', 'best+final']), keepCount], { error: "must be 'all', 'best', 'best+final' or a number from 1 to 999" })
      .optional(),
    /** Whether an ingest also copies .git/, runs/ (TensorBoard), wandb/, unsloth's caches and tmp-checkpoint-* (default false: skipped and listed). */
    includeSkipped: z.boolean({ error: 'must be true or false' }).optional(),
  }),
});

export const pruneCheckpointsInput = z.object({
  modelId,
  keep: z.union([z.enum(['best', 'best+final']), keepCount], { error: "must be 'best', 'best+final' or a number from 1 to 999" }),
});

export const promoteCheckpointInput = z.object({
  modelId,
  /** A checkpoint folder of the model (`checkpoint-500`), or `final` for the run's own adapter. */
  checkpoint: z.string().min(1).max(255),
});

export const usageInput = z.object({ workspaceId: workspaceIdInput }).default({});
