import fs from 'node:fs';
import { lossCurve, writeLoraOutput } from '../fixtures/lora.ts';
import { client, type TestService } from './service.ts';
import { outputFolder } from './training.ts';

type Api = ReturnType<typeof client>;

/**
 * A backlog of `count` finished runs of a small adapter, ready to complete: each job is created, started
 * and given metrics through the API, and its output written to its own `<DATA_DIR>/outputs/<jobId>`.
 * `completeAll()` then sends every `jobs.complete` at once (a burst of completions).
 */
export async function prepareBacklog(svc: TestService, api: Api, count: number) {
  const { id: datasetId } = await api.datasets.create.mutate({ name: 'backlog', format: 'jsonl', rowCount: 100 });
  const curve = lossCurve({ steps: 50, evalEvery: 10, seed: 3 }).map((p) => ({
    step: p.step,
    epoch: p.epoch,
    trainingLoss: p.trainingLoss,
    validationLoss: p.validationLoss,
    learningRate: p.learningRate,
  }));
  const jobs: { jobId: string; worker: Api; outputDir: string }[] = [];
  // A few at a time: preparing is not what is measured.
  for (let i = 0; i < count; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, async (_, k) => {
        const { jobId, workerToken } = await api.jobs.create.mutate({
          datasetId,
          name: `backlog-${i + k}`,
          config: { baseModel: 'Qwen/Qwen2.5-0.5B', loraRank: 4, loraAlpha: 8, learningRate: 2e-4, epochs: 1, batchSize: 8 },
          gpu: { type: 'A100-80GB', count: 1 },
        });
        const worker = client(svc.url, { token: workerToken });
        await worker.jobs.start.mutate({ jobId });
        await worker.jobs.reportMetrics.mutate({ jobId, points: curve });
        const outputDir = outputFolder(svc, jobId);
        fs.mkdirSync(outputDir, { recursive: true });
        await writeLoraOutput(outputDir, { layers: 2, hidden: 32, rank: 4, alpha: 8, seed: i + k });
        return { jobId, worker, outputDir };
      }),
    );
    jobs.push(...batch);
  }
  return {
    jobs,
    /** Completes every job at once; resolves when every `jobs.complete` has answered. */
    completeAll: () =>
      Promise.all(
        jobs.map((j) =>
          j.worker.jobs.complete.mutate({
            jobId: j.jobId,
            outputUri: `file://${j.outputDir}`,
            summary: { epochsCompleted: 1, totalSteps: 50, durationSeconds: 600, costUsd: 0.5 },
          }),
        ),
      ),
  };
}

/** Polls `jobs.list` until every job in `jobIds` is ready (throws on a failed one, or at the deadline). */
export async function waitAllReady(api: Api, jobIds: string[], timeoutMs: number): Promise<void> {
  const wanted = new Set(jobIds);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = (await api.jobs.list.query()).filter((j) => wanted.has(j.id));
    const failed = list.find((j) => j.ingestStatus === 'failed');
    if (failed) throw new Error(`ingest of ${failed.id} failed: ${failed.ingestError}`);
    const ready = list.filter((j) => j.ingestStatus === 'ready').length;
    if (ready === wanted.size) return;
    if (Date.now() > deadline) throw new Error(`${ready}/${wanted.size} ready after ${timeoutMs} ms`);
    await Bun.sleep(100);
  }
}
