// Share links for one model: a public, read-only page and downloads that need no account, audited with
// the share's id, and gone at once after unshare, deletion of the model, or expiry.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { downloadEvents } from '../../db/schema/index.ts';
import { hashToken } from '../../server/auth/tokens.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf, sampleJobConfig } from '../helpers/factories.ts';
import { client, fixedClock, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const DAY = 24 * 3600;
const UA = 'share-visitor/1.0';

let svc: TestService;
const clock = fixedClock();
let owner: Awaited<ReturnType<typeof newUser>>;
let workspaceId: string;
/** A model delivered by the real ingest (files, adapter, loss curve). */
let modelId: string;
let jobId: string;
let datasetId: string;

const anonymous = () => client(svc.url);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The tRPC error code a call fails with (null when it succeeds). */
async function codeOf(call: Promise<unknown>): Promise<string | null> {
  return call.then(
    () => null,
    (e: { data?: { code?: string } }) => e.data?.code ?? String(e),
  );
}

/** shares.download over plain HTTP without any cookie or token, with a User-Agent to find in the audit trail. */
async function shareDownload(token: string, fileIds?: string[]) {
  const res = await fetch(`${svc.url}/trpc/shares.download`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': UA },
    body: JSON.stringify({ token, fileIds }),
  });
  const body = (await res.json()) as {
    result?: { data: { files: { id: string; path: string; sha256: string; sizeBytes: number; url: string }[]; bundle: { url: string } | null } };
    error?: { data: { code: string } };
  };
  if (!body.result) throw new Error(`shares.download: ${res.status} ${body.error?.data.code}`);
  return body.result.data;
}

const events = (shareId: string) => svc.deps.database.db.select().from(downloadEvents).where(eq(downloadEvents.shareId, shareId));

