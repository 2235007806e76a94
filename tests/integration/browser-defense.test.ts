/**
 * Browser defense in depth: cross-site cookie mutations refused on /trpc, security headers everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let user: Awaited<ReturnType<typeof newUser>>;
let webDist: string;

beforeAll(async () => {
  // A stand-in for web/dist: the headers are the server's, whatever page it serves.
  webDist = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-test-web-'));
  fs.writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><title>t</title><div id="root"></div>');
  svc = await startTestService({ label: 'browser_defense', webDist });
  user = await newUser(svc, 'csrf');
});
afterAll(async () => {
  await svc?.stop();
  fs.rmSync(webDist, { recursive: true, force: true });
});

/** tokens.create as a browser form or fetch would send it: a plain POST to the tRPC endpoint. */
const createToken = (name: string, headers: Record<string, string>) =>
  fetch(`${svc.url}/trpc/tokens.create`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ name }),
  });

const tokenNames = async () => (await client(svc.url, { cookie: user.cookie }).tokens.list.query()).map((t: { name: string }) => t.name);

describe('cross-site mutations with the session cookie', () => {
  test('a foreign Origin is refused with 403 and changes nothing', async () => {
    const res = await createToken('from-evil', { cookie: user.cookie, origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: string; requestId?: string } };
    expect(body.error.code).toBe('FORBIDDEN');
    expect(body.error.requestId).toBeTruthy();
    expect(await tokenNames()).not.toContain('from-evil');
  });

  test('Origin "null" (a sandboxed frame) and Sec-Fetch-Site: cross-site are refused too', async () => {
    expect((await createToken('from-null', { cookie: user.cookie, origin: 'null' })).status).toBe(403);
    expect((await createToken('from-cross-site', { cookie: user.cookie, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // Same host, another port is another origin.
    const other = new URL(svc.url);
    other.port = String(Number(other.port) + 1);
    expect((await createToken('from-port', { cookie: user.cookie, origin: other.origin })).status).toBe(403);
    const names = await tokenNames();
    for (const n of ['from-null', 'from-cross-site', 'from-port']) expect(names).not.toContain(n);
  });

  test('same-origin and Origin-less cookie mutations pass', async () => {
    expect((await createToken('same-origin', { cookie: user.cookie, origin: svc.url, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await createToken('no-origin', { cookie: user.cookie })).status).toBe(200);
    expect(await tokenNames()).toEqual(expect.arrayContaining(['same-origin', 'no-origin']));
  });

  test('a Bearer-token request is not subject to the check, whatever its Origin', async () => {
    const res = await createToken('token-foreign-origin', {
      authorization: `Bearer ${user.token}`,
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
    });
    expect(res.status).toBe(200);
    expect(await tokenNames()).toContain('token-foreign-origin');
  });

  test('queries (GET) are not affected', async () => {
    const res = await fetch(`${svc.url}/trpc/tokens.list`, { headers: { cookie: user.cookie, origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
  });
});

describe('security headers', () => {
  const paths = ['/', '/models/abc', '/healthz', '/readyz', '/trpc/models.list', '/api/auth/get-session', '/api/nothing-here'];
  for (const p of paths) {
    test(`on ${p}`, async () => {
      const res = await fetch(`${svc.url}${p}`, { headers: { cookie: user.cookie } });
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    });
  }

  test('the dashboard page itself is served with them', async () => {
    const res = await fetch(`${svc.url}/`);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('<div id="root">');
    expect(res.headers.get('content-security-policy')).toBeTruthy();
  });

  test('a refused cross-site mutation carries them too', async () => {
    const res = await createToken('x', { cookie: user.cookie, origin: 'https://evil.example' });
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});
