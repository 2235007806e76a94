// models.downloadMany: one signed link, one streamed zip with a folder per model and one SHA256SUMS at its
// root, checked with the real unzip and sha256sum; the link is asked again when used, and fails as a whole.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { downloadEvents, modelArtifacts, workspaceMembers } from '../../db/schema/index.ts';
import { createApp } from '../../server/app.ts';
import { manyBundleUrl } from '../../server/registry/download-many-link.ts';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { errorOf, fieldsOf } from '../helpers/trpc-errors.ts';

let svc: TestService;
let dir: string;
let owner: Awaited<ReturnType<typeof newUser>>;
let web: ReturnType<typeof client>;
let viewer: Awaited<ReturnType<typeof newUser>>;
let stranger: Awaited<ReturnType<typeof newUser>>;
let teamId: string;
/** a = bot@v1 and b = bot@v2 in the team; c = bot@v1 in the owner's personal workspace (a's folder name). */
let a: InsertedArtifact;
let b: InsertedArtifact;
let c: InsertedArtifact;
let theirs: InsertedArtifact;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  svc = await startTestService({ label: 'download-many' });
  dir = await mkdtemp(join(tmpdir(), 'download-many-'));
  [owner, viewer, stranger] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'viewer'), newUser(svc, 'stranger')]);
  web = client(svc.url, { cookie: owner.cookie });
  teamId = (await web.workspaces.create.mutate({ name: 'Team' })).id;
  await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: viewer.userId, role: 'viewer' });
  const files = (marker: string) => [
    { path: 'adapter_model.safetensors', bytes: fileBytes(`${marker}-weights`, 200_000), kind: 'adapter_weights' as const },
    { path: 'adapter_config.json', bytes: new TextEncoder().encode(`{"r":8,"marker":"${marker}"}\n`), kind: 'adapter_config' as const },
    { path: 'checkpoint-100/adapter_model.safetensors', bytes: fileBytes(`${marker}-ckpt`, 50_000) },
  ];
  a = await insertArtifact(svc.deps, owner.userId, {
    workspaceId: teamId,
    family: 'bot',
    // A trainer's own SHA256SUMS: kept inside the folder as SHA256SUMS.trainer, as the one-model bundle keeps it.
    files: [...files('a'), { path: 'SHA256SUMS', bytes: new TextEncoder().encode('trainer sums\n') }],
  });
  b = await insertArtifact(svc.deps, owner.userId, { workspaceId: teamId, family: 'bot', files: files('b') });
  c = await insertArtifact(svc.deps, owner.userId, { family: 'bot', files: files('c') });
  theirs = await insertArtifact(svc.deps, stranger.userId, { family: 'bot', files: files('theirs') });
  expect([a.version, b.version, c.version]).toEqual([1, 2, 1]);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await svc?.stop();
});

function events(userId: string) {
  return svc.deps.database.db
    .select({
      artifactId: downloadEvents.artifactId,
      kind: downloadEvents.kind,
      fileIds: downloadEvents.fileIds,
      workspaceId: downloadEvents.workspaceId,
    })
    .from(downloadEvents)
    .where(eq(downloadEvents.userId, userId));
}

