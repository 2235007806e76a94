// Each attack gets a clear rejection and learns nothing: other users' models, dead tokens, forged or
// expired links, and malformed input.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { downloadEvents } from '../../db/schema/index.ts';
import { bundleUrl } from '../../server/models/bundle-link.ts';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { client, fixedClock, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { errorOf, fieldsOf } from '../helpers/trpc-errors.ts';

type User = Awaited<ReturnType<typeof newUser>>;
const MARKER = 'A-PRIVATE-WEIGHTS';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// Links are signed and checked on this clock: expiry is a step of it, not a wait.
const clock = fixedClock();
let svc: TestService;
let a: User;
let b: User;
let model: InsertedArtifact;

beforeAll(async () => {
  svc = await startTestService({ label: 'security', now: clock.now });
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
  const query = method === 'GET' ? `?input=${encodeURIComponent(JSON.stringify(input))}` : '';
  const url = `${svc.url}/trpc/${path}${query}`;
  const res = await fetch(url, {
    method,
    // One request id for every call, so answers compare byte for byte (the id is echoed in `data.requestId`).
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'same-for-all' },
    ...(method === 'POST' ? { body: JSON.stringify(input) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { error?: { message: string; code: number; data: Record<string, unknown> } } };
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

  test("bundle: B cannot make a link; A's link with B's id in g is 403; a B-signed link for A's model is 404", async () => {
    await expect(errorOf(b.api.models.download.mutate({ modelId: model.id }))).resolves.toMatchObject({ data: { code: 'NOT_FOUND' } });
    const { bundle } = await a.api.models.download.mutate({ modelId: model.id });
    expect(new URL(bundle!.url).searchParams.get('g')).toBe(`u:${a.userId}`);
    // Whom the link is for is signed: naming B, or a share link, breaks the signature.
    for (const grant of [`u:${b.userId}`, `s:${crypto.randomUUID()}`]) {
      const swapped = new URL(bundle!.url);
      swapped.searchParams.set('g', grant);
      await expectForbidden(await fetch(swapped));
    }
    // Even a correctly signed link naming B (were the secret ever misused) finds nothing: it is read as B,
    // under row-level security, and B is no member of A's workspace.
    const forged = await fetch(bundleUrl(svc.url, svc.deps.secret, model.id, `u:${b.userId}`, 60, svc.deps.now()).url);
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
    const calls = [
      () => api.models.list.query(),
      () => api.models.get.query({ modelId: model.id }),
      () => api.models.download.mutate({ modelId: model.id }),
    ];
    for (const run of calls) {
      const err = await errorOf(run());
      expect(err.data?.code).toBe('UNAUTHORIZED');
      expect(err.message).not.toContain('a-secret-model');
    }
  });

  // No token, unknown tokens and a worker token, for every procedure: tests/integration/auth-matrix.test.ts.
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

  test('replayed after expiry: 403 (file and bundle links, on the service clock)', async () => {
    const { files, bundle } = await a.api.models.download.mutate({ modelId: model.id });
    const ttl = svc.deps.env.signedUrlTtlSeconds;
    expect((await fetch(files[0]!.url)).status).toBe(200);
    clock.advance(ttl - 1);
    const lastSecond = await fetch(bundle!.url);
    expect(lastSecond.status).toBe(200);
    await lastSecond.body?.cancel();
    clock.advance(2);
    await expectForbidden(await fetch(files[0]!.url));
    await expectForbidden(await fetch(bundle!.url));
  });

  test('one byte of the signature changed: 403', async () => {
    const url = new URL(await freshUrl());
    const sig = url.searchParams.get('sig')!;
    for (const at of [0, 20, sig.length - 1]) {
      // Flip the top bit of the character's 6: the last character of 32 bytes in base64url carries only 4
      // significant bits, so A<->B there decodes to the same signature (that made this test flaky).
      const flipped = sig.slice(0, at) + B64URL[B64URL.indexOf(sig[at]!) ^ 32] + sig.slice(at + 1);
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

  test('exp pushed later, the file name changed, or whom the link is for changed or dropped, under the same signature: 403', async () => {
    const base = await freshUrl();
    const later = new URL(base);
    later.searchParams.set('exp', String(Number(later.searchParams.get('exp')) + 3600));
    await expectForbidden(await fetch(later));
    const renamed = new URL(base);
    renamed.searchParams.set('fn', Buffer.from('evil.exe').toString('base64url'));
    await expectForbidden(await fetch(renamed));
    // Without g the link would read as one signed before teams, which no one re-checks per request.
    expect(new URL(base).searchParams.get('g')).toBe(`u:${a.userId}`);
    const regranted = new URL(base);
    regranted.searchParams.set('g', `u:${b.userId}`);
    await expectForbidden(await fetch(regranted));
    const ungranted = new URL(base);
    ungranted.searchParams.delete('g');
    await expectForbidden(await fetch(ungranted));
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
  // One invalid field per procedure is in the auth matrix; these are the shapes that matrix does not reach.
  const cases: [string, () => Promise<unknown>, string][] = [
    ['limit 1000', () => a.api.models.list.query({ limit: 1000 }), 'limit'],
    ['page -1', () => a.api.models.list.query({ page: -1 }), 'page'],
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

  test('the rejected calls record nothing; an accepted one does', async () => {
    const before = (await eventsFor(model.id)).length;
    for (const [, run] of cases) await run().catch(() => null);
    await b.api.models.download.mutate({ modelId: model.id }).catch(() => null);
    expect(await eventsFor(model.id)).toHaveLength(before);
    // The count can move: a valid call adds exactly one row.
    await a.api.models.download.mutate({ modelId: model.id });
    expect(await eventsFor(model.id)).toHaveLength(before + 1);
  });
});
