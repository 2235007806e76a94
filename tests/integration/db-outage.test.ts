import { afterAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { createDatabase } from '../../db/client.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded.ts';
import { runningPostmaster } from '../../db/embedded-owner.ts';
import { parseEnv } from '../../server/env.ts';
import { createLogger } from '../../server/logger.ts';
import { startService, type Service } from '../../server/runtime.ts';
import { freePort } from '../helpers/net.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { client, signUp } from '../helpers/service.ts';

// The database dies under a running service. The embedded one is restarted by its supervisor
// (or the process gives up and says so); with DATABASE_URL, an outage answers 503 and heals by itself.

const dirs: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}, 120_000);

function tmpDir(label: string) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `lora-outage-${label}-`));
  fs.chmodSync(d, 0o755); // the cluster stays inside it (nothing staged)
  dirs.push(d);
  return d;
}

async function serve(dataDir: string, options: { databaseUrl?: string; onFatal?: (err: Error) => void } = {}) {
  const env = parseEnv({ PORT: String(await freePort()), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const svc = await startService({ env, log: createLogger('silent'), authRateLimit: false, ...options });
  cleanups.push(() => svc.stop());
  return svc as Service & { url: string };
}

/** Polls `check` until it returns true; fails after `ms`. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(50);
  }
}

const readyz = async (url: string) => (await fetch(`${url}/readyz`)).status;
const signIn = (url: string, email: string) =>
  fetch(`${url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email, password: 'correct horse battery' }),
  });

describe('embedded Postgres killed under a running service', () => {
  test('the supervisor restarts it on the same port and data; the signed-in user carries on with the same cookie', async () => {
    const dataDir = tmpDir('restart');
    const fatal: Error[] = [];
    const svc = await serve(dataDir, { onFatal: (e) => fatal.push(e) });
    const { cookie } = await signUp(svc.url, `restart-${Date.now()}@example.com`);
    const api = client(svc.url, { cookie });
    await api.models.list.query({});

    const pgData = path.join(dataDir, 'postgres');
    const pid = runningPostmaster(pgData)!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    // Liveness is not readiness: the process is fine while its database comes back.
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);

    await eventually('a new postmaster', async () => {
      const now = runningPostmaster(pgData);
      return now !== null && now !== pid;
    });
    await eventually('/readyz 200', async () => (await readyz(svc.url)) === 200);
    const list = await api.models.list.query({});
    expect(list.models).toEqual([]);
    expect(fatal).toEqual([]);
  }, 90_000);

  test('when restarts keep failing, the supervisor gives up and calls onFatal once', async () => {
    const dataDir = tmpDir('fatal');
    let fatal: Error[] = [];
    const svc = await serve(dataDir, { onFatal: (e) => (fatal = [...fatal, e]) });
    expect(await readyz(svc.url)).toBe(200);
    const pgData = path.join(dataDir, 'postgres');
    // Every restart now fails at once: Postgres cannot read its configuration.
    fs.renameSync(path.join(pgData, 'postgresql.conf'), path.join(pgData, 'postgresql.conf.hidden'));
    process.kill(runningPostmaster(pgData)!, 'SIGKILL');
    await eventually('onFatal', async () => fatal.length > 0, 60_000);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.message).toMatch(/embedded postgres failed \d+ times within \d+ s; giving up/);
    expect(runningPostmaster(pgData)).toBeNull();
  }, 90_000);
});

describe('a DATABASE_URL server that goes away and comes back', () => {
  let pg: EmbeddedPostgres;

  test('an outage answers 503 SERVICE_UNAVAILABLE everywhere (never 401 or 500), and everything recovers without a restart', async () => {
    const pgDir = tmpDir('pg');
    const port = await freePort();
    pg = await startEmbeddedPostgres({ dataDir: pgDir, port });
    cleanups.push(() => pg.stop());
    const svc = await serve(tmpDir('svc'), { databaseUrl: pg.url });
    const email = `outage-${Date.now()}@example.com`;
    const { cookie } = await signUp(svc.url, email);
    const { token } = await client(svc.url, { cookie }).tokens.create.mutate({ name: 'outage' });
    const byCookie = client(svc.url, { cookie });
    const byToken = client(svc.url, { token });
    await byCookie.models.list.query({});
    await byToken.models.list.query({});

    await pg.stop();
    await expect(byCookie.models.list.query({})).rejects.toMatchObject({ data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503 } });
    await expect(byToken.models.list.query({})).rejects.toMatchObject({ data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503 } });
    await expect(byCookie.datasets.create.mutate({ name: 'x' })).rejects.toMatchObject({ data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503 } });
    const refused = await signIn(svc.url, email);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('SERVICE_UNAVAILABLE');
    expect(await readyz(svc.url)).toBe(503);
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);

    pg = await startEmbeddedPostgres({ dataDir: pgDir, port });
    await eventually('/readyz 200', async () => (await readyz(svc.url)) === 200);
    expect((await byCookie.models.list.query({})).models).toEqual([]);
    expect((await byToken.models.list.query({})).models).toEqual([]);
    expect((await signIn(svc.url, email)).status).toBe(200);
  }, 90_000);
});

describe('a connection cut while postgres.js reads the array types (its first query on every new connection)', () => {
  // postgres.js 3.4.9 drops the promise of that query (porsager/postgres#1192, #1223): a database restart landing
  // on a connection that is just starting was an unhandled rejection, which ends a Bun process (seen as a rare
  // failure of the outage test above). Patched in db/patches/; this cuts exactly that query through a TCP proxy.
  test('the reservation that opened it is served on a new connection: no unhandled rejection, no caller left waiting', async () => {
    const target = new URL(await createTestDatabase('types-cut'));
    let cuts = 0;
    const proxy = net.createServer((inbound) => {
      const outbound = net.connect(Number(target.port), target.hostname);
      inbound.on('data', (chunk) => {
        if (cuts === 0 && chunk.includes('typcategory')) {
          cuts++;
          inbound.destroy();
          outbound.destroy();
          return;
        }
        outbound.write(chunk);
      });
      outbound.on('data', (chunk) => inbound.write(chunk));
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const url = new URL(target);
      url.port = String((proxy.address() as net.AddressInfo).port);
      const database = createDatabase(url.href, { max: 1 });
      cleanups.push(() => database.close());
      // A reserved connection (every asUser transaction takes one) opens it; its type query is cut. postgres.js
      // also lost that reservation on the reconnect, and its caller (a request) waited forever: it is served now.
      const reserved = await database.client.reserve();
      expect((await reserved`select 1 as one`)[0]?.one).toBe(1);
      reserved.release();
      const [row] = await database.client`select array[1, 2]::int[] as xs`;
      // Let any dropped promise surface before looking.
      await Bun.sleep(50);
      expect(cuts).toBe(1);
      expect(unhandled).toEqual([]);
      expect(row?.xs).toEqual([1, 2]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  }, 30_000);
});
