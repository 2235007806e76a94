import type { PgBoss } from 'pg-boss';
import type { Database } from '../db/client.ts';
import type { Auth } from './auth/auth.ts';
import type { IdentityCache } from './auth/identity-cache.ts';
import type { Env } from './env.ts';
import type { LiveEventHub } from './events/hub.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { StorageDriver } from './storage/storage.ts';

/** Everything a request or a job needs, built once by the composition root (main.ts) or a test. */
export interface Deps {
  env: Env;
  /** Resolved AUTH_SECRET (configured or generated into DATA_DIR). */
  secret: string;
  database: Database;
  storage: StorageDriver;
  boss: PgBoss;
  auth: Auth;
  /** Credential → user for a few seconds; revoked everywhere through Postgres NOTIFY (auth/identity-cache.ts). */
  identities: IdentityCache;
  log: Logger;
  /**
   * The clock links are signed and checked against (ms since the epoch): `Date.now` in the service, a
   * fixed or stepped clock in tests, so expiry is tested without waiting.
   */
  now: () => number;
  /** This process's Prometheus metrics (server/metrics/metrics.ts), served at /metrics. */
  metrics: Metrics;
  /** The live-event fan-out behind GET /api/events (events/hub.ts); null in a process that serves no HTTP. */
  events: LiveEventHub | null;
}
