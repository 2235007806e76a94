// Deleting an account (POST /api/auth/delete-user): refused while it is the only owner of a team workspace,
// with nothing changed; otherwise its personal workspace goes with it (rows by cascade, stored objects by the
// purge job), its credentials stop at once, and the teams it was in keep their models.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { workspaceMembers } from '../../db/schema/index.ts';
import { StorageNotFoundError } from '../../server/storage/storage.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForExports, waitForIngest } from '../helpers/training.ts';

let svc: TestService;

beforeAll(async () => {
  // Local webhook receivers (the second test's) are allowed, as in a development setup.
  svc = await startTestService({ label: 'account_deletion', env: { WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' } });
}, 60_000);
afterAll(() => svc?.stop());

async function deleteAccount(cookie: string) {
  const res = await fetch(`${svc.url}/api/auth/delete-user`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: svc.url, cookie },
    body: JSON.stringify({ password: 'correct horse battery' }),
  });
  return { status: res.status, body: (await res.json()) as { message?: string; success?: boolean } };
}

async function readable(key: string): Promise<boolean> {
  return svc.deps.storage.get(key).then(
    async (stream) => {
      await stream.cancel();
      return true;
    },
    (e: unknown) => {
      if (e instanceof StorageNotFoundError) return false;
      throw e;
    },
  );
}

describe('deleting an account', () => {
  test('the only owner of a team cannot go (409, nothing changes); once someone else owns it, the account goes with its personal workspace', async () => {
    const alice = await newUser(svc, 'alice');
    const bob = await newUser(svc, 'bob');
    const web = client(svc.url, { cookie: alice.cookie });
    const { id: teamId } = await web.workspaces.create.mutate({ name: 'Research' });
    const personalId = await personalWorkspaceOf(svc.deps, alice.userId);
    const mine = await insertArtifact(svc.deps, alice.userId, { files: [{ path: 'adapter_config.json', bytes: fileBytes('alice', 256) }] });
    const teams = await insertArtifact(svc.deps, alice.userId, {
      workspaceId: teamId,
      files: [{ path: 'adapter_config.json', bytes: fileBytes('team', 256) }],
    });
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: bob.userId, role: 'admin' });
    const { db } = svc.deps.database;
    const count = async () =>
      (
        await db.execute<{ users: number; workspaces: number; models: number }>(sql`select
          (select count(*)::int from users where id = ${alice.userId}) as users,
          (select count(*)::int from workspaces where id in (${personalId}, ${teamId})) as workspaces,
          (select count(*)::int from model_artifacts where id in (${mine.id}, ${teams.id})) as models`)
      )[0];

    const refused = await deleteAccount(alice.cookie);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain('Research');
    expect(await count()).toEqual({ users: 1, workspaces: 2, models: 2 });
    expect((await alice.api.models.list.query({})).pagination.total).toBe(1);

    // Bob becomes an owner too: now Alice may go.
    await web.workspaces.members.setRole.mutate({ workspaceId: teamId, userId: bob.userId, role: 'owner' });
    const gone = await deleteAccount(alice.cookie);
    expect(gone).toEqual({ status: 200, body: { success: true, message: 'User deleted' } });

    expect(await count()).toEqual({ users: 0, workspaces: 1, models: 1 });
    // Her credentials stop at once, the cached ones included.
    await expect(alice.api.models.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    // The team keeps its model (made by her: created_by is now null) and its bytes.
    const bobsView = await client(svc.url, { cookie: bob.cookie }).models.list.query({ workspaceId: teamId });
    expect(bobsView.models.map((m) => m.id)).toEqual([teams.id]);
    expect(await readable(teams.files[0]!.key)).toBe(true);
    // Her personal model's bytes follow its rows out.
    await svc.deps.boss
      .getSpy<{ prefixes: string[] }>('purge-objects')
      .waitForJob((data) => data.prefixes.includes(`artifacts/${mine.id}/`), 'completed');
    expect(await readable(mine.files[0]!.key)).toBe(false);
  }, 30_000);
});

/** A foreign key of a public table: `table.column` references `refTable.refColumn`, deleting as `rule`. */
interface ForeignKey {
  table: string;
  column: string;
  refTable: string;
  refColumn: string;
  rule: string;
}

