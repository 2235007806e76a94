import path from 'node:path';
import { z } from 'zod';
import { MAX_LINK_LIFETIME_SECONDS } from './vocabulary.ts';

/** Empty strings count as unset, so `FOO=` in a shell or .env file means "use the default". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  PORT: optional(z.coerce.number().int().min(0).max(65535)),
  HOST: optional(z.string()),
  PUBLIC_URL: optional(z.url({ protocol: /^https?$/ })),
  DATA_DIR: optional(z.string()),
  DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')),
  ROLE: optional(z.enum(['all', 'api', 'worker'])),
  STORAGE_DRIVER: optional(z.enum(['fs', 's3'])),
  S3_ENDPOINT: optional(z.url()),
  S3_REGION: optional(z.string()),
  S3_BUCKET: optional(z.string()),
  S3_ACCESS_KEY_ID: optional(z.string()),
  S3_SECRET_ACCESS_KEY: optional(z.string()),
  S3_FORCE_PATH_STYLE: optional(bool),
  SOURCE_S3_ENDPOINT: optional(z.url()),
  SOURCE_S3_REGION: optional(z.string()),
  SOURCE_S3_ACCESS_KEY_ID: optional(z.string()),
  SOURCE_S3_SECRET_ACCESS_KEY: optional(z.string()),
  SOURCE_ALLOW_PRIVATE_HOSTS: optional(bool),
  SIGNED_URL_TTL_SECONDS: optional(z.coerce.number().int().min(1).max(MAX_LINK_LIFETIME_SECONDS)),
  TRASH_RETENTION_DAYS: optional(z.coerce.number().min(0).max(3650)),
  WORKSPACE_QUOTA_BYTES: optional(z.coerce.number().int().min(1)),
  INGEST_CONCURRENCY: optional(z.coerce.number().int().min(1).max(64)),
  AUTH_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  LOG_LEVEL: optional(z.enum(['debug', 'info', 'warn', 'error', 'silent'])),
  SOURCE_FILE_ROOTS: optional(z.string()),
  SOURCE_S3_PREFIXES: optional(z.string()),
  TRUST_PROXY: optional(z.coerce.number().int().min(0).max(10)),
  METRICS_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
  METRICS_PORT: optional(z.coerce.number().int().min(0).max(65535)),
  WEBHOOK_ALLOW_PRIVATE_HOSTS: optional(bool),
});

/** The placeholders a SOURCE_FILE_ROOTS or SOURCE_S3_PREFIXES entry may contain, filled from the job. */
export const SOURCE_PLACEHOLDERS = ['jobId', 'userId', 'workspaceId'] as const;

