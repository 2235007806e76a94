import { createHash } from 'node:crypto';
import { readdirSync, type Dirent } from 'node:fs';
import { join, relative } from 'node:path';
import postgres from 'postgres';
import type { Job } from 'pg-boss';
import type { TestService } from './service.ts';

/** Every file (temp files included) under the fs storage folder of `svc`, below `prefix` when given. */
export function storedFiles(svc: TestService, prefix = ''): string[] {
  const root = join(svc.dataDir, 'storage');
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else out.push(relative(root, abs));
    }
  };
  walk(join(root, prefix));
  return out.sort();
}

/** A direct SQL connection to the service's database (as its owner, so RLS does not apply). */
export function sqlFor(svc: TestService) {
  return postgres(svc.databaseUrl, { max: 2, onnotice: () => {} });
}

/**
 * The generated model card of model `artifactId`, read with an owner connection from `sqlFor`: the one file the
 * service writes itself, so its size and hash come from the database, not from the output.
 */
export async function modelCardRow(sql: ReturnType<typeof sqlFor>, artifactId: string) {
  const rows = await sql<{ path: string; size_bytes: string; sha256: string; storage_key: string }[]>`
    select path, size_bytes, sha256, storage_key from artifact_files where artifact_id = ${artifactId} and kind = 'model_card'`;
  if (rows.length !== 1) throw new Error(`model ${artifactId} has ${rows.length} model cards, not 1`);
  const [row] = rows;
  return { path: row!.path, sizeBytes: Number(row!.size_bytes), sha256: row!.sha256, storageKey: row!.storage_key };
}

/** What a pg-boss job looks like to a handler called directly (no heartbeat, never aborted). */
export function fakeJob<T extends object>(data: T, retryCount = 0): Job<T> & { retryCount: number; retryLimit: number } {
  return {
    id: crypto.randomUUID(),
    name: 'ingest-artifact',
    data,
    signal: new AbortController().signal,
    retryCount,
    retryLimit: 4,
  } as unknown as Job<T> & { retryCount: number; retryLimit: number };
}

/** SHA-256 of a response body, streamed. */
export async function sha256Of(res: Response): Promise<string> {
  const hasher = createHash('sha256');
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
  }
  return hasher.digest('hex');
}

/**
 * Resolves once the ingest of training job `jobId` is settled in pg-boss: its last attempt reached a final
 * state (pg-boss's own spy, `__test__enableSpies`), and no attempt is queued, waiting to retry or running.
 * With the cron off in tests, nothing can change the job after that: no need to wait "a moment" and look again.
 */
export async function ingestSettled(svc: TestService, jobId: string): Promise<void> {
  const spy = svc.deps.boss.getSpy<{ jobId?: string }>('ingest-artifact');
  const mine = (data: { jobId?: string }) => data.jobId === jobId;
  await Promise.race([spy.waitForJob(mine, 'completed'), spy.waitForJob(mine, 'failed')]);
  const sql = sqlFor(svc);
  try {
    const live = await sql`select id, state from pgboss.job where name = 'ingest-artifact' and singleton_key = ${jobId}
      and state in ('created', 'retry', 'active')`;
    if (live.length) throw new Error(`ingest of ${jobId} is not settled: ${JSON.stringify(live)}`);
  } finally {
    await sql.end();
  }
}
