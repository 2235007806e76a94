import { sql } from 'drizzle-orm';
import fs from 'node:fs';
import path from 'node:path';
import { PgBoss } from 'pg-boss';
import { createDatabase } from '../db/client.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.ts';
import { runMigrations } from '../db/migrate.ts';
import { createApp } from './app.ts';
import { accountDeletion } from './workspaces/account-deletion.ts';
import { personalWorkspace } from './workspaces/service.ts';
import { createAuth } from './auth/auth.ts';
import { announceSessionEnd, IdentityCache, listenForRevocations } from './auth/identity-cache.ts';
import type { Deps } from './deps.ts';
import type { Env } from './env.ts';
import { startLiveEventHub } from './events/hub.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics/metrics.ts';
import { releaseOrphanedJobs } from './queue/orphans.ts';
import { createQueues, startWorkers } from './queue/registry.ts';
import { resolveAuthSecret } from './secrets.ts';
import { createStorage } from './storage/index.ts';

export interface Service {
  deps: Deps;
  /** Where the API listens (null for ROLE=worker). */
  url: string | null;
  /** Where a ROLE=worker process serves /healthz, /readyz and /metrics (METRICS_PORT), else null. */
  probesUrl: string | null;
  server: ReturnType<typeof Bun.serve> | null;
  /** Stops accepting requests, lets running jobs finish (or releases them), closes the database. */
  stop(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface StartOptions {
  env: Env;
  log?: Logger;
  webDist?: string | null;
  /** Use this database instead of env/embedded (tests hand each file its own). */
  databaseUrl?: string;
  /** Our sign-in/sign-up rate limits (server/auth/rate-limit.ts); most tests sign many users up from one address. */
  authRateLimit?: boolean;
  /**
   * Called once when the embedded Postgres keeps dying and its supervisor gives up (logged first).
   * main.ts exits non-zero so that an outer supervisor restarts the process; tests observe it.
   */
  onFatal?: (err: Error) => void;
  /** The clock links are signed and checked against (default `Date.now`); tests fix it to test expiry without waiting. */
  now?: () => number;
  /**
   * Whether this process runs pg-boss's cron (the minute sweep). Default: every role but `api`. Tests turn
   * it off, so a sweep never runs in the middle of what a test is watching, unless the test asks for it.
   */
  schedule?: boolean;
  /** pg-boss's job spies (`boss.getSpy(queue).waitForJobWithId`), so tests wait on job states instead of sleeping. */
  spies?: boolean;
  /** How often GET /api/events sends its `: ping` heartbeat (default 15 s); tests shorten it. */
  heartbeatMs?: number;
}

/**
 * The composition root: env → database (embedded or DATABASE_URL) → migrations → storage → pg-boss →
 * workers → Hono → Bun.serve. Used by `bun run start`, the demo, tests and benchmarks alike.
 */
export async function startService(options: StartOptions): Promise<Service> {
  const { env } = options;
  const log = options.log ?? createLogger(env.logLevel);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e) => log.warn('shutdown step failed', { err: e }));
    cleanups.length = 0;
  };
  try {
    const dataDir = path.resolve(env.dataDir);
    fs.mkdirSync(dataDir, { recursive: true });

    // Claim the port first: a taken port must fail before anything touches the database. The API listens on
    // PORT; a ROLE=worker process only on METRICS_PORT, when set, for its probes and metrics.
    let server: ReturnType<typeof Bun.serve> | null = null;
    let probes: ReturnType<typeof Bun.serve> | null = null;
    let handler: ((req: Request, srv: unknown) => Response | Promise<Response>) | null = null;
    const listenPort = env.role === 'worker' ? env.metricsPort : env.port;
    if (listenPort !== null) {
      const variable = env.role === 'worker' ? 'METRICS_PORT' : 'PORT';
      let listening: ReturnType<typeof Bun.serve>;
      try {
        listening = Bun.serve({
          port: listenPort,
          hostname: env.host,
          idleTimeout: 0,
          maxRequestBodySize: 64 * 1024 * 1024,
          fetch: (req, srv) => (handler ? handler(req, srv) : new Response('starting', { status: 503, headers: { 'Retry-After': '1' } })),
        });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new StartupError(
          code === 'EADDRINUSE'
            ? `port ${listenPort} on ${env.host} is already in use; set ${variable} to a free port`
            : `cannot listen on ${env.host}:${listenPort}: ${(e as Error).message}`,
        );
      }
      if (env.role === 'worker') probes = listening;
      else server = listening;
      cleanups.push(async () => listening.stop(true));
    }

    let embedded: EmbeddedPostgres | null = null;
    let databaseUrl = options.databaseUrl ?? env.databaseUrl;
    if (!databaseUrl) {
      const supervise = {
        onFatal: (err: Error) => {
          log.error('database supervisor gave up', { err });
          options.onFatal?.(err);
        },
      };
      embedded = await startEmbeddedPostgres({ dataDir, log: (l) => log.info(l), supervise }).catch((e) => {
        throw new StartupError(e instanceof Error ? e.message : String(e));
      });
      const pg = embedded;
      cleanups.push(() => pg.stop());
      databaseUrl = embedded.url;
    }
    await runMigrations(databaseUrl);
    const database = createDatabase(databaseUrl);
    cleanups.push(() => database.close());
    // Open the pool's first connection now, not inside the first request: under Bun, a postgres.js
    // connection opened from an otherwise idle request handler sometimes stalls until another socket event
    // (seen as a 15 s sign-in in the browser test), and a pool that cannot connect should stop the start.
    await database.db.execute(sql`select 1`);

    const now = options.now ?? Date.now;
    const secret = resolveAuthSecret(env.authSecret, dataDir);
    const storage =
      env.storage.driver === 's3'
        ? createStorage({ ...env.storage, partSizeBytes: 16 * 1024 * 1024, queueSize: 4 })
        : createStorage({ driver: 'fs', root: path.join(dataDir, 'storage'), publicUrl: env.publicUrl, secret, now });

    const boss = new PgBoss({
      connectionString: databaseUrl,
      schema: 'pgboss',
      max: 6,
      useListenNotify: true,
      schedule: options.schedule ?? env.role !== 'api',
      supervise: env.role !== 'api',
      application_name: `lora-artifacts-${env.role}`,
      __test__enableSpies: options.spies ?? false,
    });
    boss.on('error', (err) => log.error('queue error', { err }));
    await boss.start();
    cleanups.push(() => boss.stop({ graceful: true, timeout: 30_000, close: true }));
    await createQueues(boss);
    // A cluster this process just started has had no other client: its active jobs were a dead worker's.
    if (embedded) await releaseOrphanedJobs(boss, database, log);

    const identities = new IdentityCache();
    const revocations = await listenForRevocations(databaseUrl, identities, log);
    cleanups.push(() => revocations.stop());
    const accounts = accountDeletion({ database, boss, identities });
    const auth = createAuth({
      db: database.db,
      secret,
      publicUrl: env.publicUrl,
      log,
      // Sign-out (or any deleted session) reaches every process's identity cache, this one's at once.
      onSessionDeleted: (token) => announceSessionEnd(database.client, identities, token),
      // Every user has a personal workspace from the start (the first request would make it otherwise).
      onUserCreated: (user) => personalWorkspace(database.db, user),
      onUserDeleting: (user) => accounts.before(user),
      onUserDeleted: (user) => accounts.after(user),
    });
    // One LISTEN connection per process that serves /api/events, fanning events out to its streams.
    const live = server ? await startLiveEventHub(databaseUrl, database.db, log, { heartbeatMs: options.heartbeatMs }) : null;
    if (live) cleanups.push(() => live.stop());
    const deps: Deps = { env, secret, database, storage, boss, auth, identities, log, now, metrics: createMetrics(), events: live?.hub ?? null };

    if (env.role !== 'api') await startWorkers(boss, deps, env.ingestConcurrency);
    if (server || probes) {
      const app = createApp(deps, {
        webDist: options.webDist ?? null,
        rateLimit: options.authRateLimit ?? true,
        surface: probes ? 'probes' : 'all',
      });
      handler = (req, srv) => app.fetch(req, srv as never);
    }
    const base = (srv: ReturnType<typeof Bun.serve> | null) =>
      srv ? `http://${env.host.includes(':') ? `[${env.host}]` : env.host}:${srv.port}` : null;
    return { deps, url: base(server), probesUrl: base(probes), server, stop: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
