import { z } from 'zod';

const uuid = z.uuid();

/** Hyperparameters: the named ones are checked, anything else a trainer sends is kept as given. */
export const jobConfig = z.looseObject({
  baseModel: z.string().trim().min(1).max(200),
  loraRank: z.number().int().min(1).max(4096),
  loraAlpha: z.number().positive().max(65536),
  learningRate: z.number().positive().max(1),
  epochs: z.number().int().min(1).max(10_000),
  batchSize: z.number().int().min(1).max(65_536),
});

export const gpuConfig = z.object({
  type: z.string().trim().min(1).max(100),
  count: z.number().int().min(1).max(1024),
});

export const createJobInput = z.object({
  datasetId: uuid,
  name: z.string().trim().min(1).max(200),
  config: jobConfig,
  gpu: gpuConfig,
});

/** JSON cannot carry NaN or Infinity, and a diverged run reports them: accept them spelled out. */
const loss = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);

export const metricsPoint = z.object({
  step: z.number().int().min(0).max(2_000_000_000),
  epoch: z.number().min(0).max(1_000_000).optional(),
  trainingLoss: loss,
  validationLoss: loss.nullable().optional(),
  learningRate: z.number().min(0).max(100).optional(),
});

export const reportMetricsInput = z.object({
  jobId: uuid,
  points: z.array(metricsPoint).min(1).max(10_000),
});

const OUTPUT_SCHEMES = ['file:', 's3:', 'https:', 'http:'];
export const outputUri = z
  .string()
  .trim()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return OUTPUT_SCHEMES.includes(u.protocol) && (u.protocol !== 'file:' || u.pathname.startsWith('/')) && (u.protocol === 'file:' || u.hostname !== '');
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
    durationSeconds: z.number().min(0).max(10 * 365 * 86400),
    costUsd: z.number().min(0).max(100_000_000),
  }),
});

export const jobIdInput = z.object({ jobId: uuid });
export const failJobInput = z.object({ jobId: uuid, error: z.string().trim().min(1).max(10_000) });
