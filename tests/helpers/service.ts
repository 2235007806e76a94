import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTRPCClient, httpLink } from '@trpc/client';
import { parseEnv } from '../../server/env.ts';
import { createLogger } from '../../server/logger.ts';
import { JOBS } from '../../server/queue/registry.ts';
import { startService, type Service } from '../../server/runtime.ts';
import type { AppRouter } from '../../server/trpc/root.ts';
import { createTestDatabase } from './db.ts';
import { guardLogger } from './log-guard.ts';
import { freePort } from './net.ts';

export interface TestService extends Service {
  url: string;
  dataDir: string;
  databaseUrl: string;
}

/**
 * The real service (HTTP, tRPC, auth, pg-boss workers, fs storage) on its own database and data
 * folder, listening on a free loopback port. `env` overrides variables as a user would set them.
 */
export async function startTestService(
  options: {
    label?: string;
    env?: Record<string, string>;
    webDist?: string | null;
    /** Our auth rate limits; off by default, as most files sign many users up from 127.0.0.1. */
    rateLimit?: boolean;
    /** Share another service's database (several API processes) instead of a fresh one. */
    databaseUrl?: string;
    /** Run pg-boss's cron (the minute sweep); off by default so no sweep runs in the middle of a test. */
    cron?: boolean;
    /** The clock links are signed and checked against (see `fixedClock`); default the real one. */
    now?: () => number;
    /** GET /api/events's heartbeat interval (default 15 s). */
    heartbeatMs?: number;
  } = {},
): Promise<TestService> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase(options.label ?? 'svc'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-test-data-'));
  fs.chmodSync(dataDir, 0o755);
  const port = await freePort();
  const env = parseEnv({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SOURCE_ALLOW_PRIVATE_HOSTS: 'true',
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const svc = await startService({
    env,
    databaseUrl,
    authRateLimit: options.rateLimit ?? false,
    // Error lines reach the error-log guard (tests/helpers/log-guard.ts) whatever LOG_LEVEL says.
    log: guardLogger(createLogger(env.logLevel)),
    webDist: options.webDist ?? null,
    schedule: options.cron ?? false,
    // Tests wait on job states: `svc.deps.boss.getSpy(queue).waitForJobWithId(id, 'completed')`.
    spies: true,
    now: options.now,
    heartbeatMs: options.heartbeatMs,
  });
  // pg-boss records a job only in a spy that exists when the job moves: open one per queue now, so a test can
  // wait on any job of this service, even one that finished before it asked.
  for (const def of JOBS) svc.deps.boss.getSpy(def.name);
  return {
    ...svc,
    url: svc.url!,
    dataDir,
    databaseUrl,
    async stop() {
      await svc.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A clock for link expiry: starts at `startMs` and moves only when told (`advance(seconds)`). */
export function fixedClock(startMs = Date.now()) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance(seconds: number) {
      nowMs += seconds * 1000;
    },
  };
}

/** A typed client as integrators build one: Bearer token or session cookie. */
export function client(baseUrl: string, auth: { token?: string; cookie?: string } = {}) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl}/trpc`,
        headers: () => ({
          ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
          ...(auth.cookie ? { cookie: auth.cookie } : {}),
        }),
      }),
    ],
  });
}

/** Signs a user up through the real auth route; returns the session cookie. */
export async function signUp(baseUrl: string, email: string, password = 'correct horse battery', name = 'Test User') {
  const res = await fetch(`${baseUrl}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: baseUrl },
    body: JSON.stringify({ email, password, name }),
  });
  if (!res.ok) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const body = (await res.json()) as { user: { id: string } };
  return { cookie, userId: body.user.id };
}

/** A signed-up user with a personal API token and a typed client using it. */
export async function newUser(svc: TestService, label = 'user') {
  const email = `${label}-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const { cookie, userId } = await signUp(svc.url, email);
  const { token } = await client(svc.url, { cookie }).tokens.create.mutate({ name: 'tests' });
  return { email, cookie, userId, token, api: client(svc.url, { token }) };
}
