import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgBoss } from 'pg-boss';
import { ingestArtifactJob } from '../../server/ingest/ingest-artifact.job.ts';
import { ingestSweepJob, MAX_TOTAL_ATTEMPTS } from '../../server/ingest/sweep.job.ts';
import { writeLoraOutput, writeRandomFile, type WrittenFile } from '../fixtures/lora.ts';
import { fakeJob, modelCardRow, sha256Of, sqlFor, storedFiles } from '../helpers/ingest.ts';
import { serveOutput, type OutputServer } from '../helpers/output-server.ts';
import { spawnService } from '../helpers/process.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, deliveredPaths, outputFolder, runTrainingJob, waitForIngest } from '../helpers/training.ts';
import { sampleJobConfig } from '../helpers/factories.ts';

let svc: TestService; // ROLE=all: API and workers in this process
const dirs: string[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  svc = await startTestService({ label: 'ingest_once' });
}, 120_000);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await svc?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 120_000);

async function tempDir(label: string) {
  const dir = await mkdtemp(join(tmpdir(), `ingest-once-${label}-`));
  dirs.push(dir);
  return dir;
}

type User = Awaited<ReturnType<typeof newUser>>;

/** A created (not completed) training job and a client holding its worker token. */
async function createJob(s: TestService, u: User, name = `job-${Math.random().toString(36).slice(2, 7)}`) {
  const { id: datasetId } = await u.api.datasets.create.mutate({ name: 'ds' });
  const { jobId, workerToken } = await u.api.jobs.create.mutate({
    datasetId,
    name,
    config: { ...sampleJobConfig, epochs: 1 },
    gpu: { type: 'A100-80GB', count: 1 },
  });
  return { jobId, worker: client(s.url, { token: workerToken }) };
}

/** A `ROLE=worker` process of the real server on `s`'s database and storage folder. */
async function spawnWorker(s: TestService) {
  chmodSync(s.dataDir, 0o755);
  const worker = await spawnService({
    ROLE: 'worker',
    DATABASE_URL: s.databaseUrl,
    DATA_DIR: s.dataDir,
    AUTH_SECRET: s.deps.secret,
    INGEST_CONCURRENCY: '4',
    SOURCE_ALLOW_PRIVATE_HOSTS: 'true',
  });
  cleanups.push(worker.stop);
  return worker;
}

