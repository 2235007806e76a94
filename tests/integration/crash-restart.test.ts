import { afterAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readOwner, runningPostmaster } from '../../db/embedded-owner.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { sha256Of } from '../helpers/ingest.ts';
import { freePort } from '../helpers/net.ts';
import { spawnService } from '../helpers/process.ts';
import { client, signUp } from '../helpers/service.ts';
import { sampleJobConfig } from '../helpers/factories.ts';
import { asKept, CARD_PATH, deliveredPaths } from '../helpers/training.ts';

// A service killed with SIGKILL leaves its embedded Postgres running; the next start on the
// same DATA_DIR must recognise the orphan, stop it, and carry on, finishing the ingest that was under way.

const dirs: string[] = [];
const procs: ReturnType<typeof Bun.spawn>[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

async function start(dataDir: string, port: number) {
  const svc = await spawnService({ DATA_DIR: dataDir, PORT: String(port) });
  procs.push(svc.proc);
  return svc;
}

describe('a service killed with SIGKILL', () => {
  test('the next start stops the orphaned Postgres, starts, and finishes the interrupted ingest with the same bytes', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-crash-'));
    fs.chmodSync(dataDir, 0o755); // reachable by the postgres user, so the cluster stays inside it
    dirs.push(dataDir);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;

    const first = await start(dataDir, port);
    const { cookie } = await signUp(url, `crash-${Date.now()}@example.com`);
    const api = client(url, { cookie });
    const { id: datasetId } = await api.datasets.create.mutate({ name: 'crash' });
    const { jobId, workerToken } = await api.jobs.create.mutate({
      datasetId,
      name: 'killed-mid-ingest',
      config: { ...sampleJobConfig, epochs: 1 },
      gpu: { type: 'A100-80GB', count: 1 },
    });
    // The default (and only) place a file:// output may come from: DATA_DIR/outputs/<jobId>.
    const outputDir = path.join(dataDir, 'outputs', jobId);
    const { files } = await writeLoraOutput(outputDir);
    // A big file makes the copy last long enough to kill the service in the middle of it. Sparse:
    // written instantly, yet every byte is read, hashed and stored.
    const big = path.join(outputDir, 'optimizer.pt');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, 2 * 1024 ** 3);
    const bigHash = createHash('sha256');
    for await (const chunk of fs.createReadStream(big, { highWaterMark: 4 * 1024 * 1024 })) bigHash.update(chunk as Buffer);
    // Keyed by the path each is kept under in the model (the trainer's README.md gives way to the generated card).
    const originals = new Map([...asKept(files).map((f) => [f.path, f.sha256] as const), ['optimizer.pt', bigHash.digest('hex')]]);

    const worker = client(url, { token: workerToken });
    await worker.jobs.start.mutate({ jobId });
    await worker.jobs.complete.mutate({
      jobId,
      outputUri: `file://${outputDir}`,
      summary: { epochsCompleted: 1, totalSteps: 100, durationSeconds: 600, costUsd: 1 },
    });
    const deadline = Date.now() + 30_000;
    while ((await api.jobs.get.query({ jobId })).ingestStatus !== 'ingesting') {
      if (Date.now() > deadline) throw new Error('the ingest never started');
      await Bun.sleep(10);
    }

    const pgData = path.join(dataDir, 'postgres');
    const orphan = runningPostmaster(pgData);
    expect(orphan).not.toBeNull();
    expect(readOwner(dataDir)).toMatchObject({ servicePid: first.proc.pid, postgresPid: orphan });
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    expect(runningPostmaster(pgData)).toBe(orphan); // orphaned, not gone

    const second = await start(dataDir, port);
    expect(runningPostmaster(pgData)).not.toBe(orphan);
    expect(readOwner(dataDir)?.servicePid).toBe(second.proc.pid);

    // The interrupted ingest is handed back at start (not after the missed heartbeat) and completes.
    const readyBy = Date.now() + 60_000;
    let job = await api.jobs.get.query({ jobId });
    while (job.ingestStatus !== 'ready') {
      if (job.ingestStatus === 'failed' || Date.now() > readyBy) throw new Error(`ingest ended ${job.ingestStatus}: ${job.ingestError}`);
      await Bun.sleep(100);
      job = await api.jobs.get.query({ jobId });
    }
    const models = await api.models.list.query({});
    expect(models.models.map((m) => m.id)).toEqual([job.artifactId!]);
    const model = await api.models.get.query({ modelId: job.artifactId! });
    const { files: links } = await api.models.download.mutate({ modelId: model.id });
    expect(model.files.map((f) => f.path).sort()).toEqual(deliveredPaths([...files.map((f) => f.path), 'optimizer.pt']));
    for (const [p, sha] of originals) {
      const stored = model.files.find((f) => f.path === p);
      expect(stored?.sha256).toBe(sha);
      const link = links.find((l) => l.path === p)!;
      expect(await sha256Of(await fetch(link.url))).toBe(sha);
    }
    // The generated card, written by the run that finished, downloads as recorded.
    const card = model.files.find((f) => f.path === CARD_PATH)!;
    expect(card.kind).toBe('model_card');
    expect(await sha256Of(await fetch(links.find((l) => l.path === CARD_PATH)!.url))).toBe(card.sha256);

    second.proc.kill('SIGTERM');
    expect(await second.proc.exited).toBe(0);
    expect(runningPostmaster(pgData)).toBeNull();
  }, 180_000);
});