/** Every single-column foreign key of the public schema, read from the catalogue (so a new table is covered unasked). */
async function foreignKeys(): Promise<ForeignKey[]> {
  const rows = await svc.deps.database.db.execute<{ table: string; column: string; refTable: string; refColumn: string; rule: string }>(sql`
    select c.conrelid::regclass::text as "table", a.attname as "column", c.confrelid::regclass::text as "refTable",
      ra.attname as "refColumn", case c.confdeltype when 'c' then 'cascade' when 'n' then 'set null' else 'other' end as "rule"
    from pg_constraint c
    join pg_namespace n on n.oid = c.connamespace and n.nspname = 'public'
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    join pg_attribute ra on ra.attrelid = c.confrelid and ra.attnum = c.confkey[1]
    where c.contype = 'f' and cardinality(c.conkey) = 1`);
  return [...rows];
}

async function hasIdColumn(table: string): Promise<boolean> {
  const rows = await svc.deps.database.db.execute<{ n: number }>(
    sql`select count(*)::int as n from information_schema.columns where table_schema = 'public' and table_name = ${table} and column_name = 'id'`,
  );
  return rows[0]!.n === 1;
}

/**
 * The rows an account owns, by table: its user row and personal workspace, and every row that reaches them
 * through a chain of ON DELETE CASCADE keys (a set-null key, like a team model's created_by, is not ownership).
 */
async function ownedRows(keys: ForeignKey[], userId: string, personalId: string): Promise<Map<string, Set<string>>> {
  const owned = new Map<string, Set<string>>([
    ['users', new Set([userId])],
    ['workspaces', new Set([personalId])],
  ]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const k of keys) {
      const parents = owned.get(k.refTable);
      if (k.rule !== 'cascade' || !parents?.size || k.refColumn !== 'id' || !(await hasIdColumn(k.table))) continue;
      const rows = await svc.deps.database.db.execute<{ id: string }>(
        sql`select id::text as id from ${sql.identifier(k.table)} where ${sql.identifier(k.column)}::text in ${[...parents]}`,
      );
      const mine = owned.get(k.table) ?? new Set<string>();
      for (const r of rows) {
        if (!mine.has(r.id)) {
          mine.add(r.id);
          grew = true;
        }
      }
      owned.set(k.table, mine);
    }
  }
  return owned;
}