describe('job state transitions', () => {
  test('completing twice: the same data is idempotent, other data is a CONFLICT, and nothing is enqueued again', async () => {
    const u = await newUser(svc, 'complete');
    const run = await runTrainingJob(svc, u.api, { name: 'twice' });
    const same = {
      jobId: run.jobId,
      outputUri: `file://${run.outputDir}`,
      summary: { epochsCompleted: 3, totalSteps: 300, durationSeconds: 5400, costUsd: 3.42 },
    };
    await waitForIngest(u.api, run.jobId);
    expect(await run.worker.jobs.complete.mutate(same)).toEqual({ jobId: run.jobId, status: 'completed' });
    await expect(run.worker.jobs.complete.mutate({ ...same, outputUri: 'file:///elsewhere' })).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
    await expect(run.worker.jobs.complete.mutate({ ...same, summary: { ...same.summary, costUsd: 9.99 } })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });
    const job = await u.api.jobs.get.query({ jobId: run.jobId });
    expect(job.outputUri).toBe(same.outputUri);
    expect(Number(job.costUsd)).toBe(3.42);
    expect(job.ingestStatus).toBe('ready');
    const sql = sqlFor(svc);
    try {
      const { n } = (
        await sql<{ n: number }[]>`select count(*)::int as n from pgboss.job where name = 'ingest-artifact' and singleton_key = ${run.jobId}`
      )[0]!;
      expect(n).toBe(1);
    } finally {
      await sql.end();
    }
  });

  test('a failed job accepts neither metrics nor completion', async () => {
    const u = await newUser(svc, 'failed');
    const { jobId, worker } = await createJob(svc, u);
    await worker.jobs.start.mutate({ jobId });
    await worker.jobs.reportMetrics.mutate({ jobId, points: [{ step: 1, trainingLoss: 2 }] });
    expect(await worker.jobs.fail.mutate({ jobId, error: 'CUDA out of memory' })).toEqual({ jobId, status: 'failed' });
    await expect(worker.jobs.reportMetrics.mutate({ jobId, points: [{ step: 2, trainingLoss: 1.9 }] })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });
    await expect(
      worker.jobs.complete.mutate({
        jobId,
        outputUri: 'file:///tmp/x',
        summary: { epochsCompleted: 1, totalSteps: 2, durationSeconds: 1, costUsd: 0 },
      }),
    ).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
    const job = await u.api.jobs.get.query({ jobId });
    expect(job.status).toBe('failed');
    expect(job.ingestStatus).toBe('none');
  });

  test('a repeated step overwrites (across batches and within one); 10,000 points are accepted, 10,001 refused', async () => {
    const u = await newUser(svc, 'metrics');
    const { jobId, worker } = await createJob(svc, u);
    await worker.jobs.reportMetrics.mutate({ jobId, points: [{ step: 1, trainingLoss: 2.0, validationLoss: 2.2 }] });
    await worker.jobs.reportMetrics.mutate({ jobId, points: [{ step: 1, trainingLoss: 1.5 }] });
    await worker.jobs.reportMetrics.mutate({
      jobId,
      points: [
        { step: 2, trainingLoss: 3.0 },
        { step: 2, trainingLoss: 1.25 },
      ],
    });
    const sql = sqlFor(svc);
    try {
      const rows = await sql<{ step: number; t: number; v: number | null }[]>`
        select step, training_loss as t, validation_loss as v from metrics_points where job_id = ${jobId} order by step`;
      expect(rows.map((r) => ({ step: r.step, t: Number(r.t), v: r.v }))).toEqual([
        { step: 1, t: 1.5, v: null },
        { step: 2, t: 1.25, v: null },
      ]);

      const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ step: from + i, trainingLoss: 1 + 1 / (i + 1) }));
      expect(await worker.jobs.reportMetrics.mutate({ jobId, points: batch(10, 10_000) })).toEqual({ accepted: 10_000 });
      await expect(worker.jobs.reportMetrics.mutate({ jobId, points: batch(100_000, 10_001) })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST' },
      });
      const { n } = (await sql<{ n: number }[]>`select count(*)::int as n from metrics_points where job_id = ${jobId}`)[0]!;
      expect(n).toBe(10_002);
    } finally {
      await sql.end();
    }
  });
});