function run(cmd: string[], cwd: string) {
  const p = Bun.spawnSync(cmd, { cwd, stdout: 'pipe', stderr: 'pipe' });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

/** Every file under `root`, relative, `/`-separated, sorted. */
async function filesUnder(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

async function expectRefused(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = (await res.json()) as { error: { code: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.requestId).toBeTruthy();
}

describe('the zip', () => {
  test('a folder per model, one SHA256SUMS at the root that sha256sum -c accepts, every file as stored; HEAD gives the size', async () => {
    const before = Date.now();
    const link = await web.models.downloadMany.mutate({ modelIds: [a.id, b.id, c.id] });
    expect(link.fileName).toBe('models-3.zip');
    const url = new URL(link.url);
    expect(url.pathname).toBe('/bundles/many.zip');
    expect(url.searchParams.get('m')).toBe([a.id, b.id, c.id].join(','));
    expect(url.searchParams.get('g')).toBe(`u:${owner.userId}`);
    expect(Date.parse(link.expiresAt)).toBe(Number(url.searchParams.get('exp')) * 1000);
    // SIGNED_URL_TTL_SECONDS (3600 by default) from now.
    expect(Math.abs(Date.parse(link.expiresAt) - (before + 3600_000))).toBeLessThan(60_000);

    const head = await fetch(link.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await events(owner.userId)).toEqual([]); // HEAD records nothing

    const res = await fetch(link.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toContain('models-3.zip');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));

    const zipPath = join(dir, 'three.zip');
    await Bun.write(zipPath, bytes);
    const tested = run(['unzip', '-t', zipPath], dir);
    expect(tested.out).toContain('No errors detected');
    expect(tested.code).toBe(0);
    const out = join(dir, 'three');
    expect(run(['unzip', '-q', zipPath, '-d', out], dir).code).toBe(0);

    // c is bot@v1 too (another workspace): its folder takes a suffix.
    const folders: [string, InsertedArtifact][] = [
      ['bot-v1', a],
      ['bot-v2', b],
      ['bot-v1-2', c],
    ];
    const expected = folders.flatMap(([folder, m]) => m.files.map((f) => `${folder}/${f.path === 'SHA256SUMS' ? 'SHA256SUMS.trainer' : f.path}`));
    expect(await filesUnder(out)).toEqual([...expected, 'SHA256SUMS'].sort());

    const sums = (await readFile(join(out, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    const listed = new Map(sums.map((line) => [line.slice(66), line.slice(0, 64)]));
    expect([...listed.keys()].sort()).toEqual([...expected].sort());
    for (const [folder, m] of folders) {
      for (const f of m.files) {
        const name = `${folder}/${f.path === 'SHA256SUMS' ? 'SHA256SUMS.trainer' : f.path}`;
        const got = new Uint8Array(await readFile(join(out, name)));
        // The bytes extracted, the stored sha256 and the SHA256SUMS line agree.
        expect(got).toEqual(f.bytes!);
        expect(sha256(got)).toBe(f.sha256);
        expect(listed.get(name)).toBe(f.sha256);
      }
    }
    const check = run(['sha256sum', '-c', 'SHA256SUMS'], out);
    expect(check.code).toBe(0);
    expect(check.out.trim().split('\n')).toHaveLength(expected.length);

    // One bundle event per model, in its own workspace, naming all its files.
    const recorded = await events(owner.userId);
    expect(recorded.map((e) => e.artifactId).sort()).toEqual([a.id, b.id, c.id].sort());
    for (const m of [a, b, c]) {
      const e = recorded.find((r) => r.artifactId === m.id)!;
      expect(e.kind).toBe('bundle');
      expect(e.fileIds.sort()).toEqual(m.files.map((f) => f.id).sort());
    }
    expect(recorded.find((r) => r.artifactId === c.id)!.workspaceId).not.toBe(teamId);
  });

  test('a viewer may download several; the link is theirs (and a HEAD of it is the same size as its GET)', async () => {
    const link = await client(svc.url, { cookie: viewer.cookie }).models.downloadMany.mutate({ modelIds: [b.id] });
    expect(new URL(link.url).searchParams.get('g')).toBe(`u:${viewer.userId}`);
    const head = await fetch(link.url, { method: 'HEAD' });
    const body = await (await fetch(link.url)).arrayBuffer();
    expect(Number(head.headers.get('content-length'))).toBe(body.byteLength);
    expect((await events(viewer.userId)).map((e) => e.artifactId)).toEqual([b.id]);
  });

  test('the route declares the exact length of the zip it streams (in process: Bun.serve sends a stream chunked)', async () => {
    const link = await web.models.downloadMany.mutate({ modelIds: [a.id, c.id] });
    const res = await createApp(svc.deps).request(link.url);
    expect(res.status).toBe(200);
    const declared = Number(res.headers.get('content-length'));
    expect(declared).toBeGreaterThan(250_000 * 2);
    expect((await res.arrayBuffer()).byteLength).toBe(declared);
  });
});

test('a promoted checkpoint: the folder serves its adapter in place of the final one, and SHA256SUMS says so', async () => {
  const setMain = (mainCheckpoint: string | null) =>
    svc.deps.database.db.update(modelArtifacts).set({ mainCheckpoint }).where(eq(modelArtifacts.id, a.id));
  await setMain('checkpoint-100');
  try {
    const link = await web.models.downloadMany.mutate({ modelIds: [a.id] });
    const zipPath = join(dir, 'promoted.zip');
    await Bun.write(zipPath, new Uint8Array(await (await fetch(link.url)).arrayBuffer()));
    const out = join(dir, 'promoted');
    expect(run(['unzip', '-q', zipPath, '-d', out], dir).code).toBe(0);
    const checkpoint = a.files.find((f) => f.path === 'checkpoint-100/adapter_model.safetensors')!;
    const final = a.files.find((f) => f.path === 'adapter_model.safetensors')!;
    expect(final.sha256).not.toBe(checkpoint.sha256);
    expect(new Uint8Array(await readFile(join(out, 'bot-v1/adapter_model.safetensors')))).toEqual(checkpoint.bytes!);
    expect(await readFile(join(out, 'SHA256SUMS'), 'utf8')).toContain(`${checkpoint.sha256}  bot-v1/adapter_model.safetensors\n`);
    expect(run(['sha256sum', '-c', 'SHA256SUMS'], out).code).toBe(0);
  } finally {
    await setMain(null);
  }
});

describe('the link is asked again when used', () => {
  test('a member removed after signing gets nothing, and nothing is recorded', async () => {
    const member = await newUser(svc, 'member');
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: member.userId, role: 'member' });
    const link = await client(svc.url, { cookie: member.cookie }).models.downloadMany.mutate({ modelIds: [a.id, b.id] });
    // Baseline: the link works while they are a member (a HEAD, so nothing is recorded).
    expect((await fetch(link.url, { method: 'HEAD' })).status).toBe(200);
    await svc.deps.database.db
      .delete(workspaceMembers)
      .where(and(eq(workspaceMembers.workspaceId, teamId), eq(workspaceMembers.userId, member.userId)));
    await expectRefused(await fetch(link.url), 404, 'NOT_FOUND');
    expect((await fetch(link.url, { method: 'HEAD' })).status).toBe(404);
    expect(await events(member.userId)).toEqual([]);
  });

  test('a model trashed after signing fails the whole link; restored, the same link works', async () => {
    const link = await web.models.downloadMany.mutate({ modelIds: [a.id, b.id] });
    const before = (await events(owner.userId)).length;
    const trash = (deletedAt: ReturnType<typeof sql> | null) =>
      svc.deps.database.db.update(modelArtifacts).set({ deletedAt }).where(eq(modelArtifacts.id, b.id));
    await trash(sql`now()`);
    try {
      const res = await fetch(link.url);
      await expectRefused(res, 404, 'NOT_FOUND');
      expect(await events(owner.userId)).toHaveLength(before); // not even a's download is recorded
      // And no new link is signed for it.
      expect((await errorOf(web.models.downloadMany.mutate({ modelIds: [a.id, b.id] }))).data?.code).toBe('NOT_FOUND');
    } finally {
      await trash(null);
    }
    const ok = await fetch(link.url);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect(await events(owner.userId)).toHaveLength(before + 2);
  });

  test('a tampered signature, an edited id list, an expired link, a share grant: 403 with the one envelope', async () => {
    const link = await web.models.downloadMany.mutate({ modelIds: [a.id, b.id] });
    const before = (await events(owner.userId)).length;
    const edit = (f: (q: URLSearchParams) => void) => {
      const url = new URL(link.url);
      f(url.searchParams);
      return url.toString();
    };
    const sig = new URL(link.url).searchParams.get('sig')!;
    const cases = [
      edit((q) => q.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))),
      edit((q) => q.delete('sig')),
      // The same signature over other ids: one dropped, the order swapped, a stranger's model added.
      edit((q) => q.set('m', a.id)),
      edit((q) => q.set('m', `${b.id},${a.id}`)),
      edit((q) => q.set('m', `${a.id},${b.id},${theirs.id}`)),
      edit((q) => q.set('g', `u:${stranger.userId}`)),
      edit((q) => q.set('exp', String(Number(q.get('exp')) + 1))),
      // Validly signed, but past its expiry; and for a share link (this route serves members only).
      manyBundleUrl(svc.url, svc.deps.secret, [a.id, b.id], `u:${owner.userId}`, -5, svc.deps.now()).url,
      manyBundleUrl(svc.url, svc.deps.secret, [a.id, b.id], 's:abc', 60, svc.deps.now()).url,
      // Validly signed, but longer than any link may live (7 days).
      manyBundleUrl(svc.url, svc.deps.secret, [a.id, b.id], `u:${owner.userId}`, 30 * 86_400, svc.deps.now()).url,
    ];
    for (const url of cases) await expectRefused(await fetch(url), 403, 'FORBIDDEN');
    expect(await events(owner.userId)).toHaveLength(before);
    // The untouched link still works: the refusals above were the edits.
    const ok = await fetch(link.url, { method: 'HEAD' });
    expect(ok.status).toBe(200);
  });

  test('a validly signed link naming a model the member cannot read serves nothing', async () => {
    // Signed for the owner over a stranger's model: the signature holds, the read as the owner finds no row.
    const url = manyBundleUrl(svc.url, svc.deps.secret, [a.id, theirs.id], `u:${owner.userId}`, 60, svc.deps.now()).url;
    await expectRefused(await fetch(url), 404, 'NOT_FOUND');
  });
});

describe('refused at signing', () => {
  test('no ids, more than 50, a repeated id: BAD_REQUEST naming modelIds', async () => {
    const many = Array.from({ length: 51 }, () => crypto.randomUUID());
    for (const modelIds of [[], many, [a.id, a.id], [a.id, a.id.toUpperCase()]]) {
      const err = await errorOf(web.models.downloadMany.mutate({ modelIds }));
      expect(err.data?.code).toBe('BAD_REQUEST');
      expect(fieldsOf(err)).toEqual(['modelIds']);
    }
  });

  test('a stranger’s model, a missing one: NOT_FOUND for the whole call; a token reaches its own workspace only', async () => {
    for (const other of [theirs.id, crypto.randomUUID()]) {
      expect((await errorOf(web.models.downloadMany.mutate({ modelIds: [a.id, other] }))).data?.code).toBe('NOT_FOUND');
    }
    // The owner's personal token: their personal model yes, the team's no.
    expect((await owner.api.models.downloadMany.mutate({ modelIds: [c.id] })).fileName).toBe('models-1.zip');
    expect((await errorOf(owner.api.models.downloadMany.mutate({ modelIds: [c.id, a.id] }))).data?.code).toBe('NOT_FOUND');
  });
});

test('the events of this file are all bundle events of readable models (nothing recorded for a refused link)', async () => {
  const all = await svc.deps.database.db
    .select({ artifactId: downloadEvents.artifactId })
    .from(downloadEvents)
    .where(inArray(downloadEvents.artifactId, [theirs.id]));
  expect(all).toEqual([]);
});
