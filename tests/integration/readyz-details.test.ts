/**
 * /readyz details (checks, timings, errors naming ports and paths) are for callers on this machine only;
 * everyone else learns the status and nothing more.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { startTestService, type TestService } from '../helpers/service.ts';

let direct: TestService;
let proxied: TestService;
beforeAll(async () => {
  [direct, proxied] = await Promise.all([
    startTestService({ label: 'readyz_direct' }),
    startTestService({ label: 'readyz_proxied', env: { TRUST_PROXY: '1' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([direct?.stop(), proxied?.stop()]);
});

const readyz = async (svc: TestService, headers: Record<string, string> = {}) => {
  const res = await fetch(`${svc.url}/readyz`, { headers });
  return { status: res.status, text: await res.text() };
};

describe('/readyz', () => {
  test('a local caller sees every check', async () => {
    const r = await readyz(direct);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks)).toEqual(expect.arrayContaining(['database', 'queue', 'storage']));
  });

  test('without TRUST_PROXY a forged X-Forwarded-For neither hides nor reveals anything: the socket decides', async () => {
    const body = JSON.parse((await readyz(direct, { 'x-forwarded-for': '203.0.113.9' })).text) as { checks?: unknown };
    expect(body.checks).toBeDefined();
  });

  test('behind a trusted proxy, an outside client sees the status only', async () => {
    const local = JSON.parse((await readyz(proxied)).text) as { checks?: unknown };
    expect(local.checks).toBeDefined();
    const remote = await readyz(proxied, { 'x-forwarded-for': '203.0.113.9' });
    expect(remote.status).toBe(200);
    const body = JSON.parse(remote.text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['status']);
    expect(['ready', 'degraded']).toContain(body.status as string); // degraded: low disk space here
    // A local proxy forwarding a local client is local.
    expect((JSON.parse((await readyz(proxied, { 'x-forwarded-for': '127.0.0.1' })).text) as { checks?: unknown }).checks).toBeDefined();
  });

  test('a failing check: the local caller reads why, an outside one gets 503 and no path, port or error', async () => {
    // Storage's root replaced by a file: the probe write fails with an error naming the server's path.
    const root = path.join(proxied.dataDir, 'storage');
    fs.rmSync(root, { recursive: true, force: true });
    fs.writeFileSync(root, 'not a folder');
    try {
      const local = await readyz(proxied);
      expect(local.status).toBe(503);
      const body = JSON.parse(local.text) as { checks: { storage: { ok: boolean; error?: string } } };
      expect(body.checks.storage.ok).toBe(false);
      expect(body.checks.storage.error).toBeTruthy();

      const remote = await readyz(proxied, { 'x-forwarded-for': '203.0.113.9' });
      expect(remote.status).toBe(503);
      expect(JSON.parse(remote.text)).toEqual({ status: 'not ready' });
      const dbPort = new URL(proxied.databaseUrl).port;
      for (const secret of [proxied.dataDir, proxied.databaseUrl, dbPort, 'ENOTDIR', 'EEXIST', 'error']) expect(remote.text).not.toContain(secret);
    } finally {
      fs.rmSync(root, { force: true });
      fs.mkdirSync(root, { recursive: true });
    }
  });
});
