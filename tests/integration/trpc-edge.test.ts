import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createContextInner } from '../../server/trpc/context';
import { createCaller } from '../../server/trpc/root';
import { newUser, startTestService, type TestService } from '../helpers/service';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'trpc' });
});
afterAll(() => svc?.stop());

describe('tRPC edge', () => {
  test('procedures run through createCaller without HTTP', async () => {
    const u = await newUser(svc, 'caller');
    const caller = createCaller(createContextInner(svc.deps, { user: { id: u.userId, email: u.email, name: 'x', via: 'session' } }));
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

  test('an unexpected failure is masked: no SQL, no stack', async () => {
    const u = await newUser(svc, 'mask');
    // A well-formed uuid that violates nothing in zod but fails in the database is NOT_FOUND, not 500:
    const res = await fetch(`${svc.url}/trpc/jobs.get?input=${encodeURIComponent(JSON.stringify({ jobId: '00000000-0000-4000-8000-000000000000' }))}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    expect(res.status).toBe(404);
    const text = await res.text();
    expect(text).not.toMatch(/select|stack|\.ts:/i);
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
    const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-dist-'));
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>shell</title>');
    fs.writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
    const web = await startTestService({ label: 'web', webDist: dist });
    try {
      const deep = await fetch(`${web.url}/models/123`);
      expect(deep.status).toBe(200);
      expect(await deep.text()).toContain('<title>shell</title>');
      const asset = await fetch(`${web.url}/assets/app.js`);
      expect(asset.headers.get('cache-control')).toContain('immutable');
      expect(await asset.text()).toBe('console.log(1)');
      expect((await fetch(`${web.url}/assets/missing.js`)).status).toBe(404);
      const escape = await fetch(`${web.url}/%2e%2e/%2e%2e/etc/passwd.txt`);
      expect(await escape.text()).not.toContain('root:');
      expect((await fetch(`${web.url}/bad%E0%A4%A.js`)).status).toBe(400);
    } finally {
      await web.stop();
      fs.rmSync(dist, { recursive: true, force: true });
    }
  });
});
