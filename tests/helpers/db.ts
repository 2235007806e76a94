import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import postgres from 'postgres';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded';
import { runMigrations } from '../../db/migrate';

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

/** A fresh, migrated database of its own for the calling test file; returns its URL. */
export async function createTestDatabase(label = 'db'): Promise<string> {
  const { adminUrl } = await startCluster();
  const tmpl = await templateName();
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${tmpl}`);
  await admin.end();
  return withDatabase(adminUrl, name);
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
