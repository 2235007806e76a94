import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { writeLoraOutput, type WrittenFile } from '../fixtures/lora.ts';
import { ingestSettled, modelCardRow, sqlFor, storedFiles } from '../helpers/ingest.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { serveOutput, serveWithCut, type OutputServer } from '../helpers/output-server.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
const dirs: string[] = [];
const stops: (() => void)[] = [];

beforeAll(async () => {
  svc = await startTestService({ label: 'ingest_faults' });
}, 120_000);
afterAll(async () => {
  for (const stop of stops) stop();
  await svc?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 120_000);

type User = Awaited<ReturnType<typeof newUser>>;

async function loraDir(): Promise<{ dir: string; files: WrittenFile[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ingest-faults-'));
  dirs.push(dir);
  const { files } = await writeLoraOutput(dir, { layers: 4, hidden: 256 });
  return { dir, files };
}

function serve(...args: Parameters<typeof serveOutput>): OutputServer {
  const server = serveOutput(...args);
  stops.push(() => server.stop());
  return server;
}

/**
 * The ingest failed for good, at the first attempt, with a readable error matching `pattern`; the user got
 * one failure notification and no model, and nothing is left in storage.
 */
async function expectFailed(service: TestService, u: User, jobId: string, name: string, pattern: RegExp) {
  // A failed ingest is an error-level line by design: declared, so the error-log guard lets it through.
  expectErrorLog(/ingest failed/);
  const job = await waitForIngest(u.api, jobId);
  expect(job.ingestStatus).toBe('failed');
  expect(job.ingestError).toMatch(pattern);
  expect(job.ingestError).not.toMatch(/\n\s+at /); // no stack trace
  expect(job.artifactId).toBeNull();
  expect(job.ingestAttempts).toBe(1); // permanent: no pg-boss retry
  const notes = await u.api.notifications.list.query({});
  expect(notes.notifications.map((n) => ({ type: n.type, title: n.title, body: n.body }))).toEqual([
    { type: 'ingest_failed', title: `Your model ${name} could not be delivered`, body: job.ingestError },
  ]);
  expect((await u.api.models.list.query({})).pagination.total).toBe(0);
  // Nothing left under the prefix every attempt of this job writes to.
  expect(storedFiles(service, storagePrefix(artifactIdFor(jobId)))).toEqual([]);
  // Settled: no attempt is left in pg-boss, so no late retry can flip it; a second look sees the same state.
  await ingestSettled(service, jobId);
  const again = await u.api.jobs.get.query({ jobId });
  expect(again.ingestStatus).toBe('failed');
  expect(again.ingestAttempts).toBe(1);
  return job;
}

async function expectReady(u: User, jobId: string, files: WrittenFile[]) {
  const job = await waitForIngest(u.api, jobId);
  expect(job.ingestError).toBeNull();
  expect(job.ingestStatus).toBe('ready');
  const model = await u.api.models.get.query({ modelId: job.artifactId! });
  const sql = sqlFor(svc);
  let card: Awaited<ReturnType<typeof modelCardRow>>;
  try {
    card = await modelCardRow(sql, model.id);
  } finally {
    await sql.end();
  }
  // The output's files (the trainer's README.md kept as README.trainer.md) and the generated model card.
  expect(model.files.map((f) => [f.path, f.sha256]).sort()).toEqual(
    [...asKept(files).map((f) => [f.path, f.sha256]), [CARD_PATH, card.sha256]].sort(),
  );
  const notes = await u.api.notifications.list.query({});
  expect(notes.notifications.filter((n) => n.type === 'model_ready')).toHaveLength(1);
  return job;
}

/** Overwrites the first 8 bytes of `path` (the safetensors header length); returns what was there. */
async function overwriteHeaderLength(path: string, value: bigint): Promise<Uint8Array> {
  const handle = await open(path, 'r+');
  try {
    const original = new Uint8Array(8);
    await handle.read(original, 0, 8, 0);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value, true);
    await handle.write(bytes, 0, 8, 0);
    return original;
  } finally {
    await handle.close();
  }
}

describe('transient faults are retried', () => {
  test('a source answering 500 twice (manifest and a file) then succeeding is delivered', async () => {
    const u = await newUser(svc, 'flaky');
    const { dir, files } = await loraDir();
    const server = serve(dir, files, {
      intercept: (path, _req, count) =>
        (path === 'manifest.json' || path === 'adapter_config.json') && count <= 2 ? new Response('busy', { status: 500 }) : undefined,
    });
    const run = await runTrainingJob(svc, u.api, { writeFiles: false, outputUri: server.uri });
    const job = await expectReady(u, run.jobId, files);
    expect(job.ingestAttempts).toBe(1); // recovered inside the attempt
    expect(server.requests.filter((r) => r.path === 'manifest.json')).toHaveLength(3);
    expect(server.requests.filter((r) => r.path === 'adapter_config.json')).toHaveLength(3);
  });

  test('a connection cut mid-file resumes with a Range request at the cut offset', async () => {
    const u = await newUser(svc, 'cut');
    const { dir, files } = await loraDir();
    const big = files.find((f) => f.path === 'adapter_model.safetensors')!;
    const cutAt = 50_000;
    expect(big.size).toBeGreaterThan(cutAt * 2);
    const server = await serveWithCut(dir, files, big.path, cutAt);
    stops.push(() => server.stop());
    const run = await runTrainingJob(svc, u.api, { writeFiles: false, outputUri: server.uri });
    await expectReady(u, run.jobId, files);
    expect(server.requests.filter((r) => r.path === big.path).map((r) => r.range)).toEqual([null, `bytes=${cutAt}-`]);
  });

  test('a source down for longer than the in-attempt retries is delivered by a queue retry', async () => {
    const u = await newUser(svc, 'down');
    const { dir, files } = await loraDir();
    // The in-attempt listing makes 5 tries; the 6th request is the queue's second attempt.
    const server = serve(dir, files, {
      intercept: (path, _req, count) => (path === 'manifest.json' && count <= 5 ? new Response('down', { status: 503 }) : undefined),
    });
    const run = await runTrainingJob(svc, u.api, { writeFiles: false, outputUri: server.uri });
    // While the retry waits, the job says what went wrong and that it is still being worked on.
    let sawRetrying = false;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const job = await u.api.jobs.get.query({ jobId: run.jobId });
      if (job.ingestStatus === 'ready' || job.ingestStatus === 'failed') break;
      if (job.ingestError?.includes('HTTP 503')) {
        sawRetrying = true;
        expect(job.ingestStatus).toBe('ingesting');
      }
      await Bun.sleep(100);
    }
    expect(sawRetrying).toBe(true);
    const job = await expectReady(u, run.jobId, files);
    expect(job.ingestAttempts).toBe(2);
    expect(server.requests.filter((r) => r.path === 'manifest.json')).toHaveLength(6);
    const notes = await u.api.notifications.list.query({});
    expect(notes.notifications.filter((n) => n.type === 'ingest_failed')).toHaveLength(0);
  }, 45_000);
});

