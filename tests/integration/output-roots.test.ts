// A training output is read only from where the operator allows, scoped to the job.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { sqlFor } from '../helpers/ingest.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { startS3rver, type TestS3 } from '../helpers/s3rver.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { outputFolder, runTrainingJob, waitForIngest } from '../helpers/training.ts';
import { sampleJobConfig } from '../helpers/factories.ts';

type User = Awaited<ReturnType<typeof newUser>>;

let tmp: string;
let s3: TestS3;
let svc: TestService; // default roots (DATA_DIR/outputs/{jobId}), S3 prefix bucket/runs/{jobId}
let open: TestService; // SOURCE_FILE_ROOTS=/ and S3 credentials without SOURCE_S3_PREFIXES
let perUser: TestService; // SOURCE_FILE_ROOTS=<tmp>/shared/{userId}

beforeAll(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'output-roots-')));
  s3 = await startS3rver(['bucket']);
  const s3Env = s3.sourceEnv;
  svc = await startTestService({ label: 'roots', env: { ...s3Env, SOURCE_S3_PREFIXES: 'bucket/runs/{jobId}' } });
  open = await startTestService({ label: 'roots_open', env: { ...s3Env, SOURCE_FILE_ROOTS: '/' } });
  perUser = await startTestService({ label: 'roots_user', env: { SOURCE_FILE_ROOTS: path.join(tmp, 'shared', '{userId}') } });
}, 120_000);

