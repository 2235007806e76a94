// Each attack gets a clear rejection and learns nothing: other users' models, dead tokens, forged or
// expired links, and malformed input.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../server/trpc/root';
import { eq } from 'drizzle-orm';
import { downloadEvents } from '../../db/schema';
import { bundleUrl } from '../../server/models/bundle-link';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories';
import { client, newUser, startTestService, type TestService } from '../helpers/service';

type User = Awaited<ReturnType<typeof newUser>>;
const MARKER = 'A-PRIVATE-WEIGHTS';

let svc: TestService;
let a: User;
let b: User;
let model: InsertedArtifact;

beforeAll(async () => {
  svc = await startTestService({ label: 'security' });
  [a, b] = await Promise.all([newUser(svc, 'sec-a'), newUser(svc, 'sec-b')]);
  model = await insertArtifact(svc.deps, a.userId, {
    name: 'a-secret-model',
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes(`${MARKER}-1`, 4096) },
      { path: 'adapter_config.json', bytes: fileBytes(`${MARKER}-2`, 512) },
    ],
  });
  await insertArtifact(svc.deps, b.userId, { name: 'b-model' });
}, 60_000);
afterAll(() => svc?.stop());

/** A tRPC call over plain HTTP; returns status and the error object (shape compared byte for byte). */
async function call(token: string, path: string, input: unknown, method: 'GET' | 'POST' = 'GET') {
  const url = `${svc.url}/trpc/${path}` + (method === 'GET' ? `?input=${encodeURIComponent(JSON.stringify(input))}` : '');
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: JSON.stringify(input) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { error?: { message: string; code: number; data: Record<string, unknown> } } };
}

async function errorOf(p: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TRPCClientError);
  return e as TRPCClientError<AppRouter>;
}

const eventsFor = (artifactId: string) => svc.deps.database.db.select().from(downloadEvents).where(eq(downloadEvents.artifactId, artifactId));

/** A forbidden file or bundle response: 403 JSON, no attachment, none of the file's bytes. */
async function expectForbidden(res: Response) {
  const body = await res.text();
  expect(res.status).toBe(403);
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(res.headers.get('content-disposition')).toBeNull();
  expect(body).not.toContain(MARKER);
  expect(body.length).toBeLessThan(300);
  expect(JSON.parse(body)).toMatchObject({ error: { code: 'FORBIDDEN' } });
}

describe("another user's model", () => {
  test('get: NOT_FOUND, byte for byte the same answer as a random uuid', async () => {
    const theirs = await call(b.token, 'models.get', { modelId: model.id });
    const random = await call(b.token, 'models.get', { modelId: crypto.randomUUID() });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error?.data.code).toBe('NOT_FOUND');
    expect(theirs.text).toBe(random.text);
    expect(theirs.text).not.toContain('a-secret-model');
    // The owner sees it.
    expect((await a.api.models.get.query({ modelId: model.id })).name).toBe('a-secret-model');
  });

  test('download: NOT_FOUND (same as a random uuid), no links, nothing recorded', async () => {
    const theirs = await call(b.token, 'models.download', { modelId: model.id }, 'POST');
    const random = await call(b.token, 'models.download', { modelId: crypto.randomUUID() }, 'POST');
    const withFiles = await call(b.token, 'models.download', { modelId: model.id, fileIds: [model.files[0]!.id] }, 'POST');
    for (const r of [theirs, withFiles]) {
      expect(r.status).toBe(404);
      expect(r.text).toBe(random.text);
      expect(r.text).not.toMatch(/files\/|sig=|bundles\//);
    }
    expect(await eventsFor(model.id)).toHaveLength(0);
  });

  test("bundle: B cannot make a link; A's link with B's id in u is 403; a B-signed link for A's model is 404", async () => {
    await expect(errorOf(b.api.models.download.mutate({ modelId: model.id }))).resolves.toMatchObject({ data: { code: 'NOT_FOUND' } });
    const { bundle } = await a.api.models.download.mutate({ modelId: model.id });
    const swapped = new URL(bundle!.url);
    swapped.searchParams.set('u', b.userId);
    await expectForbidden(await fetch(swapped));
    // Even a correctly signed link naming B (were the secret ever misused) finds nothing: the SQL filters by owner.
    const forged = await fetch(bundleUrl(svc.url, svc.deps.secret, model.id, b.userId, 60).url);
    expect(forged.status).toBe(404);
    expect(await forged.text()).not.toContain(MARKER);
    const events = await eventsFor(model.id);
    expect(events.every((e) => e.userId === a.userId)).toBe(true);
  });

  test("B's list never shows A's model", async () => {
    const list = await b.api.models.list.query({ limit: 100, filter: { search: 'secret' } });
    expect(list.models).toEqual([]);
    expect((await b.api.models.list.query()).pagination.total).toBe(1);
  });
});

describe('credentials', () => {
  test('a revoked token is UNAUTHORIZED at once', async () => {
    const { id, token } = await a.api.tokens.create.mutate({ name: 'short-lived' });
    const api = client(svc.url, { token });
    expect((await api.models.list.query()).pagination.total).toBe(1);
    await a.api.tokens.revoke.mutate({ id });
    // Thunks, not promises: a rejection must not sit unobserved while an earlier call is awaited.
    const calls = [() => api.models.list.query(), () => api.models.get.query({ modelId: model.id }), () => api.models.download.mutate({ modelId: model.id })];
    for (const run of calls) {
      const err = await errorOf(run());
      expect(err.data?.code).toBe('UNAUTHORIZED');
      expect(err.message).not.toContain('a-secret-model');
    }
  });

  test('no token, a garbage token, and a worker token are all UNAUTHORIZED for the catalogue', async () => {
    for (const token of ['', 'lat_nope', 'lwt_nope']) {
      const err = await errorOf(client(svc.url, token ? { token } : {}).models.list.query());
      expect(err.data?.code).toBe('UNAUTHORIZED');
    }
  });
});

