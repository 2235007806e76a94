// The trash: models.delete / restore / purge over the roles, links that stop at once (fs files, zip bundles,
// share pages) and work again after a restore, the purge (rows, tombstone, objects, usage) by hand and by the
// hourly job, a purge racing a duplicate ingest, and a purge killed half-way through deleting its objects.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, watch, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql as dsql } from 'drizzle-orm';
import { workspaceMembers } from '../../db/schema/index.ts';
import { ingestArtifactJob } from '../../server/ingest/ingest-artifact.job.ts';
import { staleIngests } from '../../server/ingest/queries.ts';
import { releaseOrphanedJobs } from '../../server/queue/orphans.ts';
import { JOBS } from '../../server/queue/registry.ts';
import { trashPurgeJob } from '../../server/registry/trash-purge.job.ts';
import { purgeObjectsJob } from '../../server/storage/purge-objects.job.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf, type InsertedArtifact } from '../helpers/factories.ts';
import { fakeJob, modelCardRow, sha256Of, sqlFor, storedFiles } from '../helpers/ingest.ts';
import { spawnService } from '../helpers/process.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob } from '../helpers/training.ts';

const DAY_MS = 24 * 3600 * 1000;

let svc: TestService;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

/** A signed-in user through the dashboard's session (an API token acts in its own workspace only). */
type User = { userId: string; api: ReturnType<typeof client> };

async function signedIn(s: TestService, label: string): Promise<User> {
  const u = await newUser(s, label);
  return { userId: u.userId, api: client(s.url, { cookie: u.cookie }) };
}

let owner: User;
let admin: User;
let member: User;
let viewer: User;
let stranger: User;
/** The team: owner, admin, member, viewer. */
let team: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'registry_trash' });
  [owner, admin, member, viewer, stranger] = await Promise.all([
    signedIn(svc, 'owner'),
    signedIn(svc, 'admin'),
    signedIn(svc, 'member'),
    signedIn(svc, 'viewer'),
    signedIn(svc, 'stranger'),
  ]);
  team = (await owner.api.workspaces.create.mutate({ name: 'Trash team' })).id;
  await svc.deps.database.db.insert(workspaceMembers).values([
    { workspaceId: team, userId: admin.userId, role: 'admin' },
    { workspaceId: team, userId: member.userId, role: 'member' },
    { workspaceId: team, userId: viewer.userId, role: 'viewer' },
  ]);
}, 60_000);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await svc?.stop();
}, 60_000);

/** The tRPC error code a call fails with (null when it succeeds). */
async function codeOf(call: Promise<unknown>): Promise<string | null> {
  return call.then(
    () => null,
    (e: { data?: { code?: string } }) => e.data?.code ?? String(e),
  );
}

/** A model of `workspaceId` with two real stored files. */
function storedModel(s: TestService, userId: string, workspaceId: string | undefined, name = `m-${crypto.randomUUID().slice(0, 6)}`) {
  return insertArtifact(s.deps, userId, {
    name,
    ...(workspaceId ? { workspaceId } : {}),
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes(`${name}-weights`, 64 * 1024), kind: 'adapter_weights' },
      { path: 'adapter_config.json', bytes: fileBytes(`${name}-config`, 512), kind: 'adapter_config' },
    ],
  });
}

/** Rows left of a model in every table a purge must empty, and its job's tombstone. */
async function leftovers(s: TestService, m: InsertedArtifact) {
  const sql = sqlFor(s);
  try {
    const [row] = await sql<
      { models: number; files: number; aliases: number; shares: number; events: number; purgedAt: Date | null; artifactId: string | null }[]
    >`
      select (select count(*)::int from model_artifacts where id = ${m.id}) as models,
             (select count(*)::int from artifact_files where artifact_id = ${m.id}) as files,
             (select count(*)::int from model_aliases where artifact_id = ${m.id}) as aliases,
             (select count(*)::int from model_shares where artifact_id = ${m.id}) as shares,
             (select count(*)::int from download_events where artifact_id = ${m.id}) as events,
             (select purged_at from training_jobs where id = ${m.jobId}) as "purgedAt",
             (select artifact_id from training_jobs where id = ${m.jobId}) as "artifactId"`;
    return row!;
  } finally {
    await sql.end();
  }
}