afterAll(async () => {
  await Promise.all([svc?.stop(), open?.stop(), perUser?.stop()]);
  await s3?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

/** A started training job (not completed) and a client holding its worker token. */
async function runningJob(s: TestService, u: User) {
  const { id: datasetId } = await u.api.datasets.create.mutate({ name: 'ds' });
  const { jobId, workerToken } = await u.api.jobs.create.mutate({
    datasetId,
    name: `roots-${Math.random().toString(36).slice(2, 7)}`,
    config: { ...sampleJobConfig, epochs: 1 },
    gpu: { type: 'A100-80GB', count: 1 },
  });
  const worker = client(s.url, { token: workerToken });
  await worker.jobs.start.mutate({ jobId });
  return { jobId, worker };
}

const summary = { epochsCompleted: 1, totalSteps: 10, durationSeconds: 60, costUsd: 0.1 };

/** jobs.complete with `outputUri` is BAD_REQUEST naming outputUri; the job stays running and nothing is enqueued. */
async function expectRefused(s: TestService, u: User, outputUri: string) {
  const { jobId, worker } = await runningJob(s, u);
  const error = await worker.jobs.complete.mutate({ jobId, outputUri, summary }).then(
    () => null,
    (e: unknown) => e as { message: string; data: { code: string; zodError: { fieldErrors: Record<string, string[]> } | null } },
  );
  expect([outputUri, error?.data.code]).toEqual([outputUri, 'BAD_REQUEST']);
  expect(error!.message).toContain('outputUri');
  expect(error!.data.zodError?.fieldErrors.outputUri).toEqual([error!.message]);
  const job = await u.api.jobs.get.query({ jobId });
  expect(job).toMatchObject({ status: 'running', ingestStatus: 'none', outputUri: null });
  const sql = sqlFor(s);
  try {
    const { n } = (await sql<{ n: number }[]>`select count(*)::int as n from pgboss.job where singleton_key = ${jobId}`)[0]!;
    expect(n).toBe(0);
  } finally {
    await sql.end();
  }
}

/** The ingest failed for good with a message naming outputUri, and there is no model. */
async function expectIngestRefused(u: User, jobId: string) {
  // The refusal is an error-level line by design: declared for the error-log guard.
  expectErrorLog(/ingest failed/);
  const job = await waitForIngest(u.api, jobId);
  expect(job.ingestStatus).toBe('failed');
  expect(job.ingestError).toMatch(/^outputUri file:\/\/\S+ is not a folder this service may read/);
  expect(job.artifactId).toBeNull();
  expect((await u.api.models.list.query({})).pagination.total).toBe(0);
}

describe('jobs.complete refuses outputs outside the allowed roots', () => {
  test('file:///etc', async () => {
    await expectRefused(svc, await newUser(svc, 'etc'), 'file:///etc');
  });

  test("another job's folder (outputs/<otherJobId>), the outputs folder itself and DATA_DIR", async () => {
    const u = await newUser(svc, 'other');
    const { jobId: otherJobId } = await runningJob(svc, u);
    await writeLoraOutput(outputFolder(svc, otherJobId), { layers: 2, hidden: 32 });
    await expectRefused(svc, u, `file://${outputFolder(svc, otherJobId)}`);
    await expectRefused(svc, u, `file://${path.join(svc.dataDir, 'outputs')}`);
    await expectRefused(svc, u, `file://${svc.dataDir}`);
  });

  test('a symlink inside the allowed root that points to /etc, or a job folder that is one', async () => {
    const u = await newUser(svc, 'link');
    const { jobId, worker } = await runningJob(svc, u);
    fs.mkdirSync(outputFolder(svc, jobId), { recursive: true });
    fs.symlinkSync('/etc', path.join(outputFolder(svc, jobId), 'out'));
    const error = await worker.jobs.complete.mutate({ jobId, outputUri: `file://${outputFolder(svc, jobId)}/out`, summary }).catch((e) => e);
    expect(error.data.code).toBe('BAD_REQUEST');
    expect(error.data.zodError.fieldErrors.outputUri).toHaveLength(1);

    const second = await runningJob(svc, u);
    fs.mkdirSync(path.join(svc.dataDir, 'outputs'), { recursive: true });
    fs.symlinkSync('/etc', outputFolder(svc, second.jobId));
    const again = await second.worker.jobs.complete
      .mutate({ jobId: second.jobId, outputUri: `file://${outputFolder(svc, second.jobId)}`, summary })
      .catch((e) => e);
    expect(again.data.code).toBe('BAD_REQUEST');
    expect((await u.api.jobs.get.query({ jobId: second.jobId })).status).toBe('running');
  });

  test("with SOURCE_FILE_ROOTS=/, the service's DATA_DIR, its storage, its cluster and the stage root stay unreadable", async () => {
    const u = await newUser(open, 'open');
    // A cluster the postgres user could not keep under DATA_DIR is staged elsewhere, with a pointer left behind.
    const staged = path.join(tmp, 'staged-cluster');
    fs.mkdirSync(staged);
    fs.writeFileSync(path.join(open.dataDir, 'postgres.location'), `${staged}\n`);
    for (const p of [
      open.dataDir,
      path.join(open.dataDir, 'storage'),
      path.join(open.dataDir, 'postgres'),
      staged,
      '/var/lib/lora-artifacts',
      '/',
      tmp,
    ]) {
      await expectRefused(open, u, `file://${p}`);
    }
    // The operator's `/` does admit an ordinary folder.
    const run = await runTrainingJob(open, u.api, {
      name: 'open-ok',
      outputUri: `file://${path.join(tmp, 'elsewhere')}`,
      writeOutput: () => writeLoraOutput(path.join(tmp, 'elsewhere'), { layers: 2, hidden: 32 }),
    });
    expect((await waitForIngest(u.api, run.jobId)).ingestStatus).toBe('ready');
  });

  test("{userId} is filled from the job: the own folder is read, another user's is refused", async () => {
    const a = await newUser(perUser, 'ua');
    const b = await newUser(perUser, 'ub');
    const own = path.join(tmp, 'shared', a.userId, 'run1');
    const run = await runTrainingJob(perUser, a.api, {
      name: 'per-user',
      outputUri: `file://${own}`,
      writeOutput: () => writeLoraOutput(own, { layers: 2, hidden: 32 }),
    });
    expect((await waitForIngest(a.api, run.jobId)).ingestStatus).toBe('ready');
    await expectRefused(perUser, b, `file://${own}`);
  });

  test("s3:// is refused without SOURCE_S3_PREFIXES and under another job's prefix, admitted under its own", async () => {
    const u = await newUser(svc, 's3');
    await expectRefused(open, await newUser(open, 's3open'), 's3://bucket/runs/x/');
    const { jobId: otherJobId } = await runningJob(svc, u);
    await expectRefused(svc, u, `s3://bucket/runs/${otherJobId}/`);
    await expectRefused(svc, u, 's3://bucket/runs/');
    const run = await runTrainingJob(svc, u.api, {
      name: 's3-own',
      outputUri: 's3://bucket/runs/{jobId}/',
      writeOutput: async (dir, jobId) => {
        const { files } = await writeLoraOutput(dir, { layers: 2, hidden: 32 });
        for (const f of files) {
          const body = await Bun.file(path.join(dir, f.path)).bytes();
          await s3.client.send(new PutObjectCommand({ Bucket: 'bucket', Key: `runs/${jobId}/${f.path}`, Body: body, ContentLength: body.length }));
        }
      },
    });
    expect((await waitForIngest(u.api, run.jobId)).ingestStatus).toBe('ready');
  });
});

describe('the ingest checks again before reading', () => {
  /** What a row completed before the check existed, or re-queued by the sweep, looks like: set by SQL, then queued. */
  async function completeBySql(s: TestService, u: User, outputUri: (jobId: string) => string) {
    const { jobId } = await runningJob(s, u);
    const sql = sqlFor(s);
    try {
      await sql`update training_jobs set status = 'completed', output_uri = ${outputUri(jobId)}, completed_at = now(),
        epochs_completed = 1, total_steps = 10, duration_seconds = 60, cost_usd = 0.1 where id = ${jobId}`;
    } finally {
      await sql.end();
    }
    expect(await u.api.jobs.retryIngest.mutate({ jobId })).toEqual({ jobId, ingestStatus: 'pending' });
    return jobId;
  }

  test('an output_uri of file:///etc set by SQL fails the ingest with no model', async () => {
    const u = await newUser(svc, 'sql-etc');
    await expectIngestRefused(u, await completeBySql(svc, u, () => 'file:///etc'));
  });

  test('a job folder swapped for a symlink to /etc after completion fails the ingest with no model', async () => {
    const u = await newUser(svc, 'swap');
    const jobId = await completeBySql(svc, u, (id) => {
      fs.mkdirSync(path.join(svc.dataDir, 'outputs'), { recursive: true });
      fs.symlinkSync('/etc', outputFolder(svc, id));
      return `file://${outputFolder(svc, id)}`;
    });
    await expectIngestRefused(u, jobId);
  });

  test("the service's own DATA_DIR set by SQL fails the ingest even with SOURCE_FILE_ROOTS=/", async () => {
    const u = await newUser(open, 'sql-data');
    await expectIngestRefused(u, await completeBySql(open, u, () => `file://${open.dataDir}`));
  });
});