describe('signed file links', () => {
  async function freshUrl(i = 0) {
    const { files } = await a.api.models.download.mutate({ modelId: model.id });
    const f = files.find((x) => x.id === model.files[i]!.id)!;
    const ok = await fetch(f.url);
    expect(ok.status).toBe(200);
    expect(new TextDecoder().decode((await ok.arrayBuffer()).slice(0, MARKER.length))).toBe(MARKER);
    return f.url;
  }

  test('replayed after expiry: 403', async () => {
    const f = model.files[0]!;
    const url = await svc.deps.storage.signedUrl(f.key, { expiresInSeconds: 1, fileName: 'adapter_model.safetensors' });
    const exp = Number(new URL(url).searchParams.get('exp'));
    expect((await fetch(url)).status).toBe(200);
    await Bun.sleep(exp * 1000 - Date.now() + 50);
    await expectForbidden(await fetch(url));
  });

  test('one byte of the signature changed: 403', async () => {
    const url = new URL(await freshUrl());
    const sig = url.searchParams.get('sig')!;
    for (const at of [0, 20, sig.length - 1]) {
      const flipped = sig.slice(0, at) + (sig[at] === 'A' ? 'B' : 'A') + sig.slice(at + 1);
      url.searchParams.set('sig', flipped);
      await expectForbidden(await fetch(url));
    }
  });

  test("another file's key under this signature: 403", async () => {
    const url = new URL(await freshUrl(1));
    const other = model.files[0]!.key.split('/').map(encodeURIComponent).join('/');
    url.pathname = `/files/${other}`;
    await expectForbidden(await fetch(url));
  });

  test('exp pushed later, or the file name changed, under the same signature: 403', async () => {
    const base = await freshUrl();
    const later = new URL(base);
    later.searchParams.set('exp', String(Number(later.searchParams.get('exp')) + 3600));
    await expectForbidden(await fetch(later));
    const renamed = new URL(base);
    renamed.searchParams.set('fn', Buffer.from('evil.exe').toString('base64url'));
    await expectForbidden(await fetch(renamed));
  });

  test('a tampered bundle signature: 403', async () => {
    const { bundle } = await a.api.models.download.mutate({ modelId: model.id });
    const url = new URL(bundle!.url);
    const sig = url.searchParams.get('sig')!;
    url.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    await expectForbidden(await fetch(url));
    url.searchParams.delete('sig');
    await expectForbidden(await fetch(url));
  });
});

describe('invalid input: BAD_REQUEST with field errors, nothing written', () => {
  const fieldsOf = (e: TRPCClientError<AppRouter>) =>
    Object.keys(((e.data as { zodError?: { fieldErrors: Record<string, string[]> } } | undefined)?.zodError?.fieldErrors) ?? {});

  const cases: [string, () => Promise<unknown>, string][] = [
    ['limit 0', () => a.api.models.list.query({ limit: 0 }), 'limit'],
    ['limit 1000', () => a.api.models.list.query({ limit: 1000 }), 'limit'],
    ['page -1', () => a.api.models.list.query({ page: -1 }), 'page'],
    ['a non-uuid model id (get)', () => a.api.models.get.query({ modelId: 'not-a-uuid' }), 'modelId'],
    ['a non-uuid model id (download)', () => a.api.models.download.mutate({ modelId: "1' or '1'='1" }), 'modelId'],
    ['a non-uuid file id', () => a.api.models.download.mutate({ modelId: model.id, fileIds: ['../../etc/passwd'] }), 'fileIds'],
    // Nested fields are named by their dotted path.
    ['a 10,000-character search', () => a.api.models.list.query({ filter: { search: 'x'.repeat(10_000) } }), 'filter.search'],
  ];
  for (const [name, run, field] of cases) {
    test(name, async () => {
      const err = await errorOf(run());
      expect(err.data?.code).toBe('BAD_REQUEST');
      expect(fieldsOf(err)).toEqual([field]);
      expect(JSON.stringify(err.data)).not.toMatch(/stack|\.ts:\d+/);
    });
  }

  test('malformed cursors: BAD_REQUEST naming the cursor, never a server error', async () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const id = crypto.randomUUID();
    const bad = [
      'not-a-cursor',
      '%%%',
      enc({ sort: 'recent' }),
      enc(['recent', 3, '2025-01-01T00:00:00.000000Z', '-'.repeat(36)]), // uuid-shaped, not a uuid
      enc(['recent', 3, '2025-02-30T00:00:00.000000Z', id]), // no such day
      enc(['recent', 3, "2025-01-01'; drop table model_artifacts; --", id]),
      enc(['quality', 1e300, '2025-01-01T00:00:00.000000Z', id]),
      enc(['quality', 3, '2025-01-01T00:00:00.000000Z', id]), // fine, but for the other sort
    ];
    for (const cursor of bad) {
      const err = await errorOf(a.api.models.list.query({ sort: 'recent', cursor }));
      expect(err.data?.code).toBe('BAD_REQUEST');
      expect(err.message).toMatch(/cursor/);
    }
    // A well-formed cursor still works after all that.
    const ok = await a.api.models.list.query({ sort: 'recent', cursor: enc(['recent', 0, '2999-01-01T00:00:00.000000Z', id]) });
    expect(ok.models.map((m) => m.id)).toEqual([model.id]);
  });

  test('nothing was recorded by any of the rejected calls', async () => {
    const events = await eventsFor(model.id);
    // Only A's own successful downloads above (links for the signed-URL tests and bundles).
    expect(events.every((e) => e.userId === a.userId && e.kind === 'files')).toBe(true);
  });
});