beforeAll(async () => {
  svc = await startTestService({ label: 'shares', now: clock.now });
  owner = await newUser(svc, 'owner');
  workspaceId = await personalWorkspaceOf(svc.deps, owner.userId);
  const run = await runTrainingJob(svc, owner.api, { name: 'support-bot-secret-job', lora: { layers: 2, hidden: 32 } });
  const job = await waitForIngest(owner.api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  modelId = job.artifactId!;
  jobId = run.jobId;
  datasetId = run.datasetId;
}, 120_000);

afterAll(() => svc?.stop());

describe('a live share link', () => {
  test('shares.get works with no sign-in and shows the model card, files and loss curve, and nothing else of the workspace', async () => {
    const share = await owner.api.models.share.mutate({ modelId });
    expect(share.token).toMatch(/^lsh_[A-Za-z0-9_-]{43}$/);
    expect(share.url).toBe(`${svc.deps.env.publicUrl}/s/${share.token}`);
    expect(Date.parse(share.expiresAt)).toBe(clock.now() + 7 * DAY * 1000);

    const page = await anonymous().shares.get.query({ token: share.token });
    const model = await owner.api.models.get.query({ modelId });
    expect(model.share).toEqual({ id: share.id, expiresAt: share.expiresAt, createdAt: expect.any(String) });
    expect(page).toEqual({
      expiresAt: share.expiresAt,
      model: {
        id: modelId,
        name: model.name,
        createdAt: model.createdAt,
        qualityScore: model.qualityScore,
        convergenceQuality: model.convergenceQuality,
        totalBytes: model.totalBytes,
        quality: model.quality,
        trainingSummary: model.trainingSummary,
        configuration: model.configuration,
        adapter: model.adapter,
        compatibility: model.compatibility,
        weights: model.weights,
        usage: model.usage,
        files: model.files,
        lossCurve: model.lossCurve,
        curveSource: model.curveSource,
        evaluations: model.evaluations,
      },
    });
    expect(page.model.files.length).toBeGreaterThan(1);
    expect(page.model.lossCurve.length).toBeGreaterThan(10);

    // Nothing of the workspace: no dataset, job, workspace or people, and no storage keys.
    const json = JSON.stringify(page);
    const keys = await svc.deps.database.db.execute<{ key: string; source: string | null; path: string }>(
      sql`select storage_key as key, source_path as source, path from artifact_files where artifact_id = ${modelId}`,
    );
    // A renamed file's original name is not shown, unless a file now bears it (README.md: the generated card).
    const shownPaths = new Set(keys.map((k) => k.path));
    const secrets = [
      datasetId,
      jobId,
      'support-tickets',
      workspaceId,
      owner.userId,
      owner.email,
      'Test User',
      ...keys.map((k) => k.key),
      ...keys.flatMap((k) => (k.source && !shownPaths.has(k.source) ? [k.source] : [])),
      svc.dataDir,
    ];
    for (const secret of secrets) expect([secret, json.includes(secret)]).toEqual([secret, false]);
    for (const field of ['dataset', 'job', 'workspaceId', 'role', 'share', 'createdBy', 'bestCheckpoint'])
      expect(page.model).not.toHaveProperty(field);
  });

  test('shares.download gives working links, each download recorded with the share id and no user (bundle too)', async () => {
    const share = await owner.api.models.share.mutate({ modelId });
    const { files } = (await anonymous().shares.get.query({ token: share.token })).model;

    const all = await shareDownload(share.token);
    expect(all.files.map((f) => f.id).sort()).toEqual(files.map((f) => f.id).sort());
    for (const f of all.files) {
      const res = await fetch(f.url);
      expect([f.path, res.status]).toEqual([f.path, 200]);
      const body = new Uint8Array(await res.arrayBuffer());
      expect(body.byteLength).toBe(f.sizeBytes);
      expect(sha256(body)).toBe(files.find((x) => x.id === f.id)!.sha256);
    }
    const zip = await fetch(all.bundle!.url, { headers: { 'user-agent': UA } });
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-type')).toBe('application/zip');
    const zipBytes = new Uint8Array(await zip.arrayBuffer());
    expect(Buffer.from(zipBytes.subarray(0, 4)).toString('hex')).toBe('504b0304');
    // A stored zip: every file's bytes, and its SHA256SUMS naming each hash, are in it as they are.
    expect(zipBytes.byteLength).toBeGreaterThan(all.files.reduce((s, f) => s + f.sizeBytes, 0));
    const zipText = Buffer.from(zipBytes).toString('latin1');
    for (const f of files) expect(zipText).toContain(`${f.sha256}  ${f.path}`);

    const one = await shareDownload(share.token, [files[0]!.id]);
    expect(one.files.map((f) => f.id)).toEqual([files[0]!.id]);
    expect(one.bundle).toBeNull();

    const recorded = await events(share.id);
    const rows = recorded.map((e) => ({
      kind: e.kind,
      userId: e.userId,
      workspaceId: e.workspaceId,
      artifactId: e.artifactId,
      fileIds: e.fileIds,
      ua: e.userAgent,
    }));
    const base = { userId: null, workspaceId, artifactId: modelId, ua: UA };
    // Every file, in path order (as the page lists them), for the whole download and the bundle.
    const everyFile = files.map((f) => f.id);
    expect(rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.fileIds.length - b.fileIds.length)).toEqual([
      { ...base, kind: 'bundle', fileIds: everyFile },
      { ...base, kind: 'files', fileIds: [files[0]!.id] },
      { ...base, kind: 'files', fileIds: everyFile },
    ]);
  });

  test('a new link replaces the earlier one; the token is stored only hashed', async () => {
    const first = await owner.api.models.share.mutate({ modelId, expiresInDays: 90 });
    expect(Date.parse(first.expiresAt)).toBe(clock.now() + 90 * DAY * 1000);
    const second = await owner.api.models.share.mutate({ modelId });
    expect(await codeOf(anonymous().shares.get.query({ token: first.token }))).toBe('NOT_FOUND');
    expect((await anonymous().shares.get.query({ token: second.token })).model.id).toBe(modelId);

    const { db } = svc.deps.database;
    const hashed = await db.execute<{ n: number }>(sql`select count(*)::int as n from model_shares where token_hash = ${hashToken(second.token)}`);
    expect(hashed[0]!.n).toBe(1);
    // No row of any table holds either token as given.
    const tables = await db.execute<{ name: string }>(
      sql`select quote_ident(table_schema) || '.' || quote_ident(table_name) as name from information_schema.tables
          where table_schema in ('public', 'pgboss') and table_type = 'BASE TABLE'`,
    );
    expect(tables.length).toBeGreaterThan(10);
    for (const { name } of tables) {
      for (const token of [first.token, second.token]) {
        const found = await db.execute<{ n: number }>(
          sql`select count(*)::int as n from ${sql.raw(name)} t where t::text like ${`%${token.slice(4)}%`}`,
        );
        expect([name, found[0]!.n]).toEqual([name, 0]);
      }
    }
  });

  test('expiresInDays 0 or 91 is BAD_REQUEST and makes no link', async () => {
    const before = (await owner.api.models.get.query({ modelId })).share;
    expect(await codeOf(owner.api.models.share.mutate({ modelId, expiresInDays: 0 }))).toBe('BAD_REQUEST');
    expect(await codeOf(owner.api.models.share.mutate({ modelId, expiresInDays: 91 }))).toBe('BAD_REQUEST');
    expect(await codeOf(owner.api.models.share.mutate({ modelId, expiresInDays: 1.5 }))).toBe('BAD_REQUEST');
    expect((await owner.api.models.get.query({ modelId })).share).toEqual(before);
  });
});