/** `table.column -> refTable: n` for each foreign key by which n > 0 rows name an owned row. */
async function naming(keys: ForeignKey[], owned: Map<string, Set<string>>): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) {
    const ids = owned.get(k.refTable);
    if (!ids?.size || k.refColumn !== 'id') continue;
    const rows = await svc.deps.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from ${sql.identifier(k.table)} where ${sql.identifier(k.column)}::text in ${[...ids]}`,
    );
    if (rows[0]!.n > 0) out.push(`${k.table}.${k.column} -> ${k.refTable}: ${rows[0]!.n}`);
  }
  return out;
}

/** Every object in the fs storage (keys as `a/b/c`), leaving out the driver's own dot-files (temporary writes, probes). */
function storedKeys(): string[] {
  const root = path.join(svc.dataDir, 'storage');
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  if (fs.existsSync(root)) walk(root, '');
  return out.sort();
}

describe('deleting an account leaves nothing of it', () => {
  test('no row that was only hers and no stored object of hers is left; the team she shared keeps its model, files and history', async () => {
    const receiver = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(null, { status: 204 }) });
    try {
      const alice = await newUser(svc, 'leaver');
      const bob = await newUser(svc, 'stayer');
      const web = client(svc.url, { cookie: alice.cookie });
      const personalId = await personalWorkspaceOf(svc.deps, alice.userId);
      // Her own workspace, used as a person would: a webhook, a real run (job, curve, files and card in storage,
      // notification, delivery), a GGUF export, an alias, a share link, a download, and a second session.
      await web.webhooks.create.mutate({ url: `http://127.0.0.1:${receiver.port}/hook`, events: ['model.ready'] });
      const run = await runTrainingJob(svc, web, { name: 'mine', lora: { layers: 2 } });
      const mineId = (await waitForIngest(web, run.jobId)).artifactId!;
      await web.models.export.mutate({ modelId: mineId, format: 'gguf' });
      expect((await waitForExports(web, mineId)).map((e) => e.status)).toEqual(['ready']);
      await web.models.setAlias.mutate({ modelId: mineId, alias: 'production' });
      await web.models.share.mutate({ modelId: mineId });
      await web.models.download.mutate({ modelId: mineId });
      await fetch(`${svc.url}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: svc.url },
        body: JSON.stringify({ email: alice.email, password: 'correct horse battery' }),
      });
      // A team she shares with Bob (both owners): her run there, her download of it, her invitation.
      const { id: teamId } = await web.workspaces.create.mutate({ name: 'Shared' });
      await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: bob.userId, role: 'owner' });
      const teamRun = await runTrainingJob(svc, web, { name: 'team-run', workspaceId: teamId });
      const teamModelId = (await waitForIngest(web, teamRun.jobId)).artifactId!;
      await web.models.download.mutate({ modelId: teamModelId });
      await web.workspaces.members.invite.mutate({ workspaceId: teamId, email: 'someone@example.com', role: 'viewer' });

      const keys = await foreignKeys();
      const owned = await ownedRows(keys, alice.userId, personalId);
      // The walk found what a real account holds (so the checks below check something).
      const ownedTables = [...owned].filter(([, ids]) => ids.size > 0).map(([table]) => table);
      expect(ownedTables).toEqual(
        expect.arrayContaining(['sessions', 'accounts', 'api_tokens', 'datasets', 'training_jobs', 'model_artifacts', 'artifact_files']),
      );
      expect(ownedTables).toEqual(expect.arrayContaining(['model_exports', 'model_shares', 'download_events', 'notifications', 'webhooks']));
      const namedBefore = (await naming(keys, owned)).map((n) => n.split('.')[0]);
      expect(namedBefore).toEqual(expect.arrayContaining(['workspace_members', 'metrics_points', 'model_counts']));
      const mineKeys = storedKeys().filter((k) => k.startsWith(`artifacts/${mineId}/`));
      expect(mineKeys.length).toBeGreaterThan(3);
      const teamBefore = await client(svc.url, { cookie: bob.cookie }).models.downloads.query({ modelId: teamModelId });

      const gone = await deleteAccount(alice.cookie);
      expect(gone).toEqual({ status: 200, body: { success: true, message: 'User deleted' } });
      await svc.deps.boss
        .getSpy<{ prefixes?: string[] }>('purge-objects')
        .waitForJob((data) => data.prefixes?.includes(`artifacts/${mineId}/`) ?? false, 'completed');

      const { db } = svc.deps.database;
      // No owned row is left in its table…
      const left: string[] = [];
      for (const [table, ids] of owned) {
        if (ids.size === 0 || !(await hasIdColumn(table))) continue;
        const rows = await db.execute<{ id: string }>(sql`select id::text as id from ${sql.identifier(table)} where id::text in ${[...ids]}`);
        for (const r of rows) left.push(`${table} ${r.id}`);
      }
      // …and no row of any table (those without an id too: model_counts, workspace_members) still names her,
      // her personal workspace, or a row she owned.
      expect([...left, ...(await naming(keys, owned))]).toEqual([]);

      // Every stored object belongs to a file row that is still there; none of hers is.
      const stored = storedKeys();
      const referenced = new Set((await db.execute<{ key: string }>(sql`select storage_key as key from artifact_files`)).map((r) => r.key));
      expect(stored.filter((k) => !referenced.has(k))).toEqual([]);
      expect(stored.filter((k) => k.startsWith(`artifacts/${mineId}/`))).toEqual([]);

      // The team keeps its model, its files' bytes and its download history (her name gone from it).
      const bobs = client(svc.url, { cookie: bob.cookie });
      const teamModel = await bobs.models.get.query({ modelId: teamModelId });
      expect(teamModel.files.length).toBeGreaterThan(0);
      const teamKeys = await db.execute<{ key: string }>(sql`select storage_key as key from artifact_files where artifact_id = ${teamModelId}`);
      expect(teamKeys.length).toBe(teamModel.files.length);
      for (const { key } of teamKeys) expect(await readable(key)).toBe(true);
      const teamAfter = await bobs.models.downloads.query({ modelId: teamModelId });
      expect(teamAfter.downloads.map((d) => d.id)).toEqual(teamBefore.downloads.map((d) => d.id));
      expect(teamAfter.downloads.every((d) => d.user === null)).toBe(true);
    } finally {
      await receiver.stop(true);
    }
  }, 120_000);
});