/** The storage a workspace's models take (sum of their sizes, trash included). */
async function usage(s: TestService, workspaceId: string): Promise<number> {
  const [row] = await s.deps.database.db.execute<{ bytes: string }>(
    dsql`select coalesce(sum(total_bytes), 0)::text as bytes from model_artifacts where workspace_id = ${workspaceId}`,
  );
  return Number(row!.bytes);
}

/** An alias pointing at the model (its family row exists: insertArtifact made it). */
async function aliasOf(s: TestService, m: InsertedArtifact, workspaceId: string, alias: string) {
  await s.deps.database.db.execute(
    dsql`insert into model_aliases (workspace_id, family, alias, artifact_id) values (${workspaceId}, ${m.family}, ${alias}, ${m.id})`,
  );
}

describe('delete and restore', () => {
  test('links signed before the delete stop at once (fs file, bundle, share page and its links) and work again after restore', async () => {
    const m = await storedModel(svc, owner.userId, team, 'links-model');
    const { token } = await member.api.models.share.mutate({ modelId: m.id });
    const dl = await member.api.models.download.mutate({ modelId: m.id });
    const visitor = client(svc.url);
    const shared = await visitor.shares.download.mutate({ token });
    const links = {
      file: dl.files.find((f) => f.path === 'adapter_model.safetensors')!.url,
      bundle: dl.bundle!.url,
      sharedFile: shared.files.find((f) => f.path === 'adapter_model.safetensors')!.url,
      sharedBundle: shared.bundle!.url,
    };
    const weights = m.files.find((f) => f.path === 'adapter_model.safetensors')!;
    const statuses = async () => {
      const out: Record<string, number> = {};
      for (const [k, url] of Object.entries(links)) {
        const res = await fetch(url);
        out[k] = res.status;
        if (res.ok && (k === 'file' || k === 'sharedFile')) expect(await sha256Of(res)).toBe(weights.sha256);
        else await res.body?.cancel();
      }
      return out;
    };
    expect(await statuses()).toEqual({ file: 200, bundle: 200, sharedFile: 200, sharedBundle: 200 });

    const before = Date.now();
    const deleted = await member.api.models.delete.mutate({ modelIds: [m.id] });
    expect(deleted.deleted).toBe(1);
    const purgeAfter = Date.parse(deleted.purgeAfter);
    expect(purgeAfter).toBeGreaterThanOrEqual(before + 7 * DAY_MS - 5_000);
    expect(purgeAfter).toBeLessThanOrEqual(Date.now() + 7 * DAY_MS + 5_000);

    // Right after: every link, the share page and the member procedures are refused.
    expect(await statuses()).toEqual({ file: 403, bundle: 404, sharedFile: 403, sharedBundle: 404 });
    expect(await codeOf(visitor.shares.get.query({ token }))).toBe('NOT_FOUND');
    expect(await codeOf(visitor.shares.download.mutate({ token }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.api.models.get.query({ modelId: m.id }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.api.models.download.mutate({ modelId: m.id }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.api.models.share.mutate({ modelId: m.id }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.api.models.unshare.mutate({ modelId: m.id }))).toBe('NOT_FOUND');
    const live = await owner.api.models.list.query({ workspaceId: team, limit: 100 });
    expect(live.models.map((x) => x.id)).not.toContain(m.id);
    const trash = await viewer.api.models.list.query({ workspaceId: team, limit: 100, filter: { deleted: true } });
    expect(trash.models.find((x) => x.id === m.id)?.deletedAt).toBeString();

    // Every member is told, once.
    for (const u of [owner, admin, member, viewer]) {
      const notes = (await u.api.notifications.list.query({})).notifications.filter((n) => n.type === 'model_deleted');
      expect(notes).toHaveLength(1);
      expect(notes[0]!.title).toContain('links-model');
      expect(notes[0]!.title).toContain('Trash team');
    }

    // Deleting again is a no-op success, with the same purge date.
    expect(await owner.api.models.delete.mutate({ modelIds: [m.id] })).toEqual({ deleted: 0, purgeAfter: deleted.purgeAfter });
    expect((await viewer.api.notifications.list.query({})).notifications.filter((n) => n.type === 'model_deleted')).toHaveLength(1);

    expect(await member.api.models.restore.mutate({ modelIds: [m.id] })).toEqual({ restored: 1 });
    expect(await statuses()).toEqual({ file: 200, bundle: 200, sharedFile: 200, sharedBundle: 200 });
    expect((await visitor.shares.get.query({ token })).model.id).toBe(m.id);
    expect((await owner.api.models.get.query({ modelId: m.id })).deletedAt).toBeNull();
    // Restoring a live model is a no-op success.
    expect(await member.api.models.restore.mutate({ modelIds: [m.id] })).toEqual({ restored: 0 });
  });

  test('all or nothing: an id not found, or a role too low anywhere, changes nothing', async () => {
    const [a, b] = await Promise.all([storedModel(svc, owner.userId, team), storedModel(svc, owner.userId, team)]);
    const theirs = await storedModel(svc, stranger.userId, undefined);
    const other = (await owner.api.workspaces.create.mutate({ name: 'Viewer elsewhere' })).id;
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: other, userId: member.userId, role: 'viewer' });
    const elsewhere = await storedModel(svc, owner.userId, other);

    expect(await codeOf(member.api.models.delete.mutate({ modelIds: [a.id, crypto.randomUUID()] }))).toBe('NOT_FOUND');
    expect(await codeOf(member.api.models.delete.mutate({ modelIds: [a.id, theirs.id] }))).toBe('NOT_FOUND');
    expect(await codeOf(member.api.models.delete.mutate({ modelIds: [a.id, elsewhere.id] }))).toBe('FORBIDDEN');
    expect(await codeOf(viewer.api.models.delete.mutate({ modelIds: [a.id] }))).toBe('FORBIDDEN');
    expect(await codeOf(member.api.models.purge.mutate({ modelIds: [a.id] }))).toBe('FORBIDDEN');
    expect(await codeOf(member.api.models.delete.mutate({ modelIds: [a.id, a.id] }))).toBe('BAD_REQUEST');
    const trash = await owner.api.models.list.query({ workspaceId: team, limit: 100, filter: { deleted: true } });
    expect(trash.models.map((x) => x.id)).not.toContain(a.id);

    // Across two workspaces the caller may act in: both go, and each workspace's members hear of theirs.
    await svc.deps.database.db.execute(
      dsql`update workspace_members set role = 'member' where workspace_id = ${other} and user_id = ${member.userId}`,
    );
    expect((await member.api.models.delete.mutate({ modelIds: [a.id, elsewhere.id] })).deleted).toBe(2);
    // A viewer may not restore; restore with an unknown id restores nothing.
    expect(await codeOf(viewer.api.models.restore.mutate({ modelIds: [a.id] }))).toBe('FORBIDDEN');
    expect(await codeOf(member.api.models.restore.mutate({ modelIds: [a.id, crypto.randomUUID()] }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.api.models.get.query({ modelId: a.id }))).toBe('NOT_FOUND');
    expect((await member.api.models.restore.mutate({ modelIds: [a.id, b.id, elsewhere.id] })).restored).toBe(2);
  });
});

describe('purge', () => {
  test('models.purge (admin): rows gone, tombstone set, objects deleted, usage drops; then restore is NOT_FOUND and nothing ingests it again', async () => {
    const keep = await storedModel(svc, owner.userId, team);
    const m = await storedModel(svc, owner.userId, team, 'purged-model');
    await aliasOf(svc, m, team, 'production');
    await owner.api.models.share.mutate({ modelId: m.id });
    await owner.api.models.download.mutate({ modelId: m.id });
    const prefix = `artifacts/${m.id}/`;
    expect(storedFiles(svc, prefix)).toHaveLength(2);
    const usageBefore = await usage(svc, team);
    const sizes = m.files.reduce((s, f) => s + f.size, 0);

    await member.api.models.delete.mutate({ modelIds: [m.id] });
    // The trash still takes its storage.
    expect(await usage(svc, team)).toBe(usageBefore);
    expect(await admin.api.models.purge.mutate({ modelIds: [m.id] })).toEqual({ purged: 1 });
    await svc.deps.boss.getSpy<{ prefixes?: string[] }>(purgeObjectsJob.name).waitForJob((d) => d.prefixes?.includes(prefix) ?? false, 'completed');

    expect(storedFiles(svc, prefix)).toEqual([]);
    // Download records go with the model (download_events cascades from model_artifacts).
    expect(await leftovers(svc, m)).toMatchObject({ models: 0, files: 0, aliases: 0, shares: 0, events: 0, artifactId: m.id });
    expect((await leftovers(svc, m)).purgedAt).toBeInstanceOf(Date);
    expect(await usage(svc, team)).toBe(usageBefore - sizes);
    expect(storedFiles(svc, `artifacts/${keep.id}/`)).toHaveLength(2);

    expect(await codeOf(member.api.models.restore.mutate({ modelIds: [m.id] }))).toBe('NOT_FOUND');
    expect(await codeOf(member.api.models.restore.mutate({ modelIds: [keep.id, m.id] }))).toBe('NOT_FOUND');
    expect(await codeOf(member.api.models.delete.mutate({ modelIds: [m.id] }))).toBe('NOT_FOUND');
    // Purging it again is a no-op for an admin, still FORBIDDEN for a member, NOT_FOUND for a stranger.
    expect(await owner.api.models.purge.mutate({ modelIds: [m.id] })).toEqual({ purged: 0 });
    expect(await codeOf(member.api.models.purge.mutate({ modelIds: [m.id] }))).toBe('FORBIDDEN');
    expect(await codeOf(stranger.api.models.purge.mutate({ modelIds: [m.id] }))).toBe('NOT_FOUND');

    // The tombstone: a retry is refused, the sweep does not see the job, and a late ingest delivers nothing.
    const retry = await owner.api.jobs.retryIngest.mutate({ jobId: m.jobId }).catch((e: { data?: { code?: string }; message: string }) => e);
    expect(retry).toMatchObject({ data: { code: 'CONFLICT' }, message: expect.stringContaining('purged') });
    expect((await staleIngests(svc.deps.database.db, ingestArtifactJob.name, 10_000)).map((j) => j.id)).not.toContain(m.jobId);
    const late = await ingestArtifactJob.handle(svc.deps, { jobId: m.jobId }, fakeJob({ jobId: m.jobId }));
    expect(late).toEqual({ status: 'completed', output: { skipped: 'already delivered' } });
    expect(storedFiles(svc, prefix)).toEqual([]);
    expect((await leftovers(svc, m)).models).toBe(0);
  });

  test('a live model can be purged at once; the catalogue count follows', async () => {
    const ws = (await owner.api.workspaces.create.mutate({ name: 'Count' })).id;
    const [a, b] = await Promise.all([storedModel(svc, owner.userId, ws), storedModel(svc, owner.userId, ws)]);
    expect((await owner.api.models.list.query({ workspaceId: ws })).pagination.total).toBe(2);
    await owner.api.models.delete.mutate({ modelIds: [a.id] });
    expect((await owner.api.models.list.query({ workspaceId: ws })).pagination.total).toBe(1);
    expect(await owner.api.models.purge.mutate({ modelIds: [a.id, b.id] })).toEqual({ purged: 2 });
    expect((await owner.api.models.list.query({ workspaceId: ws })).pagination.total).toBe(0);
    expect((await owner.api.models.list.query({ workspaceId: ws, filter: { deleted: true } })).pagination.total).toBe(0);
  });

  test('the hourly trash-purge job purges what has been in the trash longer than TRASH_RETENTION_DAYS, and only that', async () => {
    expect(JOBS).toContain(trashPurgeJob as never);
    expect(trashPurgeJob.cron).toMatch(/^\d{1,2} \* \* \* \*$/);
    expect((await svc.deps.boss.getSchedules()).map((s) => s.name)).toContain(trashPurgeJob.name);

    const ws = (await owner.api.workspaces.create.mutate({ name: 'Retention' })).id;
    const [expired, recent, live] = await Promise.all([1, 2, 3].map(() => storedModel(svc, owner.userId, ws)));
    await owner.api.models.delete.mutate({ modelIds: [expired!.id, recent!.id] });
    const days = svc.deps.env.trashRetentionDays;
    await svc.deps.database.db.execute(
      dsql`update model_artifacts set deleted_at = now() - make_interval(days => ${days}, mins => 1) where id = ${expired!.id}`,
    );
    const usageBefore = await usage(svc, ws);

    const id = await svc.deps.boss.send(trashPurgeJob.name, {});
    const done = await svc.deps.boss.getSpy(trashPurgeJob.name).waitForJobWithId(id!, 'completed');
    expect(done.output).toMatchObject({ purged: 1 });
    await svc.deps.boss
      .getSpy<{ prefixes?: string[] }>(purgeObjectsJob.name)
      .waitForJob((d) => d.prefixes?.includes(`artifacts/${expired!.id}/`) ?? false, 'completed');

    expect(await leftovers(svc, expired!)).toMatchObject({ models: 0, files: 0 });
    expect((await leftovers(svc, expired!)).purgedAt).toBeInstanceOf(Date);
    expect(storedFiles(svc, `artifacts/${expired!.id}/`)).toEqual([]);
    for (const kept of [recent!, live!]) {
      expect(await leftovers(svc, kept)).toMatchObject({ models: 1, files: 2, purgedAt: null });
      expect(storedFiles(svc, `artifacts/${kept.id}/`)).toHaveLength(2);
    }
    expect(await usage(svc, ws)).toBe(usageBefore - expired!.files.reduce((s, f) => s + f.size, 0));
    expect((await owner.api.models.restore.mutate({ modelIds: [recent!.id] })).restored).toBe(1);
  }, 30_000);
});

describe('purge with an ingest in flight', () => {
  test('a duplicate ingest still listing when its model is delivered and purged removes what it copies afterwards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trash-inflight-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { files } = await writeLoraOutput(dir, { layers: 1, hidden: 32 });
    // A GPU node's file server whose first manifest request waits for the test: that attempt is the late twin.
    let reachedGate!: () => void;
    const atGate = new Promise<void>((r) => {
      reachedGate = r;
    });
    let openGate!: () => void;
    const gate = new Promise<void>((r) => {
      openGate = r;
    });
    let manifests = 0;
    const fileGets = new Map<string, number>();
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      idleTimeout: 0,
      async fetch(req) {
        const path = decodeURIComponent(new URL(req.url).pathname.slice('/out/'.length));
        if (path === 'manifest.json') {
          if (++manifests === 1) {
            reachedGate();
            await gate;
          }
          return Response.json({ files: files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })) });
        }
        fileGets.set(path, (fileGets.get(path) ?? 0) + 1);
        return new Response(Bun.file(join(dir, path)));
      },
    });
    cleanups.push(() => server.stop(true));

    const u = await newUser(svc, 'inflight');
    // jobs.complete queues the ingest; this process's worker takes it and waits at the manifest.
    const run = await runTrainingJob(svc, u.api, { name: 'inflight', writeFiles: false, outputUri: `http://127.0.0.1:${server.port}/out/` });
    await atGate;
    // Its twin (a second delivery of the same job) delivers the model meanwhile.
    const twin = await ingestArtifactJob.handle(svc.deps, { jobId: run.jobId }, fakeJob({ jobId: run.jobId }));
    expect(twin).toMatchObject({ status: 'completed', output: { delivered: true } });
    const modelId = (await u.api.jobs.get.query({ jobId: run.jobId })).artifactId!;
    const prefix = `artifacts/${modelId}/`;
    const cardSql = sqlFor(svc);
    const card = await modelCardRow(cardSql, modelId).finally(() => cardSql.end());
    // The output's files and the generated model card, all under the model's prefix (what the purge must remove).
    expect(storedFiles(svc, prefix)).toHaveLength(files.length + 1);
    expect(storedFiles(svc, prefix)).toContain(card.storageKey);

    expect(await u.api.models.purge.mutate({ modelIds: [modelId] })).toEqual({ purged: 1 });
    await svc.deps.boss.getSpy<{ prefixes?: string[] }>(purgeObjectsJob.name).waitForJob((d) => d.prefixes?.includes(prefix) ?? false, 'completed');
    expect(storedFiles(svc, prefix)).toEqual([]);

    // The late twin now lists and copies every file again, loses the delivery, sees the tombstone and cleans up.
    openGate();
    const late = await svc.deps.boss.getSpy<{ jobId?: string }>(ingestArtifactJob.name).waitForJob((d) => d.jobId === run.jobId, 'completed');
    expect(late.output).toMatchObject({ artifactId: modelId, delivered: false });
    // It did copy every file after the purge (each was fetched twice: by the twin, then by it).
    expect(Object.fromEntries(fileGets)).toEqual(Object.fromEntries(files.map((f) => [f.path, 2])));
    expect(storedFiles(svc, prefix)).toEqual([]);
    const sql = sqlFor(svc);
    try {
      const [row] = await sql<{ n: number; purged: boolean }[]>`select (select count(*)::int from model_artifacts where job_id = ${run.jobId}) as n,
        (select purged_at is not null from training_jobs where id = ${run.jobId}) as purged`;
      expect(row).toEqual({ n: 0, purged: true });
    } finally {
      await sql.end();
    }
  }, 60_000);
});

