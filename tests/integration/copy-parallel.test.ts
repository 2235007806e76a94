import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { copyToStorage, IntegrityError } from '../../server/ingest/copy.ts';
import { copyConcurrently } from '../../server/ingest/copy-files.ts';
import { FileSource, HttpsSource, PermanentSourceError, type SourceFile } from '../../server/ingest/sources/index.ts';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.ts';
import { createS3Storage } from '../../server/storage/s3.ts';
import type { WrittenFile } from '../fixtures/lora.ts';
import { modelCardRow, sqlFor, storedFiles } from '../helpers/ingest.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { serveOutput, serveWithCut, type OutputServer } from '../helpers/output-server.ts';
import { S3RVER_CREDENTIALS, startS3rver } from '../helpers/s3rver.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { CARD_PATH, runTrainingJob, waitForIngest } from '../helpers/training.ts';

// Large files take the copy's fast path (hash worker, shared read buffers, fsync started at the last byte);
// outputs of many files are copied several at a time. Both must keep every guarantee of the plain copy.
const BIG = 40 * 1024 * 1024;
const big = randomBytes(BIG);
const bigSha = new Bun.CryptoHasher('sha256').update(big).digest('hex');

const dirs: string[] = [];
const servers: Array<{ stop(): void }> = [];
let dir: string;
let storage: FsStorage;

async function tempDir(label: string): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), `copy-parallel-${label}-`));
  dirs.push(made);
  return made;
}

