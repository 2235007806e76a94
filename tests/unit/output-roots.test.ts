// The decision of where a training output may be read from, on real folders.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkOutputUri, fillPlaceholders, type OutputPolicy } from '../../server/ingest/sources/allowed.ts';

let tmp: string;
let dataDir: string;
const job = { jobId: '11111111-1111-4111-8111-111111111111', userId: 'user_A', workspaceId: '44444444-4444-4444-8444-444444444444' };
const other = '22222222-2222-4222-8222-222222222222';
const otherWorkspace = '55555555-5555-4555-8555-555555555555';

const policy = (overrides: Partial<OutputPolicy> = {}): OutputPolicy => ({
  dataDir,
  sourceFileRoots: [path.join(dataDir, 'outputs', '{jobId}')],
  sourceS3Prefixes: [],
  ...overrides,
});
const allowed = async (p: OutputPolicy, uri: string) => (await checkOutputUri(p, job, uri)).allowed;

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'output-roots-')));
  dataDir = path.join(tmp, 'data');
  for (const d of ['outputs', 'storage', 'postgres']) fs.mkdirSync(path.join(dataDir, d), { recursive: true });
  fs.mkdirSync(path.join(dataDir, 'outputs', job.jobId));
  fs.mkdirSync(path.join(dataDir, 'outputs', other));
  fs.mkdirSync(path.join(tmp, 'shared', 'user_A', 'run'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'teams', job.workspaceId, 'run'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'teams', otherWorkspace, 'run'), { recursive: true });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('file://', () => {
  test("the job's own folder (and below, and not yet created) is allowed by default", async () => {
    const own = path.join(dataDir, 'outputs', job.jobId);
    expect(await checkOutputUri(policy(), job, `file://${own}`)).toMatchObject({ allowed: true, file: { allowedRoot: own } });
    expect(await allowed(policy(), `file://${own}/`)).toBe(true);
    expect(await allowed(policy(), `file://${own}/final/not-yet`)).toBe(true);
  });

  test('anything else is refused, with a reason naming outputUri', async () => {
    const refused = await checkOutputUri(policy(), job, 'file:///etc');
    expect(refused).toEqual({ allowed: false, reason: expect.stringContaining('outputUri file:///etc') });
    for (const uri of [
      `file://${path.join(dataDir, 'outputs', other)}`,
      `file://${path.join(dataDir, 'outputs')}`,
      `file://${path.join(dataDir, 'outputs', job.jobId)}/../${other}`,
      `file://${path.join(dataDir, 'outputs', job.jobId)}-x`,
      `file://${dataDir}`,
    ]) {
      expect([uri, await allowed(policy(), uri)]).toEqual([uri, false]);
    }
  });

  test('even with SOURCE_FILE_ROOTS=/, nothing of DATA_DIR outside outputs/ nor the staged cluster is readable', async () => {
    const all = policy({ sourceFileRoots: ['/'] });
    for (const p of [
      dataDir,
      path.join(dataDir, 'storage'),
      path.join(dataDir, 'storage', 'u1'),
      path.join(dataDir, 'postgres'),
      tmp,
      '/',
      '/var/lib/lora-artifacts',
    ]) {
      expect([p, await allowed(all, `file://${p}`)]).toEqual([p, false]);
    }
    expect(await allowed(all, `file://${path.join(dataDir, 'outputs', other)}`)).toBe(true); // the operator chose /
    expect(await allowed(all, 'file:///etc')).toBe(true);
  });

  test('a cluster staged outside DATA_DIR (postgres.location) is refused', async () => {
    const staged = path.join(tmp, 'staged-cluster');
    fs.mkdirSync(staged);
    fs.writeFileSync(path.join(dataDir, 'postgres.location'), `${staged}\n`);
    try {
      const all = policy({ sourceFileRoots: [tmp] });
      expect(await allowed(all, `file://${staged}`)).toBe(false);
      expect(await allowed(all, `file://${path.join(staged, 'base')}`)).toBe(false);
      expect(await allowed(all, `file://${path.join(tmp, 'shared')}`)).toBe(true);
    } finally {
      fs.rmSync(path.join(dataDir, 'postgres.location'));
    }
  });

  test('symlinks are resolved: a link inside the root to /etc or to DATA_DIR is refused', async () => {
    const own = path.join(dataDir, 'outputs', job.jobId);
    fs.symlinkSync('/etc', path.join(own, 'etc-link'));
    fs.symlinkSync(path.join(dataDir, 'storage'), path.join(own, 'storage-link'));
    expect(await allowed(policy(), `file://${own}/etc-link`)).toBe(false);
    expect(await allowed(policy({ sourceFileRoots: ['/'] }), `file://${own}/storage-link`)).toBe(false);
    expect(await allowed(policy(), `file://${own}/etc-link/not-yet`)).toBe(false);
  });

  test('{userId} is filled from the job', async () => {
    const p = policy({ sourceFileRoots: [path.join(tmp, 'shared', '{userId}')] });
    expect(await allowed(p, `file://${path.join(tmp, 'shared', 'user_A', 'run')}`)).toBe(true);
    expect(await checkOutputUri(p, { ...job, userId: 'user_B' }, `file://${path.join(tmp, 'shared', 'user_A', 'run')}`)).toMatchObject({
      allowed: false,
    });
  });

  test('{workspaceId} is filled from the job: its workspace folder is admitted, another workspace’s is not', async () => {
    const p = policy({ sourceFileRoots: [path.join(tmp, 'teams', '{workspaceId}')] });
    expect(await checkOutputUri(p, job, `file://${path.join(tmp, 'teams', job.workspaceId, 'run')}`)).toMatchObject({
      allowed: true,
      file: { allowedRoot: path.join(tmp, 'teams', job.workspaceId) },
    });
    expect(await allowed(p, `file://${path.join(tmp, 'teams', otherWorkspace, 'run')}`)).toBe(false);
    expect(
      await checkOutputUri(p, { ...job, workspaceId: otherWorkspace }, `file://${path.join(tmp, 'teams', job.workspaceId, 'run')}`),
    ).toMatchObject({
      allowed: false,
    });
    // With the job too: one folder per job inside its workspace's.
    const both = policy({ sourceFileRoots: [path.join(tmp, 'teams', '{workspaceId}', '{jobId}')] });
    expect(await allowed(both, `file://${path.join(tmp, 'teams', job.workspaceId, job.jobId)}`)).toBe(true);
    expect(await allowed(both, `file://${path.join(tmp, 'teams', job.workspaceId, 'run')}`)).toBe(false);
  });

  test('a job whose creator is gone admits nothing through a {userId} root', async () => {
    const p = policy({ sourceFileRoots: [path.join(tmp, 'shared', '{userId}')] });
    expect(await allowed(p, `file://${path.join(tmp, 'shared', 'user_A', 'run')}`)).toBe(true);
    expect(await checkOutputUri(p, { ...job, userId: null }, `file://${path.join(tmp, 'shared', 'user_A', 'run')}`)).toMatchObject({
      allowed: false,
    });
  });

  test('a placeholder value that would change the path admits nothing', () => {
    const ws = job.workspaceId;
    expect(fillPlaceholders('/srv/{userId}/out', { jobId: 'j', userId: '..', workspaceId: ws })).toBeNull();
    expect(fillPlaceholders('/srv/{userId}/out', { jobId: 'j', userId: 'a/b', workspaceId: ws })).toBeNull();
    expect(fillPlaceholders('/srv/{workspaceId}/out', { jobId: 'j', userId: 'u', workspaceId: '..' })).toBeNull();
    expect(fillPlaceholders('/srv/{userId}/{jobId}', { jobId: 'j', userId: 'u', workspaceId: ws })).toBe('/srv/u/j');
    expect(fillPlaceholders('/srv/{workspaceId}/{jobId}', { jobId: 'j', userId: 'u', workspaceId: ws })).toBe(`/srv/${ws}/j`);
  });
});

