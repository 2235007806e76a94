import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import postgres from 'postgres';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded.ts';
import { runMigrations } from '../../db/migrate.ts';

/**
 * Test databases. One Postgres per test process (embedded, or the server named by DATABASE_URL),
 * migrated once into a template; every test file gets its own database cloned from it, so files
 * never see each other's rows and start in milliseconds.
 */
let cluster: Promise<{ adminUrl: string; embedded: EmbeddedPostgres | null; dir?: string }> | null = null;
let template: Promise<string> | null = null;

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function startCluster() {
  cluster ??= (async () => {
    if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL, embedded: null };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-test-pg-'));
    fs.chmodSync(dir, 0o755);
    // Supervised like the product's own: a postmaster that dies mid-run is restarted on the same port, and
    // why it died is written to stderr, so one crash costs a retry instead of every file after it.
    const say = (line: string) => process.stderr.write(`[test cluster] ${line}\n`);
    const embedded = await startEmbeddedPostgres({
      dataDir: dir,
      log: (line) => /unexpectedly|restart/.test(line) && say(line),
      supervise: { onFatal: (err) => say(err.message) },
    });
    return { adminUrl: embedded.url, embedded, dir };
  })();
  return cluster;
}

async function templateName(): Promise<string> {
  template ??= (async () => {
    const { adminUrl } = await startCluster();
    const name = `lora_tmpl_${process.pid}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name}`);
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    await runMigrations(withDatabase(adminUrl, name));
    return name;
  })();
  return template;
}

/** Every database this process created, with the test file that asked for it (for dumps on failure). */
const created: { name: string; url: string; file: string | null }[] = [];

/** The test file on the call stack (read before the first await, while the caller's frames are still there). */
export function callerTestFile(stack = new Error().stack ?? ''): string | null {
  return /([^\s(]+\.test\.tsx?):\d+/.exec(stack)?.[1] ?? null;
}

/** A fresh, migrated database of its own for the calling test file; returns its URL. */
export async function createTestDatabase(label = 'db'): Promise<string> {
  const file = callerTestFile();
  const { adminUrl } = await startCluster();
  const tmpl = await templateName();
  const name = `t_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${tmpl}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  created.push({ name, url, file });
  return url;
}

/** An empty database (no migration applied) of its own for the calling test file, for tests that migrate it themselves. */
export async function createEmptyDatabase(label = 'empty'): Promise<string> {
  const file = callerTestFile();
  const { adminUrl } = await startCluster();
  const name = `e_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  created.push({ name, url, file });
  return url;
}

/** Where a failed test's report goes: tests/output/failed/ (git-ignored), files named `<file>-<test>…`. */
export function failureReportPaths(file: string | null, tag: string): { dir: string; stem: string } {
  const dir = path.join(import.meta.dir, '..', 'output', 'failed');
  fs.mkdirSync(dir, { recursive: true });
  const stem = `${path.basename(file ?? 'unknown').replace(/\.test\.tsx?$/, '')}-${tag.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
  return { dir, stem };
}

/**
 * Keeps the databases of `file` (those its tests created) for inspection after a failure: a `pg_dump`
 * (plain SQL) when the pg_dump on PATH can read this server, else a JSON-lines dump of every table's rows
 * (the schema is the migrations'). Returns the paths written. Files go to tests/output/failed/ (git-ignored).
 */
export async function dumpTestDatabases(file: string | null, tag: string): Promise<string[]> {
  const mine = created.filter((d) => d.file === file);
  const chosen = mine.length ? mine : created.slice(-1);
  const { dir, stem } = failureReportPaths(file, tag);
  const written: string[] = [];
  for (const db of chosen) {
    const sqlPath = path.join(dir, `${stem}-${db.name}.sql`);
    const dump = Bun.spawnSync(['pg_dump', '--no-owner', '--no-privileges', '-f', sqlPath, db.url], { stdout: 'ignore', stderr: 'pipe' });
    if (dump.exitCode === 0) {
      written.push(sqlPath);
      continue;
    }
    // Most often a pg_dump older than the embedded server (it refuses a newer major): dump the rows ourselves.
    fs.rmSync(sqlPath, { force: true });
    const jsonPath = path.join(dir, `${stem}-${db.name}.jsonl`);
    await dumpRows(db.url, jsonPath).then(
      () => written.push(jsonPath),
      (e: unknown) => process.stderr.write(`[test db] could not dump ${db.name}: ${e instanceof Error ? e.message : e}\n`),
    );
  }
  return written;
}

/** One JSON line per table of the public and pgboss schemas: `{ table, rows }`. */
async function dumpRows(url: string, out: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name from information_schema.tables
      where table_schema in ('public', 'pgboss') and table_type = 'BASE TABLE' order by 1, 2`;
    const lines: string[] = [];
    for (const t of tables) {
      const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
      const rows = await sql.unsafe(`select * from ${ident(t.schema)}.${ident(t.name)}`);
      lines.push(JSON.stringify({ table: `${t.schema}.${t.name}`, rows }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    }
    fs.writeFileSync(out, `${lines.join('\n')}\n`);
  } finally {
    await sql.end();
  }
}

/** Stops the test cluster and removes its folder and any staged copy (the preload's global afterAll calls it). */
export async function stopTestCluster(): Promise<void> {
  if (!cluster) return;
  const c = await cluster.catch(() => null);
  cluster = null;
  template = null;
  if (!c?.embedded) return;
  // destroy, not stop: a cluster staged outside its folder (/var/lib/lora-artifacts) goes too.
  await c.embedded.destroy();
  if (c.dir) fs.rmSync(c.dir, { recursive: true, force: true });
}