/** Every file under the storage root, temp files included. */
async function storageEntries(): Promise<string[]> {
  return (await readdir(storage.root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

beforeAll(async () => {
  dir = await tempDir('src');
  await writeFile(join(dir, 'big.safetensors'), big);
  storage = createFsStorage({ root: await tempDir('storage'), publicUrl: 'http://127.0.0.1:1', secret: 'test-secret-0123456789' });
}, 30_000);

afterAll(async () => {
  for (const s of servers) s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('copyToStorage of a large file', () => {
  test('from a file source: stored bytes and SHA-256 are exact', async () => {
    const source = new FileSource(`file://${dir}`);
    const [file] = await source.list();
    const result = await copyToStorage({ source, file: file!, storage, key: 'u/big/0' });
    expect(result).toMatchObject({ sha256: bigSha, size: BIG });
    const stored = await storage.locate('u/big/0');
    expect(stored?.size).toBe(BIG);
    expect(new Bun.CryptoHasher('sha256').update(await Bun.file(stored!.path).bytes()).digest('hex')).toBe(bigSha);
  });

  test('into S3 storage (s3rver): chunks that are not shared memory are copied to the hasher, not moved', async () => {
    const s3 = await startS3rver(['big']);
    try {
      const s3Storage = createS3Storage({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, bucket: 'big', ...S3RVER_CREDENTIALS });
      const source = new FileSource(`file://${dir}`);
      const [file] = await source.list();
      expect(await copyToStorage({ source, file: file!, storage: s3Storage, key: 'u/s3/0' })).toMatchObject({ sha256: bigSha, size: BIG });
      const stored = await s3Storage.get('u/s3/0');
      expect(new Bun.CryptoHasher('sha256').update(await new Response(stored).bytes()).digest('hex')).toBe(bigSha);
      s3Storage.client.destroy();
    } finally {
      await s3.stop();
    }
  });

  test('a break mid-file resumes at its offset and the hash still covers every byte once', async () => {
    const files: WrittenFile[] = [{ path: 'big.safetensors', size: BIG, sha256: bigSha }];
    const server = await serveWithCut(dir, files, 'big.safetensors', 13 * 1024 * 1024 + 7);
    servers.push(server);
    const source = new HttpsSource(server.uri, { allowPrivateHosts: true });
    const [file] = await source.list();
    const result = await copyToStorage({ source, file: file!, storage, key: 'u/cut/0', baseDelayMs: 1 });
    expect(result.sha256).toBe(bigSha);
    const gets = server.requests.filter((r) => r.path === 'big.safetensors');
    expect(gets.length).toBe(2);
    expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  test('a SHA-256 mismatch is an IntegrityError and nothing is stored, not even a temp file', async () => {
    const source = new FileSource(`file://${dir}`);
    const [file] = await source.list();
    const error = await copyToStorage({ source, file: { ...file!, sha256: '0'.repeat(64) }, storage, key: 'u/bad/0' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(await storage.locate('u/bad/0')).toBeNull();
    expect((await storageEntries()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  test('an abort mid-copy rejects with its reason and leaves nothing', async () => {
    const files: WrittenFile[] = [{ path: 'big.safetensors', size: BIG, sha256: bigSha }];
    // Slow enough that the abort lands mid-file.
    const server = serveOutput(dir, files, { bytesPerSecond: 8 * 1024 * 1024 });
    servers.push(server);
    const source = new HttpsSource(server.uri, { allowPrivateHosts: true });
    const [file] = await source.list();
    const controller = new AbortController();
    const copying = copyToStorage({ source, file: file!, storage, key: 'u/abort/0', signal: controller.signal });
    while (server.bytesSent < 1024 * 1024) await Bun.sleep(5);
    controller.abort(new Error('stop now'));
    expect(await copying.catch((e: unknown) => (e as Error).message)).toBe('stop now');
    expect(await storage.locate('u/abort/0')).toBeNull();
    expect((await storageEntries()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('copyConcurrently', () => {
  let many: WrittenFile[];
  let manyDir: string;
  const FILES = 24;
  const SIZE = 256 * 1024;

  beforeAll(async () => {
    manyDir = await tempDir('many');
    many = [];
    for (let i = 0; i < FILES; i++) {
      const bytes = randomBytes(SIZE);
      const path = `shard-${String(i).padStart(2, '0')}.bin`;
      await writeFile(join(manyDir, path), bytes);
      many.push({ path, size: SIZE, sha256: new Bun.CryptoHasher('sha256').update(bytes).digest('hex') });
    }
  }, 30_000);

  test('results come back in listing order, whatever order the copies finish in, with a bounded number in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const source = new FileSource(`file://${manyDir}`);
    const files = await source.list();
    const results = await copyConcurrently(
      files,
      async (file, n, signal) => {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          // The first files finish last.
          if (n < 3) await Bun.sleep(30);
          const { sha256 } = await copyToStorage({ source, file, storage, key: `u/order/${n}`, signal });
          return { n, path: file.path, sha256 };
        } finally {
          inFlight--;
        }
      },
      { concurrency: 4 },
    );
    expect(results.map((r) => r.path)).toEqual(many.map((f) => f.path));
    expect(results.map((r) => r.sha256)).toEqual(many.map((f) => f.sha256));
    expect(most).toBe(4);
  });

  test('one failing file aborts the others, and the error is the failing file’s, after every copy has stopped', async () => {
    const server: OutputServer = serveOutput(manyDir, many, {
      // Everything trickles, so the other copies are mid-file when shard-05 fails.
      bytesPerSecond: 64 * 1024,
      intercept: (path) => (path === 'shard-05.bin' ? new Response('gone', { status: 404 }) : undefined),
    });
    servers.push(server);
    const source = new HttpsSource(server.uri, { allowPrivateHosts: true });
    const files: SourceFile[] = await source.list();
    const settled: number[] = [];
    const error = await copyConcurrently(
      files,
      (file, n, signal) =>
        copyToStorage({ source, file, storage, key: `u/fail/${n}`, signal, baseDelayMs: 1 }).finally(() => {
          settled.push(n);
        }),
      { concurrency: 8 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentSourceError);
    expect((error as Error).message).toContain('shard-05.bin');
    // Only the first eight were ever started, and every one of them had settled before the rejection.
    expect(settled.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(server.requests.filter((r) => r.path !== 'manifest.json').length).toBe(8);
    // The others were cut short, not left to finish: far fewer bytes went out than eight whole files.
    expect(server.bytesSent).toBeLessThan(7 * SIZE);
    expect((await storageEntries()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('ingest of a many-file output (real service)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ label: 'copy_parallel' });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
  });

  test('a file that breaks twice is resumed while the others copy; keys follow the listing order', async () => {
    const u = await newUser(svc, 'parallel');
    const outDir = await tempDir('out');
    const files: WrittenFile[] = [];
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(64 * 1024 + i);
      const path = `part-${String(i).padStart(2, '0')}.bin`;
      await writeFile(join(outDir, path), bytes);
      files.push({ path, size: bytes.byteLength, sha256: new Bun.CryptoHasher('sha256').update(bytes).digest('hex') });
    }
    const server = serveOutput(outDir, files, {
      intercept: (path, _req, count) => (path === 'part-07.bin' && count <= 2 ? new Response('busy', { status: 503 }) : undefined),
    });
    servers.push(server);
    const run = await runTrainingJob(svc, u.api, { writeFiles: false, outputUri: server.uri });
    const job = await waitForIngest(u.api, run.jobId, 60_000);
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    const sql = sqlFor(svc);
    try {
      const rows = await sql`select path, storage_key, sha256 from artifact_files
        where artifact_id = ${job.artifactId!} and kind <> 'model_card' order by path`;
      expect(rows.map((r) => r.path)).toEqual(files.map((f) => f.path));
      expect(rows.map((r) => r.sha256)).toEqual(files.map((f) => f.sha256));
      // n-th file in listing order → key `<prefix><n>`.
      expect(rows.map((r) => String(r.storage_key).split('/').pop())).toEqual(files.map((_, i) => String(i)));
      // Besides them only the generated card, under the same prefix with a key naming its content, not a listing index.
      const card = await modelCardRow(sql, job.artifactId!);
      expect(card.path).toBe(CARD_PATH);
      expect(card.storageKey).toBe(`${storagePrefix(job.artifactId!)}card-${card.sha256.slice(0, 16)}`);
    } finally {
      await sql.end();
    }
    expect(server.requests.filter((r) => r.path === 'part-07.bin')).toHaveLength(3);
  });

  test('a file that is gone fails the ingest once, and no object is left in storage', async () => {
    expectErrorLog(/ingest failed .*part-03\.bin/);
    const u = await newUser(svc, 'parallel-fail');
    const outDir = await tempDir('out-fail');
    const files: WrittenFile[] = [];
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(128 * 1024);
      const path = `part-${String(i).padStart(2, '0')}.bin`;
      await writeFile(join(outDir, path), bytes);
      files.push({ path, size: bytes.byteLength, sha256: new Bun.CryptoHasher('sha256').update(bytes).digest('hex') });
    }
    const server = serveOutput(outDir, files, {
      bytesPerSecond: 512 * 1024,
      intercept: (path) => (path === 'part-03.bin' ? new Response('gone', { status: 404 }) : undefined),
    });
    servers.push(server);
    const run = await runTrainingJob(svc, u.api, { writeFiles: false, outputUri: server.uri });
    const job = await waitForIngest(u.api, run.jobId, 60_000);
    expect(job.ingestStatus).toBe('failed');
    expect(job.ingestError).toContain('part-03.bin');
    // Nothing left under the prefix every attempt of this job writes to.
    expect(storedFiles(svc, storagePrefix(artifactIdFor(run.jobId)))).toEqual([]);
    // A permanent error is not retried: one GET of the missing file.
    expect(server.requests.filter((r) => r.path === 'part-03.bin')).toHaveLength(1);
  });
});