describe('permanent faults fail the ingest at once, cleanly', () => {
  test('a truncated file (manifest says more bytes than served) names the file', async () => {
    const u = await newUser(svc, 'trunc');
    const { dir, files } = await loraDir();
    // tokenizer.json sorts after the adapter files, and files are copied in listing order, so the adapter's copy
    // had begun before the failure (and what it stored must go). Not a trainer file: those are read before the
    // copy and copied from those bytes, so their failure could come before any other request was made.
    const manifest = { files: files.map((f) => (f.path === 'tokenizer.json' ? { ...f, size: f.size + 1000 } : f)) };
    const server = serve(dir, files, { manifest });
    const run = await runTrainingJob(svc, u.api, { name: 'trunc-run', writeFiles: false, outputUri: server.uri });
    const job = await expectFailed(svc, u, run.jobId, 'trunc-run', /tokenizer\.json: expected \d+ bytes, got \d+/);
    const size = files.find((f) => f.path === 'tokenizer.json')!.size;
    expect(job.ingestError).toContain(`expected ${size + 1000} bytes, got ${size}`);
    expect(server.requests.some((r) => r.path === 'adapter_model.safetensors')).toBe(true);
  });

  test('a SHA-256 mismatch with the manifest fails', async () => {
    const u = await newUser(svc, 'sha');
    const { dir, files } = await loraDir();
    const wrong = 'ab'.repeat(32);
    const manifest = { files: files.map((f) => (f.path === 'tokenizer.json' ? { ...f, sha256: wrong } : f)) };
    const server = serve(dir, files, { manifest });
    const run = await runTrainingJob(svc, u.api, { name: 'sha-run', writeFiles: false, outputUri: server.uri });
    await expectFailed(svc, u, run.jobId, 'sha-run', new RegExp(`tokenizer\\.json: SHA-256 mismatch \\(expected ${wrong}, got [0-9a-f]{64}\\)`));
  });

  test('a corrupt safetensors header names adapter_model.safetensors', async () => {
    const u = await newUser(svc, 'corrupt');
    const run = await runTrainingJob(svc, u.api, {
      name: 'corrupt-run',
      writeOutput: async (dir) => {
        await writeLoraOutput(dir, { layers: 4, hidden: 256 });
        await overwriteHeaderLength(join(dir, 'adapter_model.safetensors'), 1n << 60n);
      },
    });
    await expectFailed(svc, u, run.jobId, 'corrupt-run', /^adapter_model\.safetensors: .*header/);
  });

  test('a manifest naming ../../etc/passwd is refused', async () => {
    const u = await newUser(svc, 'hostile1');
    const { dir, files } = await loraDir();
    const manifest = { files: [...files, { path: '../../etc/passwd', size: 10 }] };
    const server = serve(dir, files, { manifest });
    const run = await runTrainingJob(svc, u.api, { name: 'hostile-run', writeFiles: false, outputUri: server.uri });
    await expectFailed(svc, u, run.jobId, 'hostile-run', /unsafe file path "\.\.\/\.\.\/etc\/passwd"/);
    expect(server.requests.map((r) => r.path)).toEqual(['manifest.json']);
  });

  test('a manifest naming a file with a control character is refused', async () => {
    const u = await newUser(svc, 'hostile2');
    const { dir, files } = await loraDir();
    const manifest = { files: [...files, { path: 'logs/run\u001b[2J.txt', size: 10 }] };
    const server = serve(dir, files, { manifest });
    const run = await runTrainingJob(svc, u.api, { name: 'ctrl-run', writeFiles: false, outputUri: server.uri });
    const job = await expectFailed(svc, u, run.jobId, 'ctrl-run', /control character/);
    expect(job.ingestError).toContain('"logs/run\\u001b[2J.txt"'); // shown escaped, not raw
    expect(job.ingestError).not.toContain('\u001b');
  });

  test('an https output on a loopback address is refused when private hosts are not allowed', async () => {
    const strict = await startTestService({ label: 'ingest_ssrf', env: { SOURCE_ALLOW_PRIVATE_HOSTS: 'false' } });
    try {
      const u = await newUser(strict, 'ssrf');
      const { dir, files } = await loraDir();
      const server = serve(dir, files);
      const run = await runTrainingJob(strict, u.api, { name: 'ssrf-run', writeFiles: false, outputUri: `https://127.0.0.1:${server.port}/out/` });
      await expectFailed(strict, u, run.jobId, 'ssrf-run', /refused https:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1 resolves to non-public address/);
      expect(server.requests).toEqual([]); // never contacted
    } finally {
      await strict.stop();
    }
  });

  test('a missing output folder fails, naming the URI and no errno code', async () => {
    const u = await newUser(svc, 'missing');
    const run = await runTrainingJob(svc, u.api, { name: 'missing-run', writeOutput: (dir) => rm(dir, { recursive: true }) });
    const job = await expectFailed(svc, u, run.jobId, 'missing-run', /^output folder file:\/\/\S+: not found$/);
    expect(job.ingestError).toBe(`output folder file://${run.outputDir}: not found`);
  });
});

