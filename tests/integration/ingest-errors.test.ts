// ingestError names the user's own URI and files, never server paths or errno codes.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { GENERIC_STORAGE_FAILURE } from '../../server/ingest/user-message.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ label: 'ingest_errors' });
}, 120_000);
afterAll(async () => {
  await svc?.stop();
}, 120_000);

const ERRNO = /\bE[A-Z]{3,}\b/;

test('a missing output folder reads "not found" and names only the URI', async () => {
  expectErrorLog(/ingest failed/);
  const u = await newUser(svc, 'missing');
  const run = await runTrainingJob(svc, u.api, { name: 'missing', writeOutput: (dir) => fs.rmSync(dir, { recursive: true }) });
  const job = await waitForIngest(u.api, run.jobId);
  expect(job.ingestStatus).toBe('failed');
  expect(job.ingestError).toBe(`output folder file://${run.outputDir}: not found`);
});

test('an unreadable file (a symlink loop) is named relative to the output, without its server path or errno', async () => {
  expectErrorLog(/ingest failed/);
  const u = await newUser(svc, 'loop');
  const run = await runTrainingJob(svc, u.api, {
    name: 'loop',
    writeOutput: async (dir) => {
      await writeLoraOutput(dir, { layers: 2, hidden: 32 });
      fs.mkdirSync(path.join(dir, 'logs'));
      fs.symlinkSync('loop.txt', path.join(dir, 'logs', 'loop.txt'));
    },
  });
  const job = await waitForIngest(u.api, run.jobId);
  expect(job.ingestStatus).toBe('failed');
  expect(job.ingestError).toBe('logs/loop.txt: not readable');
  expect(job.ingestError).not.toMatch(ERRNO);
});

test('a storage failure reads as a generic storage failure, not the storage path and errno', async () => {
  const u = await newUser(svc, 'storage');
  const run = await runTrainingJob(svc, u.api, {
    name: 'storage',
    writeOutput: async (dir, jobId) => {
      await writeLoraOutput(dir, { layers: 2, hidden: 32 });
      // The model's storage folder (artifacts/{artifactId}, derived from the job) is a file: every write
      // under it fails with ENOTDIR naming the server path.
      const folder = path.join(svc.dataDir, 'storage', storagePrefix(artifactIdFor(jobId)).replace(/\/$/, ''));
      fs.mkdirSync(path.dirname(folder), { recursive: true });
      fs.writeFileSync(folder, 'in the way');
    },
  });
  // A storage failure is retried; the first attempt already records what the user sees.
  const deadline = Date.now() + 30_000;
  let job = await u.api.jobs.get.query({ jobId: run.jobId });
  while (job.ingestError === null) {
    if (Date.now() > deadline) throw new Error(`no ingestError after 30 s (status ${job.ingestStatus})`);
    await Bun.sleep(50);
    job = await u.api.jobs.get.query({ jobId: run.jobId });
  }
  expect(job.ingestError).toBe(GENERIC_STORAGE_FAILURE);
  expect(job.ingestError).not.toContain(svc.dataDir);
  expect(job.ingestError).not.toMatch(ERRNO);
});