describe('s3://', () => {
  const s3 = { dataDir: '/nonexistent-data', sourceFileRoots: [], sourceS3Prefixes: [{ bucket: 'vol', prefix: 'runs/{jobId}' }] };

  test('without SOURCE_S3_PREFIXES every s3:// output is refused', async () => {
    expect(await checkOutputUri(policy(), job, `s3://vol/runs/${job.jobId}/`)).toEqual({
      allowed: false,
      reason: expect.stringContaining('SOURCE_S3_PREFIXES is unset'),
    });
  });

  test("{workspaceId} in a prefix admits the job's workspace only", async () => {
    const team = { dataDir: '/nonexistent-data', sourceFileRoots: [], sourceS3Prefixes: [{ bucket: 'vol', prefix: 'teams/{workspaceId}' }] };
    expect(await allowed(team, `s3://vol/teams/${job.workspaceId}/run/`)).toBe(true);
    expect(await allowed(team, `s3://vol/teams/${otherWorkspace}/run/`)).toBe(false);
  });

  test("under the job's own prefix, as whole segments", async () => {
    expect(await allowed(s3, `s3://vol/runs/${job.jobId}`)).toBe(true);
    expect(await allowed(s3, `s3://vol/runs/${job.jobId}/`)).toBe(true);
    expect(await allowed(s3, `s3://vol/runs/${job.jobId}/final/`)).toBe(true);
    expect(await allowed(s3, `s3://vol/runs/${job.jobId}0/`)).toBe(false);
    expect(await allowed(s3, `s3://vol/runs/${other}/`)).toBe(false);
    expect(await allowed(s3, 's3://vol/runs/')).toBe(false);
    expect(await allowed(s3, `s3://other/runs/${job.jobId}/`)).toBe(false);
  });

  test('dot, dot-dot and empty segments are refused, encoded or not', async () => {
    for (const uri of [
      `s3://vol/runs/${job.jobId}/../${other}/`,
      `s3://vol/runs/${job.jobId}/%2E%2E/${other}/`,
      `s3://vol/runs/${job.jobId}%2F..%2F${other}/`,
      `s3://vol/runs/${job.jobId}//x/`,
      `s3://vol/runs/${job.jobId}/./x/`,
    ]) {
      expect([uri, await allowed(s3, uri)]).toEqual([uri, false]);
    }
  });

  test('https:// is left to its own guard', async () => {
    expect(await allowed(policy(), 'https://example.com/out/')).toBe(true);
  });
});

