import { z } from 'zod';
import { family } from '../registry/schemas.ts';

const uuid = z.uuid();

/** A job config is stored, listed and copied onto its model: bounded so no one can make those heavy. */
export const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_CONFIG_DEPTH = 20;

/**
 * Nesting depth of a JSON value (a scalar is 0, `{}` is 1), walked with an explicit stack so a
 * 50,000-deep value cannot overflow ours; stops as soon as it passes `limit`.
 */
function jsonDepthOver(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Hyperparameters: the named ones are checked, anything else a trainer sends is kept as given (bounded). */
export const jobConfig = z
  .looseObject({
    baseModel: z.string().trim().min(1).max(200),
    loraRank: z.number().int().min(1).max(4096),
    loraAlpha: z.number().positive().max(65536),
    learningRate: z.number().positive().max(1),
    epochs: z.number().int().min(1).max(10_000),
    batchSize: z.number().int().min(1).max(65_536),
  })
  .superRefine((config, ctx) => {
    if (jsonDepthOver(config, MAX_CONFIG_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `is nested more than ${MAX_CONFIG_DEPTH} levels deep` });
      return;
    }
    // Safe to serialise now: the depth is bounded.
    const bytes = Buffer.byteLength(JSON.stringify(config));
    if (bytes > MAX_CONFIG_BYTES) ctx.addIssue({ code: 'custom', message: `is ${bytes} bytes as JSON; at most ${MAX_CONFIG_BYTES} are accepted` });
  });

export const gpuConfig = z.object({
  type: z.string().trim().min(1).max(100),
  count: z.number().int().min(1).max(1024),
});

export const createJobInput = z.object({
  /** The workspace to train in; default the caller's personal one (or a token's own). */
  workspaceId: uuid.optional(),
  datasetId: uuid,
  name: z.string().trim().min(1).max(200),
  /** The family its model joins (`support-bot`); default: the name made a slug. */
  family: family.optional(),
  config: jobConfig,
  gpu: gpuConfig,
});

/** JSON cannot carry NaN or Infinity, and a diverged run reports them: accept them spelled out. */
const loss = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);

/** The smallest positive normal float4 (Postgres `real`): a nonzero epoch below it cannot be stored. */
const FLOAT4_MIN_NORMAL = 1.1754943508222875e-38;

export const metricsPoint = z.object({
  step: z.number().int().min(0).max(2_000_000_000),
  // Stored as `real`: Postgres refuses values that underflow it (1e-50) rather than rounding them.
  epoch: z
    .number()
    .min(0)
    .max(1_000_000)
    .refine((v) => v === 0 || v >= FLOAT4_MIN_NORMAL, 'is too small to store; send 0 or a value of at least 1e-38')
    .optional(),
  trainingLoss: loss,
  validationLoss: loss.nullable().optional(),
  learningRate: z.number().min(0).max(100).optional(),
});

export const reportMetricsInput = z.object({
  jobId: uuid,
  points: z.array(metricsPoint).min(1).max(10_000),
});

const OUTPUT_SCHEMES = ['file:', 's3:', 'https:', 'http:'];
const outputUri = z
  .string()
  .trim()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (
        OUTPUT_SCHEMES.includes(u.protocol) && (u.protocol !== 'file:' || u.pathname.startsWith('/')) && (u.protocol === 'file:' || u.hostname !== '')
      );
    } catch {
      return false;
    }
  }, 'must be file:///absolute/dir, s3://bucket/prefix or https://host/path/');

export const completeJobInput = z.object({
  jobId: uuid,
  outputUri,
  summary: z.object({
    epochsCompleted: z.number().int().min(0).max(10_000_000),
    totalSteps: z.number().int().min(0).max(2_000_000_000),
    durationSeconds: z
      .number()
      .min(0)
      .max(10 * 365 * 86400),
    costUsd: z.number().min(0).max(100_000_000),
  }),
});

export const jobIdInput = z.object({ jobId: uuid });
export const failJobInput = z.object({ jobId: uuid, error: z.string().trim().min(1).max(10_000) });