describe('retryIngest', () => {
  test('after the output is fixed, a retry delivers the model with exactly one model_ready notification', async () => {
    const u = await newUser(svc, 'retry');
    let files: WrittenFile[] = [];
    let original: Uint8Array = new Uint8Array();
    const run = await runTrainingJob(svc, u.api, {
      name: 'retry-run',
      writeOutput: async (dir) => {
        files = (await writeLoraOutput(dir, { layers: 4, hidden: 256 })).files;
        original = await overwriteHeaderLength(join(dir, 'adapter_model.safetensors'), 1n << 60n);
      },
    });
    const path = join(run.outputDir, 'adapter_model.safetensors');
    await expectFailed(svc, u, run.jobId, 'retry-run', /adapter_model\.safetensors/);

    const handle = await open(path, 'r+');
    await handle.write(original, 0, 8, 0);
    await handle.close();
    expect(await u.api.jobs.retryIngest.mutate({ jobId: run.jobId })).toEqual({ jobId: run.jobId, ingestStatus: 'pending' });
    const job = await expectReady(u, run.jobId, files);
    expect(job.ingestAttempts).toBe(2);
    // A retry of a delivered job is refused, and a second look still finds one notification of each kind.
    await expect(u.api.jobs.retryIngest.mutate({ jobId: run.jobId })).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
    await ingestSettled(svc, run.jobId);
    const notes = await u.api.notifications.list.query({});
    expect(notes.notifications.map((n) => n.type).sort()).toEqual(['ingest_failed', 'model_ready']);
  });
});
