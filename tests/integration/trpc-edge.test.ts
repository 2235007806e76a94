import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp } from '../../server/app.ts';
import type { Deps } from '../../server/deps.ts';
import type { Logger } from '../../server/logger.ts';
import { createContextInner } from '../../server/trpc/context.ts';
import { createCaller } from '../../server/trpc/root.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { expectErrorLog, guardLogger } from '../helpers/log-guard.ts';
import { rawGet } from '../helpers/raw-http.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'trpc' });
});
afterAll(() => svc?.stop());

describe('tRPC edge', () => {
  test('procedures run through createCaller without HTTP', async () => {
    const u = await newUser(svc, 'caller');
    const user = { userId: u.userId, email: u.email, name: 'x', personalWorkspaceId: await personalWorkspaceOf(svc.deps, u.userId), token: null };
    const caller = createCaller(createContextInner(svc.deps, { user: { ...user, via: 'session' } }));
    const { id } = await caller.datasets.create({ name: 'direct' });
    expect((await caller.datasets.list()).map((d) => d.id)).toEqual([id]);
    await expect(createCaller(createContextInner(svc.deps)).datasets.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  test('invalid input over HTTP: BAD_REQUEST with field errors, no stack trace, nothing written', async () => {
    const u = await newUser(svc, 'bad');
    const res = await fetch(`${svc.url}/trpc/datasets.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${u.token}` },
      body: JSON.stringify({ name: '', rowCount: -5 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { data: { code: string; stack?: string; zodError: { fieldErrors: Record<string, string[]> } } } };
    expect(body.error.data.code).toBe('BAD_REQUEST');
    expect(Object.keys(body.error.data.zodError.fieldErrors).sort()).toEqual(['name', 'rowCount']);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+|stack/);
    expect(await u.api.datasets.list.query()).toHaveLength(0);
  });

  test('an internal error (a dependency throws): INTERNAL_SERVER_ERROR, no detail for the client, stack and request id in the log', async () => {
    const u = await newUser(svc, 'boom');
    const model = await insertArtifact(svc.deps, u.userId, { files: [{ path: 'adapter_model.safetensors' }] });
    const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
    const capture: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (msg, fields) => void logged.push({ msg, fields }),
      child: () => capture,
    };
    const secret = 'disk on fire at /srv/secret/path';
    const deps: Deps = {
      ...svc.deps,
      log: guardLogger(capture),
      storage: { ...svc.deps.storage, signedUrl: () => Promise.reject(new Error(secret)) },
    };
    expectErrorLog(/procedure failed .*disk on fire/);

    // createCaller: the typed code, and the log line carries the stack and the caller's request id.
    const requestId = 'req-internal-1';
    const personalWorkspaceId = await personalWorkspaceOf(svc.deps, u.userId);
    const user = {
      userId: u.userId,
      email: u.email,
      name: 'x',
      personalWorkspaceId,
      token: { workspaceId: personalWorkspaceId, scope: 'write' as const },
    };
    const caller = createCaller(createContextInner(deps, { user: { ...user, via: 'token' }, requestId }));
    await expect(caller.models.download({ modelId: model.id })).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    const line = logged.find((l) => l.msg === 'procedure failed');
    expect(line?.fields?.requestId).toBe(requestId);
    const err = line?.fields?.err;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).stack).toContain(secret);

    // Over HTTP (the same app, in process): masked message, the request id in data and in the header.
    const res = await createApp(deps).request('/trpc/models.download', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${u.token}`, 'x-request-id': 'req-internal-2' },
      body: JSON.stringify({ modelId: model.id }),
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('req-internal-2');
    const text = await res.text();
    expect(text).not.toMatch(/disk on fire|secret|stack|\.ts:\d+/);
    const body = JSON.parse(text) as { error: { message: string; data: { code: string; httpStatus: number; requestId: string } } };
    expect(body.error.message).toBe('Something went wrong on our side.');
    expect(body.error.data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, requestId: 'req-internal-2' });
    expect(logged.filter((l) => l.msg === 'procedure failed').map((l) => l.fields?.requestId)).toContain('req-internal-2');
  });

  test('plain HTTP routes share the envelope: AppError keeps its status, the unexpected is a logged 500, both with the request id', async () => {
    const u = await newUser(svc, 'edge');
    const model = await insertArtifact(svc.deps, u.userId, { files: [{ path: 'a.bin', bytes: fileBytes('EDGE', 64) }] });
    const { files, bundle } = await u.api.models.download.mutate({ modelId: model.id });
    // 416 from /files, in the one envelope.
    const range = await fetch(files[0]!.url, { headers: { range: 'bytes=1000-', 'x-request-id': 'req-416' } });
    expect(range.status).toBe(416);
    expect(range.headers.get('content-range')).toBe('bytes */64');
    expect(await range.json()).toEqual({
      error: { code: 'RANGE_NOT_SATISFIABLE', message: 'The requested range is not satisfiable.', requestId: 'req-416' },
    });
    // A forged bundle link: the AppError thrown by the route becomes a 403, not a 500.
    const forged = new URL(bundle!.url);
    forged.searchParams.set('sig', 'x');
    const refused = await fetch(forged, { headers: { 'x-request-id': 'req-403' } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'This download link is invalid or has expired.', requestId: 'req-403' },
    });
    // A dependency that throws something unexpected (a bug, not an outage): a 500 with the same envelope, logged once.
    const logged: Record<string, unknown>[] = [];
    const capture: Logger = { debug() {}, info() {}, warn() {}, error: (_m, f) => void logged.push(f ?? {}), child: () => capture };
    const bug = () => {
      throw new TypeError('the database module is broken');
    };
    const db = new Proxy({}, { get: bug }) as Deps['database']['db'];
    const deps: Deps = { ...svc.deps, log: capture, database: { ...svc.deps.database, db, asUser: bug } };
    const res = await createApp(deps).request(new URL(bundle!.url).pathname + new URL(bundle!.url).search, {
      headers: { 'x-request-id': 'req-500' },
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { code: 'INTERNAL_SERVER_ERROR', message: 'Something went wrong on our side.', requestId: 'req-500' },
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ requestId: 'req-500' });
    expect((logged[0]!.err as Error).stack).toBeTruthy();
  });

  test('health and readiness', async () => {
    expect(await (await fetch(`${svc.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = (await (await fetch(`${svc.url}/readyz`)).json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(ready.status).toBe('ready');
    expect(ready.checks.database!.ok).toBe(true);
    expect(ready.checks.queue!.ok).toBe(true);
  });

  test('every response carries a request id; unknown API paths are JSON 404s', async () => {
    const res = await fetch(`${svc.url}/api/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});

describe('the dashboard files', () => {
  test('SPA fallback, assets, no escape from the build folder, malformed paths', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-dist-'));
    const dist = path.join(base, 'dist');
    fs.mkdirSync(path.join(dist, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>shell</title>');
    fs.writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dist, 'inside.txt'), 'INSIDE-MARKER');
    // A file beside the build folder: what a traversal would reach.
    fs.writeFileSync(path.join(base, 'secret.txt'), 'OUTSIDE-MARKER');
    const web = await startTestService({ label: 'web', webDist: dist });
    try {
      const deep = await fetch(`${web.url}/models/123`);
      expect(deep.status).toBe(200);
      expect(await deep.text()).toContain('<title>shell</title>');
      const asset = await fetch(`${web.url}/assets/app.js`);
      expect(asset.headers.get('cache-control')).toContain('immutable');
      expect(await asset.text()).toBe('console.log(1)');
      expect((await fetch(`${web.url}/assets/missing.js`)).status).toBe(404);
      // Sent raw (fetch would normalise the dots away before sending): the server sees the traversal.
      const inside = await rawGet(web.url, '/inside.txt');
      expect(inside.body).toBe('INSIDE-MARKER');
      for (const target of ['/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%2fsecret.txt']) {
        const traversal = await rawGet(web.url, target);
        expect(traversal.body).not.toContain('OUTSIDE-MARKER');
        expect([200, 400, 404]).toContain(traversal.status);
      }
      expect((await fetch(`${web.url}/bad%E0%A4%A.js`)).status).toBe(400);
    } finally {
      await web.stop();
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