describe('a purge killed half-way', () => {
  test('the worker dies with SIGKILL mid-deletion; the retried job leaves no objects and no rows', async () => {
    // API here (nothing in this process takes jobs); the purge runs in a ROLE=worker process of the real server.
    const api = await startTestService({ label: 'trash_kill', env: { ROLE: 'api' } });
    cleanups.push(() => api.stop());
    chmodSync(api.dataDir, 0o755);
    const spawnWorker = async () => {
      const worker = await spawnService({
        ROLE: 'worker',
        DATABASE_URL: api.databaseUrl,
        DATA_DIR: api.dataDir,
        AUTH_SECRET: api.deps.secret,
      });
      cleanups.push(worker.stop);
      return worker;
    };
    const first = await spawnWorker();
    // The retry is what is under test, not its 30 s backoff: this database's jobs retry after a second
    // (each job copies its queue's delay when sent; the production settings are unchanged).
    await api.deps.boss.updateQueue(purgeObjectsJob.name, { retryDelay: 1, retryBackoff: false });

    const u = await signedIn(api, 'killer');
    const personal = await personalWorkspaceOf(api.deps, u.userId);
    const m = await storedModel(api, u.userId, personal, 'killed-purge');
    await aliasOf(api, m, personal, 'production');
    await u.api.models.share.mutate({ modelId: m.id });
    // Enough objects that deleting them takes a while (checkpoint shards, say), all under the model's prefix.
    const prefix = `artifacts/${m.id}/`;
    const folder = join(api.dataDir, 'storage', 'artifacts', m.id);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 25_000; i++) writeFileSync(join(folder, `shard-${i}`), 'x');
    const total = storedFiles(api, prefix).length;
    expect(total).toBe(25_002);

    // The first object the worker removes is the moment it dies.
    const watcher = watch(folder, () => first.proc.kill('SIGKILL'));
    cleanups.push(() => watcher.close());
    expect(await u.api.models.purge.mutate({ modelIds: [m.id] })).toEqual({ purged: 1 });
    const killed = await Promise.race([first.proc.exited.then(() => true), Bun.sleep(30_000).then(() => false)]);
    expect(killed).toBe(true);
    expect(first.proc.signalCode).toBe('SIGKILL');
    watcher.close();
    const remaining = storedFiles(api, prefix).length;
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThan(total);
    // The rows went in the purge's own transaction, before any object: the tombstone holds already.
    expect(await leftovers(api, m)).toMatchObject({ models: 0, files: 0, aliases: 0, shares: 0, artifactId: m.id });

    const sql = sqlFor(api);
    try {
      const job = async () =>
        (
          await sql<{ id: string; state: string; retryCount: number }[]>`select id, state, retry_count as "retryCount" from pgboss.job
          where name = ${purgeObjectsJob.name} and data->'prefixes' ? ${prefix}`
        )[0]!;
      expect((await job()).state).toBe('active');
      // What a restarted service does for the jobs its dead worker held (server/queue/orphans.ts).
      expect(await releaseOrphanedJobs(api.deps.boss, api.deps.database, api.deps.log)).toBeGreaterThanOrEqual(1);
      expect((await job()).state).toBe('retry');
      // A worker fetches at its start, then waits for a NOTIFY (which a retry does not send) or its 30 s poll:
      // start the next one once the retry is due, as a restart after a crash would find it.
      const due = Date.now() + 10_000;
      while (
        (await sql`select 1 from pgboss.job where name = ${purgeObjectsJob.name} and data->'prefixes' ? ${prefix} and start_after <= now()`)
          .length === 0
      ) {
        if (Date.now() > due) throw new Error('the retry never came due');
        await Bun.sleep(50);
      }
      await spawnWorker();
      const deadline = Date.now() + 60_000;
      while ((await job()).state !== 'completed') {
        if (Date.now() > deadline) throw new Error(`the purge was not retried: ${JSON.stringify(await job())}`);
        await Bun.sleep(50);
      }
      expect((await job()).retryCount).toBe(1);
    } finally {
      await sql.end();
    }
    expect(storedFiles(api, prefix)).toEqual([]);
    const after = await leftovers(api, m);
    expect(after).toMatchObject({ models: 0, files: 0, aliases: 0, shares: 0, events: 0, artifactId: m.id });
    expect(after.purgedAt).toBeInstanceOf(Date);
  }, 150_000);
});
