// Generated names win; a colliding output file is kept as <stem>.trainer<ext>, nothing lost.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { sqlFor } from '../helpers/ingest.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
let tmp: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'generated_names' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'generated-names-'));
}, 120_000);
afterAll(async () => {
  await svc?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

const TRAINER_SUMS = 'not the service checksums\n';
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Downloads the model's bundle through its signed link and unzips it; returns the folder. */
async function unzipBundle(api: Awaited<ReturnType<typeof newUser>>['api'], modelId: string, label: string) {
  const { bundle } = await api.models.download.mutate({ modelId });
  const res = await fetch(bundle!.url);
  expect(res.status).toBe(200);
  const zip = path.join(tmp, `${label}.zip`);
  await Bun.write(zip, new Uint8Array(await res.arrayBuffer()));
  const out = path.join(tmp, label);
  expect(Bun.spawnSync(['unzip', '-q', zip, '-d', out]).exitCode).toBe(0);
  return out;
}

test('an output file named SHA256SUMS is kept as SHA256SUMS.trainer; x:y.txt is a legal name; the bundle downloads', async () => {
  const u = await newUser(svc, 'sums');
  const run = await runTrainingJob(svc, u.api, {
    name: 'sums',
    writeOutput: async (dir) => {
      await writeLoraOutput(dir, { layers: 2, hidden: 32 });
      fs.writeFileSync(path.join(dir, 'SHA256SUMS'), TRAINER_SUMS);
      fs.writeFileSync(path.join(dir, 'x:y.txt'), 'colon');
    },
  });
  const job = await waitForIngest(u.api, run.jobId);
  expect(job.ingestError).toBeNull();
  expect(job.ingestStatus).toBe('ready');
  const model = await u.api.models.get.query({ modelId: job.artifactId! });
  const paths = model.files.map((f) => f.path);
  expect(paths).toContain('SHA256SUMS.trainer');
  expect(paths).toContain('x:y.txt');
  expect(paths).not.toContain('SHA256SUMS');
  expect(model.files.find((f) => f.path === 'SHA256SUMS.trainer')!.sha256).toBe(sha256(TRAINER_SUMS));
  const sql = sqlFor(svc);
  try {
    const rows = await sql<{ path: string; source_path: string | null }[]>`
      select path, source_path from artifact_files where artifact_id = ${model.id} and source_path is not null order by path`;
    // The LoRA fixture writes its own README.md: the generated model card takes that name, the trainer's is kept too.
    expect([...rows]).toEqual([
      { path: 'README.trainer.md', source_path: 'README.md' },
      { path: 'SHA256SUMS.trainer', source_path: 'SHA256SUMS' },
    ]);

    const out = await unzipBundle(u.api, model.id, 'fresh');
    expect(fs.readFileSync(path.join(out, 'SHA256SUMS.trainer'), 'utf8')).toBe(TRAINER_SUMS);
    const check = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: out, stdout: 'pipe', stderr: 'pipe' });
    expect(check.stderr.toString()).toBe('');
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain('SHA256SUMS.trainer: OK');

    // A model stored before this rule (its file still called SHA256SUMS) downloads the same way.
    await sql`update artifact_files set path = 'SHA256SUMS', source_path = null where artifact_id = ${model.id} and path = 'SHA256SUMS.trainer'`;
    const legacy = await unzipBundle(u.api, model.id, 'legacy');
    expect(fs.readFileSync(path.join(legacy, 'SHA256SUMS.trainer'), 'utf8')).toBe(TRAINER_SUMS);
    expect(Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: legacy }).exitCode).toBe(0);
  } finally {
    await sql.end();
  }
});