describe('a share link ends', () => {
  test('after models.unshare: the page is NOT_FOUND and links it signed earlier (files and bundle) are refused', async () => {
    const share = await owner.api.models.share.mutate({ modelId });
    const links = await shareDownload(share.token);
    expect((await fetch(links.files[0]!.url, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(links.bundle!.url, { method: 'HEAD' })).status).toBe(200);
    const recordedBefore = (await events(share.id)).length;

    expect(await owner.api.models.unshare.mutate({ modelId })).toEqual({ revoked: 1 });

    expect(await codeOf(anonymous().shares.get.query({ token: share.token }))).toBe('NOT_FOUND');
    expect(await codeOf(anonymous().shares.download.mutate({ token: share.token }))).toBe('NOT_FOUND');
    for (const f of links.files) expect([f.path, (await fetch(f.url)).status]).toEqual([f.path, 403]);
    expect((await fetch(links.bundle!.url)).status).toBe(404);
    expect((await events(share.id)).length).toBe(recordedBefore);
    expect((await owner.api.models.get.query({ modelId })).share).toBeNull();
    // The members' own downloads are untouched.
    const mine = await owner.api.models.download.mutate({ modelId });
    expect((await fetch(mine.files[0]!.url)).status).toBe(200);
    expect(await owner.api.models.unshare.mutate({ modelId })).toEqual({ revoked: 0 });
  });

  test("the page shows the usual hyperparameters only, never the rest of a trainer's config (paths, hosts)", async () => {
    const model = await insertArtifact(svc.deps, owner.userId, { name: 'configured' });
    const config = {
      ...sampleJobConfig,
      loraDropout: 0.05,
      targetModules: ['q_proj', 'v_proj'],
      outputDir: '/mnt/team-secrets/run-7',
      wandb: { entity: 'acme-internal' },
    };
    await svc.deps.database.db.execute(sql`update model_artifacts set hyperparameters = ${JSON.stringify(config)}::jsonb where id = ${model.id}`);
    const share = await owner.api.models.share.mutate({ modelId: model.id });
    const page = await anonymous().shares.get.query({ token: share.token });
    expect(page.model.configuration.hyperparameters).toEqual({ ...sampleJobConfig, loraDropout: 0.05, targetModules: ['q_proj', 'v_proj'] });
    // The members' own view keeps everything the trainer sent.
    expect((await owner.api.models.get.query({ modelId: model.id })).configuration.hyperparameters).toEqual(config);
  });

  test('deleting the model makes the page NOT_FOUND', async () => {
    const doomed = await insertArtifact(svc.deps, owner.userId, {
      name: 'doomed',
      files: [{ path: 'adapter_config.json', bytes: fileBytes('doomed', 256) }],
    });
    const share = await owner.api.models.share.mutate({ modelId: doomed.id });
    const links = await shareDownload(share.token);
    expect((await anonymous().shares.get.query({ token: share.token })).model.name).toBe('doomed');

    // There is no delete procedure yet: the row goes as a purge would take it.
    await svc.deps.database.db.execute(sql`delete from model_artifacts where id = ${doomed.id}`);

    expect(await codeOf(anonymous().shares.get.query({ token: share.token }))).toBe('NOT_FOUND');
    expect(await codeOf(anonymous().shares.download.mutate({ token: share.token }))).toBe('NOT_FOUND');
    expect((await fetch(links.files[0]!.url)).status).toBe(403);
    expect((await fetch(links.bundle!.url)).status).toBe(404);
  });

  test('an expired link is NOT_FOUND (a second before its expiry it still works)', async () => {
    const share = await owner.api.models.share.mutate({ modelId, expiresInDays: 1 });
    try {
      clock.advance(DAY - 1);
      expect((await anonymous().shares.get.query({ token: share.token })).model.id).toBe(modelId);
      clock.advance(1);
      expect(await codeOf(anonymous().shares.get.query({ token: share.token }))).toBe('NOT_FOUND');
      expect(await codeOf(anonymous().shares.download.mutate({ token: share.token }))).toBe('NOT_FOUND');
    } finally {
      clock.advance(-DAY);
    }
  });

  test('an unknown or malformed token is NOT_FOUND', async () => {
    expect(await codeOf(anonymous().shares.get.query({ token: 'lsh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }))).toBe('NOT_FOUND');
    expect(await codeOf(anonymous().shares.get.query({ token: 'not-a-token' }))).toBe('NOT_FOUND');
  });
});