test('a job folder that is itself a symlink does not move the root: outputs/<jobId> -> /etc is refused', async () => {
  const linked = '33333333-3333-4333-8333-333333333333';
  fs.symlinkSync('/etc', path.join(dataDir, 'outputs', linked));
  const owner = { ...job, jobId: linked };
  expect(await checkOutputUri(policy(), owner, `file://${path.join(dataDir, 'outputs', linked)}`)).toMatchObject({ allowed: false });
  expect(await checkOutputUri(policy(), owner, `file://${path.join(dataDir, 'outputs', linked)}/passwd-dir`)).toMatchObject({ allowed: false });
  // The operator's own part may be a symlink (a mounted volume): it is resolved.
  fs.symlinkSync(path.join(dataDir, 'outputs'), path.join(tmp, 'outputs-link'));
  expect(
    await allowed(policy({ sourceFileRoots: [path.join(tmp, 'outputs-link', '{jobId}')] }), `file://${path.join(dataDir, 'outputs', job.jobId)}`),
  ).toBe(true);
});

test('FileSource re-checks its confinement when it reads: a folder swapped for a symlink after admission is refused', async () => {
  const { FileSource } = await import('../../server/ingest/sources/file-source.ts');
  const { PermanentSourceError } = await import('../../server/ingest/sources/source.ts');
  const folder = path.join(dataDir, 'outputs', job.jobId, 'swapped');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'a.txt'), 'a');
  const decision = await checkOutputUri(policy(), job, `file://${folder}`);
  if (!decision.allowed) throw new Error('expected the folder to be admitted');
  expect(await new FileSource(`file://${folder}`, decision.file).list()).toEqual([{ path: 'a.txt', size: 1 }]);
  fs.rmSync(folder, { recursive: true });
  fs.symlinkSync('/etc', folder);
  const error = await new FileSource(`file://${folder}`, decision.file).list().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PermanentSourceError);
  expect((error as Error).message).toBe(`output folder file://${folder}: refused, it resolves outside the folders this service may read`);
});
