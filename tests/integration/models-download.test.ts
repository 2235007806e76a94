// models.download and the zip bundle: signed links, exact bytes, safe names, TTL, and the audit trail.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { downloadEvents } from '../../db/schema/index.ts';
import { createApp } from '../../server/app.ts';
import { bundleUrl } from '../../server/models/bundle-link.ts';
import { safeFileName } from '../../server/storage/content-disposition.ts';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { modelCardRow, sqlFor } from '../helpers/ingest.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

const TTL = 900;
const UA = 'lora-download-tests/1.0 (+https://example.com)';

type User = Awaited<ReturnType<typeof newUser>>;
interface DownloadResult {
  files: { id: string; path: string; sizeBytes: number; sha256: string; url: string }[];
  expiresAt: string;
  bundle: { url: string; fileName: string } | null;
}

let svc: TestService;
let user: User;
let modelId: string;
let ingested: { path: string; sha256: string; size: number }[];
/** What the model holds: the output's files under the names they are kept as, and the generated card. */
let delivered: { path: string; sha256: string; size: number }[];
let hostile: InsertedArtifact;

/** models.download over plain HTTP, so the test controls headers (User-Agent, X-Forwarded-For). */
async function download(token: string, input: { modelId: string; fileIds?: string[] }, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}/trpc/models.download`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'user-agent': UA, ...headers },
    body: JSON.stringify(input),
  });
  const body = (await res.json()) as { result?: { data: DownloadResult }; error?: { data: { code: string } } };
  return { status: res.status, data: body.result?.data ?? null, code: body.error?.data.code ?? null };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const events = (artifactId: string) =>
  svc.deps.database.db.select().from(downloadEvents).where(eq(downloadEvents.artifactId, artifactId)).orderBy(downloadEvents.createdAt);

/** Reads `filename*=UTF-8''…` back into the name a browser would save. */
function savedName(disposition: string): string {
  const m = /filename\*=UTF-8''([^;]+)$/.exec(disposition);
  if (!m) throw new Error(`no filename* in ${disposition}`);
  return decodeURIComponent(m[1]!);
}

/** Re-signs an fs link with a chosen exp, exactly as the server does (white box: proves expiry alone is refused). */
function resign(url: string, exp: number): string {
  const u = new URL(url);
  const key = u.pathname
    .replace(/^\/files\//, '')
    .split('/')
    .map(decodeURIComponent)
    .join('/');
  const fileName = Buffer.from(u.searchParams.get('fn')!, 'base64url').toString('utf8');
  const ct = u.searchParams.get('ct');
  // A link made for a member carries whom it is for (g=u:<userId>), signed with it (fs.v3).
  const grant = u.searchParams.get('g');
  const input = JSON.stringify(grant === null ? ['fs.v2', key, exp, fileName, ct] : ['fs.v3', key, exp, fileName, ct, grant]);
  u.searchParams.set('exp', String(exp));
  u.searchParams.set('sig', createHmac('sha256', svc.deps.secret).update(input).digest('base64url'));
  return u.toString();
}

beforeAll(async () => {
  svc = await startTestService({ label: 'download', env: { SIGNED_URL_TTL_SECONDS: String(TTL) } });
  user = await newUser(svc, 'dl');
  const run = await runTrainingJob(svc, user.api, { name: 'Support Bot / v2 "final"', lora: { checkpoints: [500] } });
  const job = await waitForIngest(user.api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  modelId = job.artifactId!;
  ingested = run.files;
  const sql = sqlFor(svc);
  try {
    const card = await modelCardRow(sql, modelId);
    delivered = [...asKept(ingested), { path: card.path, sha256: card.sha256, size: card.sizeBytes }];
  } finally {
    await sql.end();
  }
  hostile = await insertArtifact(svc.deps, user.userId, {
    name: 'hostile-names',
    files: [
      { path: 'out/mod"el\\ 💥 ü;x=1.safetensors', bytes: fileBytes('hostile-1', 2048) },
      { path: 'evil\u202Etxt.exe', bytes: fileBytes('hostile-2', 100) },
      { path: 'line\r\nSet-Cookie: a=b.json', bytes: fileBytes('hostile-3', 10), contentType: 'application/json' },
    ],
  });
}, 60_000);
afterAll(() => svc?.stop());

describe('models.download', () => {
  test('all files: a signed URL each, the exact bytes, attachment with a safe name, and a bundle link', async () => {
    const before = Date.now();
    const { status, data } = await download(user.token, { modelId });
    expect(status).toBe(200);
    expect(data!.files.map((f) => f.path).sort()).toEqual(deliveredPaths(ingested.map((f) => f.path)));
    expect(data!.bundle).not.toBeNull();
    // Every link names whom it was signed for, so the route can ask per request whether they still may read.
    expect(new URL(data!.bundle!.url).searchParams.get('g')).toBe(`u:${user.userId}`);
    for (const f of data!.files) expect(new URL(f.url).searchParams.get('g')).toBe(`u:${user.userId}`);
    // expiresAt ≈ now + TTL, and never later than the links really live.
    const expiresAt = Date.parse(data!.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + TTL * 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + TTL * 1000);
    for (const f of data!.files) {
      const want = delivered.find((x) => x.path === f.path)!;
      expect(f.sha256).toBe(want.sha256);
      expect(f.sizeBytes).toBe(want.size);
      expect(Number(new URL(f.url).searchParams.get('exp')) * 1000).toBeGreaterThanOrEqual(expiresAt);
      const res = await fetch(f.url);
      expect(res.status).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(sha256(bytes)).toBe(want.sha256);
      expect(res.headers.get('content-length')).toBe(String(want.size));
      const cd = res.headers.get('content-disposition')!;
      expect(cd).toStartWith('attachment; filename="');
      expect(savedName(cd)).toBe(f.path.split('/').pop()!);
    }
  });

  test('chosen fileIds: only those, no bundle link, one event naming them', async () => {
    const model = await user.api.models.get.query({ modelId });
    const chosen = model.files.filter((f) => f.kind === 'adapter_weights' || f.kind === 'adapter_config');
    expect(chosen.length).toBeGreaterThanOrEqual(2);
    const before = (await events(modelId)).length;
    const { data } = await download(user.token, { modelId, fileIds: chosen.map((f) => f.id) });
    expect(data!.files.map((f) => f.id).sort()).toEqual(chosen.map((f) => f.id).sort());
    expect(data!.bundle).toBeNull();
    for (const f of data!.files) expect(sha256(new Uint8Array(await (await fetch(f.url)).arrayBuffer()))).toBe(f.sha256);
    const rows = await events(modelId);
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)!.fileIds.sort()).toEqual(chosen.map((f) => f.id).sort());
  });

  test('an unknown fileId (or one of another model) is NOT_FOUND and nothing is recorded', async () => {
    const model = await user.api.models.get.query({ modelId });
    const before = (await events(modelId)).length;
    for (const bad of [crypto.randomUUID(), hostile.files[0]!.id]) {
      const res = await download(user.token, { modelId, fileIds: [model.files[0]!.id, bad] });
      expect(res.status).toBe(404);
      expect(res.code).toBe('NOT_FOUND');
      expect(res.data).toBeNull();
    }
    expect(await events(modelId)).toHaveLength(before);
  });

  test('every call is recorded: user, files, peer ip, user agent (X-Forwarded-For is not trusted)', async () => {
    const { data } = await download(user.token, { modelId }, { 'x-forwarded-for': '203.0.113.9' });
    const row = (await events(modelId)).at(-1)!;
    expect(row).toMatchObject({ userId: user.userId, artifactId: modelId, kind: 'files', ip: '127.0.0.1', userAgent: UA });
    expect(row.fileIds.sort()).toEqual(data!.files.map((f) => f.id).sort());
    expect(JSON.stringify(row)).not.toContain('sig=');
  });

  test('hostile file names arrive as safe attachment names; bytes intact', async () => {
    const { data } = await download(user.token, { modelId: hostile.id });
    expect(data!.files).toHaveLength(3);
    for (const f of data!.files) {
      const res = await fetch(f.url);
      expect(res.status).toBe(200);
      expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(hostile.files.find((x) => x.id === f.id)!.sha256);
      const cd = res.headers.get('content-disposition')!;
      expect(cd).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!._~-]+$/);
      expect(cd).not.toMatch(/[\r\n]/);
      expect(res.headers.get('set-cookie')).toBeNull();
      const name = savedName(cd);
      expect(name).toBe(safeFileName(f.path.split('/').pop()!));
      expect(name).not.toMatch(/["\\/\u202E\r\n]/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  test('TTL: a link re-signed with an exp in the past is 403 and carries no bytes', async () => {
    const { data } = await download(user.token, { modelId: hostile.id });
    const f = data!.files.find((x) => x.path.endsWith('.exe'))!;
    const future = resign(f.url, Math.floor(Date.now() / 1000) + 60);
    expect((await fetch(future)).status).toBe(200); // the re-signing is right…
    const past = await fetch(resign(f.url, Math.floor(Date.now() / 1000) - 1));
    expect(past.status).toBe(403); // …so only the expiry is refused
    const body = await past.text();
    expect(body).not.toContain('hostile-2');
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });
});

describe('bundle', () => {
  test('the zip link streams a valid zip with SHA256SUMS; HEAD announces its exact size; one bundle event per GET', async () => {
    const { data } = await download(user.token, { modelId });
    const dir = await mkdtemp(join(tmpdir(), 'bundle-test-'));
    try {
      const head = await fetch(data!.bundle!.url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      const eventsBefore = (await events(modelId)).length;
      const res = await fetch(data!.bundle!.url, { headers: { 'user-agent': UA, 'x-forwarded-for': '203.0.113.9' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/zip');
      expect(data!.bundle!.fileName).toBe('Support-Bot-v2-final.zip');
      expect(savedName(res.headers.get('content-disposition')!)).toBe('Support-Bot-v2-final.zip');
      const bytes = new Uint8Array(await res.arrayBuffer());
      // The size is known before a byte is read (stored zip): HEAD announces exactly what GET delivers.
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
      const zipPath = join(dir, 'bundle.zip');
      await Bun.write(zipPath, bytes);
      const run = (cmd: string[]) => {
        const p = Bun.spawnSync(cmd, { cwd: dir, stdout: 'pipe', stderr: 'pipe' });
        return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
      };
      const t = run(['unzip', '-t', zipPath]);
      expect(t.out).toContain('No errors detected');
      expect(t.code).toBe(0);
      expect(run(['unzip', '-q', zipPath, '-d', join(dir, 'x')]).code).toBe(0);
      const check = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: join(dir, 'x'), stdout: 'pipe', stderr: 'pipe' });
      expect(check.stderr.toString()).toBe('');
      expect(check.exitCode).toBe(0);
      expect(check.stdout.toString().trim().split('\n')).toHaveLength(delivered.length);
      const extracted = (await readdir(join(dir, 'x'), { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name).slice(join(dir, 'x').length + 1))
        .sort();
      expect(extracted).toEqual([...deliveredPaths(ingested.map((f) => f.path)), 'SHA256SUMS'].sort());
      // Each file is the one delivered (the trainer's README under its kept name, the card as recorded), not only
      // consistent with the SHA256SUMS written beside it.
      for (const f of delivered) {
        expect({ p: f.path, sha: sha256(await Bun.file(join(dir, 'x', f.path)).bytes()) }).toEqual({ p: f.path, sha: f.sha256 });
      }

      const rows = await events(modelId);
      expect(rows).toHaveLength(eventsBefore + 1); // HEAD recorded nothing, GET once
      expect(rows.at(-1)).toMatchObject({ kind: 'bundle', userId: user.userId, ip: '127.0.0.1', userAgent: UA });
      expect(rows.at(-1)!.fileIds).toHaveLength(delivered.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the route sets Content-Length to the exact size of the streamed zip (in process, no HTTP server)', async () => {
    const { data } = await download(user.token, { modelId });
    const app = createApp(svc.deps);
    const res = await app.request(data!.bundle!.url);
    expect(res.status).toBe(200);
    const declared = Number(res.headers.get('content-length'));
    expect(declared).toBeGreaterThan(0);
    expect((await res.arrayBuffer()).byteLength).toBe(declared);
  });

  test('a bundle link whose exp has passed is 403 (signature otherwise valid)', async () => {
    const expired = bundleUrl(svc.url, svc.deps.secret, modelId, `u:${user.userId}`, -5, svc.deps.now());
    const res = await fetch(expired.url);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/json');
    const fresh = bundleUrl(svc.url, svc.deps.secret, modelId, `u:${user.userId}`, 60, svc.deps.now());
    const ok = await fetch(fresh.url);
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
  });
});
