// The whole path on the S3 driver: ingest into a real S3-protocol server (s3rver, in process), download every
// file through presigned URLs that point at the store, and the zip bundle streamed from it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no type declarations
import S3rverModule from 's3rver';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client } from '../../server/storage/s3-client.ts';
import { freePort } from '../helpers/net.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

interface S3rverInstance {
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
}
const S3rver = S3rverModule as new (options: Record<string, unknown>) => S3rverInstance;

const BUCKET = 'lora-artifacts';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

let s3dir: string;
let s3rver: S3rverInstance;
let endpoint: string;
let svc: TestService;
let user: Awaited<ReturnType<typeof newUser>>;
let modelId: string;
let written: { path: string; size: number; sha256: string }[];

beforeAll(async () => {
  s3dir = await mkdtemp(join(tmpdir(), 'models-s3rver-'));
  const port = await freePort();
  s3rver = new S3rver({ port, address: '127.0.0.1', silent: true, directory: s3dir });
  await s3rver.run();
  endpoint = `http://127.0.0.1:${port}`;
  const admin = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, ...CREDENTIALS });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  admin.destroy();

  svc = await startTestService({
    label: 's3',
    env: {
      S3_ENDPOINT: endpoint,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    },
  });
  user = await newUser(svc, 's3');
  const run = await runTrainingJob(svc, user.api, { name: 's3-run', lora: { checkpoints: [250, 500] } });
  const job = await waitForIngest(user.api, run.jobId);
  expect(job.ingestError).toBeNull();
  expect(job.ingestStatus).toBe('ready');
  modelId = job.artifactId!;
  written = run.files;
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await s3rver?.close();
  await rm(s3dir, { recursive: true, force: true });
});

describe('models on the S3 driver', () => {
  test('the service really stores in the bucket, under server ids only', async () => {
    expect(svc.deps.storage.kind).toBe('s3');
    const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, ...CREDENTIALS });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    client.destroy();
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys).toHaveLength(written.length + 1); // the output's files and the generated model card
    // artifacts/{artifactId}/{n}: no owner in the key, so a model can change workspace without its bytes moving.
    // The card's key is named by its content instead: artifacts/{artifactId}/card-{first 16 hex of its SHA-256}.
    const card = (await user.api.models.get.query({ modelId })).files.find((f) => f.path === CARD_PATH)!;
    const numbered = new RegExp(`^artifacts/${modelId}/\\d+$`);
    expect(keys.filter((key) => !numbered.test(key))).toEqual([`artifacts/${modelId}/card-${card.sha256.slice(0, 16)}`]);
  });

  test('every file downloads from the store through its presigned URL with the exact bytes', async () => {
    const { files, expiresAt, bundle } = await user.api.models.download.mutate({ modelId });
    expect(files.map((f) => f.path).sort()).toEqual(deliveredPaths(written.map((f) => f.path)));
    const kept = asKept(written);
    expect(bundle).not.toBeNull();
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now() + 3500_000);
    for (const f of files) {
      const url = new URL(f.url);
      expect(url.origin).toBe(endpoint); // straight to the store; the app does not proxy bytes
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes.byteLength).toBe(f.sizeBytes);
      // The card is the service's own file: its bytes are checked against the hash recorded for it.
      const expected = f.path === CARD_PATH ? f.sha256 : kept.find((w) => w.path === f.path)!.sha256;
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(expected);
      expect(res.headers.get('content-disposition')).toStartWith('attachment; filename="');
    }
  });

  test('the bundle streams from S3 into a valid zip whose SHA256SUMS check out', async () => {
    const { bundle } = await user.api.models.download.mutate({ modelId });
    expect(new URL(bundle!.url).pathname).toBe(`/bundles/${modelId}.zip`);
    const head = await fetch(bundle!.url, { method: 'HEAD' });
    const res = await fetch(bundle!.url);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
    const dir = await mkdtemp(join(tmpdir(), 'models-s3-bundle-'));
    try {
      await Bun.write(join(dir, 'b.zip'), bytes);
      const tested = Bun.spawnSync(['unzip', '-t', 'b.zip'], { cwd: dir });
      expect(tested.stdout.toString()).toContain('No errors detected');
      expect(Bun.spawnSync(['unzip', '-q', 'b.zip', '-d', 'x'], { cwd: dir }).exitCode).toBe(0);
      const check = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: join(dir, 'x') });
      expect(check.stderr.toString()).toBe('');
      expect(check.exitCode).toBe(0);
      const lines = deliveredPaths(written.map((f) => f.path)).map((p) => `${p}: OK`);
      expect(check.stdout.toString().trim().split('\n').sort()).toEqual(lines.sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