describe('the handler is idempotent', () => {
  let api: TestService; // ROLE=api: nothing in this process picks up the queued ingests
  beforeAll(async () => {
    api = await startTestService({ label: 'ingest_once_api', env: { ROLE: 'api' } });
    cleanups.push(() => api.stop());
  }, 120_000);

  async function expectOneModel(s: TestService, u: User, jobId: string, files: WrittenFile[]) {
    const job = await u.api.jobs.get.query({ jobId });
    expect(job.ingestStatus).toBe('ready');
    const sql = sqlFor(s);
    let card: Awaited<ReturnType<typeof modelCardRow>>;
    try {
      const artifacts = await sql<{ id: string }[]>`select id from model_artifacts where job_id = ${jobId}`;
      expect(artifacts.map((a) => a.id)).toEqual([job.artifactId!]);
      const { n } = (await sql<{ n: number }[]>`select count(*)::int as n from artifact_files where artifact_id = ${job.artifactId!}`)[0]!;
      expect(n).toBe(files.length + 1); // the output's files and one generated model card
      card = await modelCardRow(sql, job.artifactId!);
    } finally {
      await sql.end();
    }
    const notes = await u.api.notifications.list.query({});
    expect(notes.notifications.filter((x) => x.type === 'model_ready')).toHaveLength(1);
    expect(notes.notifications.filter((x) => x.type === 'ingest_failed')).toHaveLength(0);
    const dl = await u.api.models.download.mutate({ modelId: job.artifactId! });
    expect(dl.files.map((f) => f.path).sort()).toEqual(deliveredPaths(files.map((f) => f.path)));
    const kept = asKept(files);
    for (const f of dl.files) {
      const expected = f.path === CARD_PATH ? card.sha256 : kept.find((w) => w.path === f.path)!.sha256;
      expect(await sha256Of(await fetch(f.url))).toBe(expected);
    }
    // Exactly one object per file (the card's included): no temp files or duplicates left by the second run (every
    // attempt writes under the same artifacts/{artifactId}/ prefix, derived from the job).
    const objects = storedFiles(s, `artifacts/${job.artifactId!}`);
    expect(objects).toHaveLength(files.length + 1);
    expect(objects).toContain(card.storageKey);
  }

  test('run twice in a row: delivered once, then skipped', async () => {
    const u = await newUser(api, 'seq');
    const run = await runTrainingJob(api, u.api, { name: 'seq' });
    expect((await u.api.jobs.get.query({ jobId: run.jobId })).ingestStatus).toBe('pending');
    const first = await ingestArtifactJob.handle(api.deps, { jobId: run.jobId }, fakeJob({ jobId: run.jobId }));
    const second = await ingestArtifactJob.handle(api.deps, { jobId: run.jobId }, fakeJob({ jobId: run.jobId }, 1));
    expect(first).toMatchObject({ status: 'completed', output: { delivered: true } });
    expect(second).toEqual({ status: 'completed', output: { skipped: 'already delivered' } });
    await expectOneModel(api, u, run.jobId, run.files);
  });

  test('run twice concurrently: exactly one delivers', async () => {
    const u = await newUser(api, 'conc');
    const run = await runTrainingJob(api, u.api, { name: 'conc', lora: { padToBytes: 16 * 1024 * 1024 } });
    const outcomes = await Promise.all([
      ingestArtifactJob.handle(api.deps, { jobId: run.jobId }, fakeJob({ jobId: run.jobId })),
      ingestArtifactJob.handle(api.deps, { jobId: run.jobId }, fakeJob({ jobId: run.jobId })),
    ]);
    for (const o of outcomes) expect(o.status).toBe('completed');
    const delivered = outcomes.map((o) => (o.output as { delivered?: boolean }).delivered);
    expect(delivered.filter((d) => d === true)).toHaveLength(1);
    await expectOneModel(api, u, run.jobId, run.files);
  });
});