function checkPlaceholders(variable: string, entry: string, problems: string[]): void {
  for (const m of entry.matchAll(/\{([^}]*)\}/g)) {
    if (!(SOURCE_PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
      problems.push(
        `${variable}: unknown placeholder {${m[1]}} in ${JSON.stringify(entry)}; use ${SOURCE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      );
    }
  }
}

const entries = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);

/** The service's configuration: every variable of the README's configuration table, defaults applied, parsed once at start. */
export interface Env {
  port: number;
  host: string;
  publicUrl: string;
  dataDir: string;
  databaseUrl: string | null;
  role: 'all' | 'api' | 'worker';
  storage:
    | { driver: 'fs' }
    | {
        driver: 's3';
        endpoint?: string;
        region: string;
        bucket: string;
        accessKeyId: string;
        secretAccessKey: string;
        forcePathStyle: boolean;
      };
  sourceS3: {
    endpoint?: string;
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
  };
  sourceAllowPrivateHosts: boolean;
  signedUrlTtlSeconds: number;
  /** TRASH_RETENTION_DAYS: how long a deleted model can be restored before its files are purged (0: at the next sweep). */
  trashRetentionDays: number;
  /** WORKSPACE_QUOTA_BYTES: storage per workspace; an ingest that would pass it fails before copying. Null: none. */
  workspaceQuotaBytes: number | null;
  ingestConcurrency: number;
  /** Null until resolved from DATA_DIR (see secrets.ts). */
  authSecret: string | null;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /**
   * SOURCE_FILE_ROOTS: absolute folders (placeholders unfilled) a `file://` output must lie in.
   * Default: `<DATA_DIR>/outputs/{jobId}`.
   */
  sourceFileRoots: string[];
  /** SOURCE_S3_PREFIXES: where `s3://` outputs may be read; empty refuses every `s3://` output. */
  sourceS3Prefixes: { bucket: string; prefix: string }[];
  /** TRUST_PROXY: how many proxy hops stand in front; forwarded client addresses are believed only then. */
  trustProxy: number;
  /** METRICS_TOKEN: bearer token for `/metrics`; null: only callers on this machine may scrape. */
  metricsToken: string | null;
  /** METRICS_PORT: where a ROLE=worker process serves /healthz, /readyz and /metrics (on HOST); null: it serves nothing. */
  metricsPort: number | null;
  /** WEBHOOK_ALLOW_PRIVATE_HOSTS: webhook targets may be http and resolve to private, loopback or link-local addresses. */
  webhookAllowPrivateHosts: boolean;
}

export class EnvError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

/** Parses `source` (process.env in production). Throws EnvError naming each bad variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    throw new EnvError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const port = e.PORT ?? 3000;
  const host = e.HOST ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const driver = e.STORAGE_DRIVER ?? (e.S3_BUCKET ? 's3' : 'fs');
  const problems: string[] = [];
  let storage: Env['storage'] = { driver: 'fs' };
  if (driver === 's3') {
    for (const k of ['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const) {
      if (!e[k]) problems.push(`${k}: required when STORAGE_DRIVER is s3`);
    }
    storage = {
      driver: 's3',
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION ?? 'auto',
      bucket: e.S3_BUCKET ?? '',
      accessKeyId: e.S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: e.S3_SECRET_ACCESS_KEY ?? '',
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? false,
    };
  }
  const dataDir = e.DATA_DIR ?? './.data';
  const sourceFileRoots = e.SOURCE_FILE_ROOTS ? entries(e.SOURCE_FILE_ROOTS) : [path.join(path.resolve(dataDir), 'outputs', '{jobId}')];
  for (const root of sourceFileRoots) {
    if (!path.isAbsolute(root)) problems.push(`SOURCE_FILE_ROOTS: ${JSON.stringify(root)} is not an absolute folder`);
    checkPlaceholders('SOURCE_FILE_ROOTS', root, problems);
  }
  const sourceS3Prefixes = entries(e.SOURCE_S3_PREFIXES).map((entry) => {
    const cut = entry.replace(/^s3:\/\//, '');
    const slash = cut.indexOf('/');
    const bucket = slash < 0 ? cut : cut.slice(0, slash);
    const prefix = slash < 0 ? '' : cut.slice(slash + 1);
    if (!bucket || /\s/.test(bucket)) problems.push(`SOURCE_S3_PREFIXES: ${JSON.stringify(entry)} does not start with a bucket name (bucket/prefix)`);
    checkPlaceholders('SOURCE_S3_PREFIXES', entry, problems);
    return { bucket, prefix };
  });
  if (problems.length) throw new EnvError(problems);
  return {
    port,
    host,
    publicUrl: (e.PUBLIC_URL ?? `http://${urlHost}:${port}`).replace(/\/+$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL ?? null,
    role: e.ROLE ?? 'all',
    storage,
    sourceS3: {
      endpoint: e.SOURCE_S3_ENDPOINT,
      region: e.SOURCE_S3_REGION ?? 'us-east-1',
      accessKeyId: e.SOURCE_S3_ACCESS_KEY_ID,
      secretAccessKey: e.SOURCE_S3_SECRET_ACCESS_KEY,
    },
    sourceAllowPrivateHosts: e.SOURCE_ALLOW_PRIVATE_HOSTS ?? false,
    signedUrlTtlSeconds: e.SIGNED_URL_TTL_SECONDS ?? 3600,
    trashRetentionDays: e.TRASH_RETENTION_DAYS ?? 7,
    workspaceQuotaBytes: e.WORKSPACE_QUOTA_BYTES ?? null,
    ingestConcurrency: e.INGEST_CONCURRENCY ?? 2,
    authSecret: e.AUTH_SECRET ?? null,
    logLevel: e.LOG_LEVEL ?? 'info',
    sourceFileRoots,
    sourceS3Prefixes,
    trustProxy: e.TRUST_PROXY ?? 0,
    metricsToken: e.METRICS_TOKEN ?? null,
    metricsPort: e.METRICS_PORT ?? null,
    webhookAllowPrivateHosts: e.WEBHOOK_ALLOW_PRIVATE_HOSTS ?? false,
  };
}
