import fs from 'node:fs';
import path from 'node:path';
import { lossCurve, writeLoraOutput } from '../fixtures/lora.ts';
import { client, type TestService } from './service.ts';
import { sampleJobConfig } from './factories.ts';

type Api = ReturnType<typeof client>;

/** The folder a job's output goes to by default: the service's first output root, `<DATA_DIR>/outputs/<jobId>`. */
export function outputFolder(svc: TestService, jobId: string): string {
  return path.join(svc.dataDir, 'outputs', jobId);
}

/**
 * The curve a test run's worker reports, and its output's trainer_state.json holds (as a real trainer's log and its
 * worker agree): `steps` points (default 300), an evaluation every 50.
 */
export function reportedCurve(options: { steps?: number; overfit?: boolean; seed?: number } = {}) {
  return lossCurve({ steps: options.steps ?? 300, evalEvery: 50, overfit: options.overfit, seed: options.seed ?? 1 });
}

/** The job a test run creates, and what its worker reports. */
interface JobOptions {
  name?: string;
  /** The family its model joins (jobs.create); default: the name made a slug. */
  family?: string;
  /** The workspace of its dataset and job (jobs.create); default: the caller's. */
  workspaceId?: string;
  datasetId?: string;
  steps?: number;
  overfit?: boolean;
  seed?: number;
  /** Points the worker reports: all of the curve (default), none (a worker that sends no metrics) or the given ones. */
  report?: 'all' | 'none' | { step: number; trainingLoss: number; validationLoss?: number }[];
}

/**
 * The first half of a GPU worker's run: create the job (user), start it and report its loss curve (worker
 * token), in batches of 10,000 points. Returns the job, its worker client and the curve.
 */
export async function startTrainingJob(svc: TestService, api: Api, options: JobOptions = {}) {
  const inWorkspace = options.workspaceId ? { workspaceId: options.workspaceId } : {};
  const datasetId =
    options.datasetId ?? (await api.datasets.create.mutate({ ...inWorkspace, name: 'support-tickets', format: 'jsonl', rowCount: 1200 })).id;
  const { jobId, workerToken } = await api.jobs.create.mutate({
    ...inWorkspace,
    datasetId,
    name: options.name ?? `run-${Math.random().toString(36).slice(2, 7)}`,
    ...(options.family ? { family: options.family } : {}),
    config: sampleJobConfig,
    gpu: { type: 'A100-80GB', count: 1 },
  });
  const worker = client(svc.url, { token: workerToken });
  await worker.jobs.start.mutate({ jobId });
  const curve = reportedCurve(options);
  if (Array.isArray(options.report)) await worker.jobs.reportMetrics.mutate({ jobId, points: options.report });
  for (let i = 0; options.report === undefined || options.report === 'all' ? i < curve.length : false; i += 10_000) {
    await worker.jobs.reportMetrics.mutate({
      jobId,
      points: curve.slice(i, i + 10_000).map((p) => ({
        step: p.step,
        epoch: p.epoch,
        trainingLoss: p.trainingLoss,
        validationLoss: p.validationLoss,
        learningRate: p.learningRate,
      })),
    });
  }
  return { jobId, workerToken, worker, datasetId, curve };
}

/**
 * Runs a training job the way a GPU worker does: create it (user), start, report metrics and
 * complete it with a local output folder (worker token). Returns ids and the folder.
 *
 * The output goes to `<DATA_DIR>/outputs/<jobId>` (the default SOURCE_FILE_ROOTS), created after
 * jobs.create; `writeOutput` fills it instead of the LoRA fixture; `outputUri` completes with another URI
 * (`{jobId}` in it is filled, for an output under a per-job S3 prefix).
 */
export async function runTrainingJob(
  svc: TestService,
  api: Api,
  options: JobOptions & {
    outputUri?: string;
    writeFiles?: boolean;
    /** Fills the job's output folder (instead of the LoRA fixture files). */
    writeOutput?: (dir: string, jobId: string) => unknown;
    lora?: Parameters<typeof writeLoraOutput>[1];
  } = {},
) {
  const { jobId, workerToken, worker, datasetId, curve } = await startTrainingJob(svc, api, options);
  const outputDir = outputFolder(svc, jobId);
  fs.mkdirSync(outputDir, { recursive: true });
  if (options.writeOutput) await options.writeOutput(outputDir, jobId);
  const files = options.writeFiles === false || options.writeOutput ? [] : (await writeLoraOutput(outputDir, { curve, ...options.lora })).files;
  await worker.jobs.complete.mutate({
    jobId,
    outputUri: options.outputUri?.replaceAll('{jobId}', jobId) ?? `file://${outputDir}`,
    summary: { epochsCompleted: 3, totalSteps: options.steps ?? 300, durationSeconds: 5400, costUsd: 3.42 },
  });
  return { jobId, workerToken, worker, datasetId, outputDir, files, curve };
}

/** The generated model card every delivered model holds at its top (server/adapters/card-store.ts, issue 12). */
export const CARD_PATH = 'README.md';

/**
 * The path an output file is kept under in its model: the trainer's own top-level README.md (the LoRA fixture
 * writes one) becomes README.trainer.md, as the generated card takes README.md. Spelled out here rather than read
 * from server/storage/generated-names.ts, so a change to that rule fails a test.
 */
function keptAs(path: string): string {
  return path === CARD_PATH ? 'README.trainer.md' : path;
}

/** `files` of an output under the paths their model keeps them as (the generated card not included). */
export function asKept<T extends { path: string }>(files: readonly T[]): T[] {
  return files.map((f) => ({ ...f, path: keptAs(f.path) }));
}

/** Every path a model delivered from an output of `outputPaths` holds, sorted: the output's, kept as above, and the card. */
export function deliveredPaths(outputPaths: readonly string[]): string[] {
  return [...outputPaths.map(keptAs), CARD_PATH].sort();
}

/** Polls models.exports until no export of the model is queued or running; returns them all. */
export async function waitForExports(api: Api, modelId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exports = await api.models.exports.query({ modelId });
    if (exports.every((e) => e.status === 'ready' || e.status === 'failed')) return exports;
    if (Date.now() > deadline) throw new Error(`exports of ${modelId} still running after ${timeoutMs} ms: ${JSON.stringify(exports)}`);
    await Bun.sleep(50);
  }
}

/** Polls jobs.get until the ingest settles (ready or failed). */
export async function waitForIngest(api: Api, jobId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api.jobs.get.query({ jobId });
    if (job.ingestStatus === 'ready' || job.ingestStatus === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`ingest of ${jobId} still ${job.ingestStatus} after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}
