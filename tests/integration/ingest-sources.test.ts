import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLoraOutput, type WrittenFile } from '../fixtures/lora.ts';
import { sha256Of } from '../helpers/ingest.ts';
import { serveOutput, type OutputServer } from '../helpers/output-server.ts';
import { startS3rver, type TestS3 } from '../helpers/s3rver.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
let s3: TestS3;
const dirs: string[] = [];
const servers: OutputServer[] = [];

async function tempDir(label: string) {
  const dir = await mkdtemp(join(tmpdir(), `ingest-src-${label}-`));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  s3 = await startS3rver(['volume1']);
  svc = await startTestService({
    label: 'ingest_sources',
    env: {
      ...s3.sourceEnv,
      SOURCE_S3_PREFIXES: 'volume1/runs/{jobId}',
    },
  });
}, 120_000);

afterAll(async () => {
  for (const s of servers) s.stop();
  await svc?.stop();
  await s3?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 120_000);

/** The delivered model matches `files` byte for byte (recorded hashes and downloaded bytes), plus its generated card. */
async function expectDelivered(api: Awaited<ReturnType<typeof newUser>>['api'], jobId: string, files: WrittenFile[]) {
  const job = await waitForIngest(api, jobId);
  expect(job.ingestError).toBeNull();
  expect(job.ingestStatus).toBe('ready');
  const model = await api.models.get.query({ modelId: job.artifactId! });
  expect(model.files.map((f) => f.path).sort()).toEqual(deliveredPaths(files.map((f) => f.path)));
  const kept = asKept(files);
  for (const f of kept) {
    const stored = model.files.find((m) => m.path === f.path)!;
    expect(stored.sha256).toBe(f.sha256);
    expect(stored.sizeBytes).toBe(f.size);
  }
  // The card is the service's own file: its bytes are checked against the hash recorded for it.
  const card = model.files.find((m) => m.path === CARD_PATH)!;
  expect(card.kind).toBe('model_card');
  const dl = await api.models.download.mutate({ modelId: model.id });
  expect(dl.files).toHaveLength(files.length + 1);
  for (const f of dl.files) {
    const res = await fetch(f.url);
    expect(res.status).toBe(200);
    expect(await sha256Of(res)).toBe(f.path === CARD_PATH ? card.sha256 : kept.find((w) => w.path === f.path)!.sha256);
  }
  expect(model.adapter).toEqual({
    baseModel: 'Qwen/Qwen2.5-0.5B',
    rank: 16,
    alpha: 32,
    targetModules: ['q_proj', 'k_proj', 'v_proj'],
    dtype: 'BF16',
    parameterCount: expect.any(Number),
    maxRank: 16, // no rank_pattern: every module has rank 16
    taskType: 'CAUSAL_LM',
  });
  // 4 layers × (q: 16·(64+64), k: 16·(64+9), v: 16·(64+9)) with hidden 64 (k/v out = round(64·128/896) = 9).
  expect(model.adapter!.parameterCount).toBe(4 * (16 * (64 + 64) + 2 * 16 * (64 + 9)));
  const notes = await api.notifications.list.query({});
  expect(notes.notifications.filter((n) => n.type === 'model_ready')).toHaveLength(1);
  return model;
}

const lora = {
  rank: 16,
  alpha: 32,
  layers: 4,
  hidden: 64,
  targetModules: ['q_proj', 'k_proj', 'v_proj'],
  dtype: 'BF16' as const,
  checkpoints: [500],
};

describe('ingest through each source', () => {
  test('s3:// output on an S3-protocol server (s3rver)', async () => {
    const u = await newUser(svc, 's3');
    let files: WrittenFile[] = [];
    // The job's own prefix (SOURCE_S3_PREFIXES volume1/runs/{jobId}), known once the job exists.
    const run = await runTrainingJob(svc, u.api, {
      name: 's3-run',
      outputUri: 's3://volume1/runs/{jobId}/',
      writeOutput: async (dir, jobId) => {
        files = (await writeLoraOutput(dir, lora)).files;
        const prefix = `runs/${jobId}/`;
        for (const f of files) {
          const body = await Bun.file(join(dir, f.path)).bytes();
          await s3.client.send(new PutObjectCommand({ Bucket: 'volume1', Key: prefix + f.path, Body: body, ContentLength: body.length }));
        }
        // A sibling run sharing the prefix's first characters must not be picked up.
        await s3.client.send(new PutObjectCommand({ Bucket: 'volume1', Key: `${prefix.slice(0, -1)}0/stray.bin`, Body: 'x', ContentLength: 1 }));
      },
    });
    const model = await expectDelivered(u.api, run.jobId, files);
    expect(model.files.some((f) => f.path === 'checkpoint-500/adapter_model.safetensors')).toBe(true);
  });

  test('https-style output (manifest.json with sha256) on a local HTTP server', async () => {
    const u = await newUser(svc, 'https');
    const dir = await tempDir('httpout');
    const { files } = await writeLoraOutput(dir, lora);
    // A name that needs URL encoding (space, non-ASCII, '#') must round-trip exactly.
    const odd = 'eval/results #1 ü.txt';
    const text = 'accuracy: 0.93\n';
    await Bun.write(join(dir, 'eval', 'results #1 ü.txt'), text);
    files.push({ path: odd, size: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
    const server = serveOutput(dir, files);
    servers.push(server);
    const run = await runTrainingJob(svc, u.api, { name: 'https-run', writeFiles: false, outputUri: server.uri });
    await expectDelivered(u.api, run.jobId, files);
    expect(server.requests.filter((r) => r.path === 'manifest.json').length).toBeGreaterThanOrEqual(1);
    expect(server.requests.some((r) => r.path === odd)).toBe(true);
    // One GET per file: nothing was fetched twice.
    for (const f of files) expect(server.requests.filter((r) => r.path === f.path)).toHaveLength(1);
  });

  test('file:// output with a checkpoint folder', async () => {
    const u = await newUser(svc, 'file');
    let files: WrittenFile[] = [];
    const run = await runTrainingJob(svc, u.api, {
      name: 'file-run',
      writeOutput: async (dir) => {
        files = (await writeLoraOutput(dir, lora)).files;
        await writeFile(join(dir, 'empty.txt'), '');
        files.push({ path: 'empty.txt', size: 0, sha256: createHash('sha256').update('').digest('hex') });
      },
    });
    await expectDelivered(u.api, run.jobId, files);
  });
});