describe('the sweep', () => {
  test('re-enqueues a completed job whose enqueue was lost, and leaves a just-completed one to the event path', async () => {
    const u = await newUser(svc, 'sweep');
    const lost = await createJob(svc, u, 'lost');
    const fresh = await createJob(svc, u, 'fresh');
    const { files } = await writeLoraOutput(outputFolder(svc, lost.jobId), { layers: 2, hidden: 128 });
    await writeLoraOutput(outputFolder(svc, fresh.jobId), { layers: 2, hidden: 128 });
    const sql = sqlFor(svc);
    try {
      // What completeJob does, minus the enqueue: the crash window the sweep exists for.
      for (const [jobId, age] of [
        [lost.jobId, '1 minute'],
        [fresh.jobId, '0 seconds'],
      ] as const) {
        await sql`update training_jobs set status = 'completed', output_uri = ${`file://${outputFolder(svc, jobId)}`}, completed_at = now() - ${age}::interval,
          epochs_completed = 1, total_steps = 10, duration_seconds = 60, cost_usd = 0.1, ingest_status = 'pending' where id = ${jobId}`;
        await sql`delete from pgboss.job where singleton_key = ${jobId}`;
      }
      // Nobody else picks it up: no ingest is queued for it, and the test service runs no cron sweep.
      expect(await sql`select 1 from pgboss.job where singleton_key = ${lost.jobId}`).toHaveLength(0);
      expect((await u.api.jobs.get.query({ jobId: lost.jobId })).ingestStatus).toBe('pending');

      const outcome = await ingestSweepJob.handle(svc.deps, {}, fakeJob({}));
      expect(outcome).toEqual({ status: 'completed', output: { found: 1, queued: 1, failed: 0 } });
      const job = await waitForIngest(u.api, lost.jobId);
      expect(job.ingestStatus).toBe('ready');
      const model = await u.api.models.get.query({ modelId: job.artifactId! });
      const card = await modelCardRow(sql, model.id);
      expect(model.files.map((f) => [f.path, f.sha256]).sort()).toEqual(
        [...asKept(files).map((f) => [f.path, f.sha256]), [CARD_PATH, card.sha256]].sort(),
      );
      expect((await u.api.jobs.get.query({ jobId: fresh.jobId })).ingestStatus).toBe('pending');

      // A second sweep finds nothing left to do for the delivered job.
      expect(await ingestSweepJob.handle(svc.deps, {}, fakeJob({}))).toEqual({ status: 'completed', output: { found: 0, queued: 0, failed: 0 } });
    } finally {
      await sql.end();
    }
  });

  test('an ingest left "ingesting" by a worker that died on its last attempt is re-queued; after too many attempts it fails for the user', async () => {
    const u = await newUser(svc, 'sweep2');
    const orphan = await createJob(svc, u, 'orphan');
    const hopeless = await createJob(svc, u, 'hopeless');
    for (const { jobId } of [orphan, hopeless]) await writeLoraOutput(outputFolder(svc, jobId), { layers: 2, hidden: 128 });
    const sql = sqlFor(svc);
    try {
      for (const [jobId, attempts] of [
        [orphan.jobId, 5],
        [hopeless.jobId, MAX_TOTAL_ATTEMPTS],
      ] as const) {
        // pg-boss dead-lettered the last attempt: no live pg-boss job, the training job still says ingesting.
        await sql`update training_jobs set status = 'completed', output_uri = ${`file://${outputFolder(svc, jobId)}`}, completed_at = now() - interval '10 minutes',
          epochs_completed = 1, total_steps = 10, duration_seconds = 60, cost_usd = 0.1, ingest_status = 'ingesting', ingest_attempts = ${attempts} where id = ${jobId}`;
        await sql`delete from pgboss.job where singleton_key = ${jobId}`;
      }
      const outcome = await ingestSweepJob.handle(svc.deps, {}, fakeJob({}));
      expect(outcome).toEqual({ status: 'completed', output: { found: 2, queued: 1, failed: 1 } });
      expect((await waitForIngest(u.api, orphan.jobId)).ingestStatus).toBe('ready');
      const gaveUp = await u.api.jobs.get.query({ jobId: hopeless.jobId });
      expect(gaveUp.ingestStatus).toBe('failed');
      expect(gaveUp.ingestError).toMatch(/gave up after 15 attempts/);
      const notes = await u.api.notifications.list.query({});
      expect(notes.notifications.filter((n) => n.type === 'ingest_failed' && n.title === 'Your model hopeless could not be delivered')).toHaveLength(
        1,
      );
    } finally {
      await sql.end();
    }
  });
});

describe('several worker processes', () => {
  test('two worker processes and the service race over 10 jobs completed at once: 10 models, 10 notifications', async () => {
    const workers = [await spawnWorker(svc), await spawnWorker(svc)];
    const u = await newUser(svc, 'race');
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        runTrainingJob(svc, u.api, { name: `race-${i}`, steps: 120, lora: { layers: 8, padToBytes: 4 * 1024 * 1024, seed: i } }),
      ),
    );
    const jobs = await Promise.all(runs.map((r) => waitForIngest(u.api, r.jobId, 60_000)));
    for (const j of jobs) expect(j.ingestStatus).toBe('ready');
    const sql = sqlFor(svc);
    try {
      const ids = runs.map((r) => r.jobId);
      const artifacts = await sql<{ job_id: string; id: string }[]>`select job_id, id from model_artifacts where job_id = any(${ids}::uuid[])`;
      expect(artifacts).toHaveLength(10);
      expect(new Set(artifacts.map((a) => a.job_id)).size).toBe(10);
      const attempts = await sql<{ n: number }[]>`select ingest_attempts as n from training_jobs where id = any(${ids}::uuid[])`;
      expect(attempts.map((a) => a.n)).toEqual(Array(10).fill(1)); // no job was run twice
      const fileCount = runs.reduce((a, r) => a + r.files.length + 1, 0); // each model's files and its generated card
      const { n } = (
        await sql<{ n: number }[]>`select count(*)::int as n from artifact_files where artifact_id = any(${artifacts.map((a) => a.id)}::uuid[])`
      )[0]!;
      expect(n).toBe(fileCount);
      expect(artifacts.flatMap((a) => storedFiles(svc, `artifacts/${a.id}`))).toHaveLength(fileCount);
    } finally {
      await sql.end();
    }
    const notes = await u.api.notifications.list.query({});
    const ready = notes.notifications.filter((x) => x.type === 'model_ready');
    expect(ready).toHaveLength(10);
    expect(new Set(ready.map((x) => x.title)).size).toBe(10);
    for (const w of workers) {
      expect(w.proc.exitCode).toBeNull(); // still alive: nothing crashed
      await w.stop();
      expect(w.output()).not.toMatch(/ingest failed|error/i);
    }
  }, 90_000);
});

describe('a worker killed mid-copy', () => {
  test('the job is picked up again after the heartbeat lapses and delivered once, intact', async () => {
    const api = await startTestService({ label: 'ingest_once_kill', env: { ROLE: 'api' } });
    cleanups.push(() => api.stop());
    // What notices a dead worker is pg-boss's supervisor in any live instance; the worker processes run it
    // every 60 s by default, so a supervisor here checks every second (production settings unchanged).
    const supervisor = new PgBoss({
      connectionString: api.databaseUrl,
      schema: 'pgboss',
      max: 2,
      supervise: true,
      schedule: false,
      superviseIntervalSeconds: 1,
      monitorIntervalSeconds: 1,
    });
    supervisor.on('error', () => {});
    await supervisor.start();
    cleanups.push(() => supervisor.stop({ graceful: false, close: true }));

    const u = await newUser(api, 'kill');
    const dir = await tempDir('kill');
    const { files } = await writeLoraOutput(dir, { layers: 2, hidden: 128 });
    const big = { path: 'optimizer.pt', ...(await writeRandomFile(join(dir, 'optimizer.pt'), 200 * 1024 * 1024, 'kill')) };
    files.push(big);
    const server: OutputServer = serveOutput(dir, files, { bytesPerSecond: 40 * 1024 * 1024 });
    cleanups.push(() => server.stop());

    const first = await spawnWorker(api);
    const run = await runTrainingJob(api, u.api, { name: 'killed', writeFiles: false, outputUri: server.uri });
    const deadline = Date.now() + 30_000;
    while (server.bytesSent < 20 * 1024 * 1024) {
      if (Date.now() > deadline) throw new Error(`copy did not start: ${server.bytesSent} bytes sent`);
      await Bun.sleep(20);
    }
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    const sentAtKill = server.bytesSent;
    expect(sentAtKill).toBeLessThan(big.size);
    const during = await u.api.jobs.get.query({ jobId: run.jobId });
    expect(during.ingestStatus).toBe('ingesting');
    expect(during.ingestAttempts).toBe(1);

    await spawnWorker(api);
    const job = await waitForIngest(u.api, run.jobId, 150_000);
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    expect(job.ingestAttempts).toBe(2);
    expect(server.requests.filter((r) => r.path === big.path).length).toBeGreaterThanOrEqual(2);

    const sql = sqlFor(api);
    let card: Awaited<ReturnType<typeof modelCardRow>>;
    try {
      const { n } = (await sql<{ n: number }[]>`select count(*)::int as n from model_artifacts where job_id = ${run.jobId}`)[0]!;
      expect(n).toBe(1);
      card = await modelCardRow(sql, job.artifactId!);
    } finally {
      await sql.end();
    }
    const model = await u.api.models.get.query({ modelId: job.artifactId! });
    expect(model.files.find((f) => f.path === big.path)).toMatchObject({ sizeBytes: big.size, sha256: big.sha256 });
    const dl = await u.api.models.download.mutate({ modelId: model.id });
    const url = dl.files.find((f) => f.path === big.path)!.url;
    expect(await sha256Of(await fetch(url))).toBe(big.sha256);
    const notes = await u.api.notifications.list.query({});
    expect(notes.notifications.filter((x) => x.type === 'model_ready')).toHaveLength(1);
    // One object per file, and the killed process's partial upload is gone: a retry starts clean.
    const objects = storedFiles(api, `artifacts/${job.artifactId!}`);
    expect(objects.filter((p) => p.split('/').pop()!.startsWith('.'))).toEqual([]);
    expect(objects).toHaveLength(files.length + 1); // and the generated card's
    expect(objects).toContain(card.storageKey);
    expect(objects.every((p) => p.startsWith(`artifacts/${job.artifactId}/`))).toBe(true);
  }, 180_000);
});
