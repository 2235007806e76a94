// Migration 0007 (teams) on a database that lived before it: every row moves into its user's personal
// workspace, nothing is lost, stored objects keep resolving, and old API tokens keep working.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { runMigrations } from '../../db/migrate.ts';
import { familyFromName } from '../../server/registry/refs.ts';
import { hashToken } from '../../server/auth/tokens.ts';
import { createEmptyDatabase } from '../helpers/db.ts';
import { fileBytes, sampleJobConfig } from '../helpers/factories.ts';
import { client, startTestService, type TestService } from '../helpers/service.ts';

const MIGRATIONS = path.join(import.meta.dir, '..', '..', 'db', 'migrations');
const TEAMS_MIGRATION = '0007_workspaces';

/** Tables whose rows the migration must keep, one for one. */
const KEPT_TABLES = [
  'users',
  'accounts',
  'sessions',
  'datasets',
  'training_jobs',
  'metrics_points',
  'metrics_curve_buckets',
  'model_artifacts',
  'artifact_files',
  'download_events',
  'api_tokens',
  'notifications',
  'model_counts',
] as const;

/** Tables whose rows belonged to a user (user_id) before the migration. */
const OWNED_TABLES = ['datasets', 'training_jobs', 'model_artifacts', 'artifact_files', 'download_events', 'api_tokens'] as const;

interface OldUser {
  id: string;
  name: string;
  email: string;
  token: string;
  revokedToken: string | null;
}

interface OldFile {
  id: string;
  artifactId: string;
  userId: string;
  path: string;
  key: string;
  bytes: Uint8Array<ArrayBuffer>;
  sha256: string;
}

let tmp: string;
let url: string;
let sql: postgres.Sql;
let svc: TestService | undefined;
const users: OldUser[] = [];
const files: OldFile[] = [];
const modelsOf = new Map<string, string[]>();
let countsBefore: Record<string, number>;
let ownersBefore: Record<string, Map<string, string>>;
let keysBefore: { files: Map<string, string>; prefixes: Map<string, string> };

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** A better-auth style id: 32 alphanumerics. */
const authId = () => randomBytes(24).toString('base64url').replace(/[-_]/g, 'x').slice(0, 32);

/** The committed migrations up to (not including) the teams migration, as their own folder. */
function migrationsBeforeTeams(): string {
  const dir = path.join(tmp, 'migrations');
  fs.mkdirSync(path.join(dir, 'meta'), { recursive: true });
  const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  const cut = journal.entries.findIndex((e) => e.tag === TEAMS_MIGRATION);
  expect(cut).toBeGreaterThan(0);
  const entries = journal.entries.slice(0, cut);
  for (const e of entries) fs.copyFileSync(path.join(MIGRATIONS, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  fs.writeFileSync(path.join(dir, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries }, null, 2));
  return dir;
}

async function countRows(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of KEPT_TABLES) out[t] = (await sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${t}`))[0]!.n;
  return out;
}

/** Users, and per user datasets, jobs (with metrics), models with files, downloads, tokens and notifications, as the old schema held them. */
async function seedOldSchema(): Promise<void> {
  const people = [
    { name: 'Alice Martin', email: 'alice@example.com', models: 2, runningJobs: 1, revoked: true },
    { name: 'Bob Öztürk', email: 'bob@example.com', models: 1, runningJobs: 0, revoked: false },
    // No data beyond an account and a token: still gets a workspace.
    { name: '!!!', email: 'carol@example.com', models: 0, runningJobs: 0, revoked: false },
  ];
  for (const p of people) {
    const user: OldUser = {
      id: authId(),
      name: p.name,
      email: p.email,
      token: `lat_${randomBytes(32).toString('base64url')}`,
      revokedToken: p.revoked ? `lat_${randomBytes(32).toString('base64url')}` : null,
    };
    users.push(user);
    await sql`insert into users (id, name, email, email_verified) values (${user.id}, ${user.name}, ${user.email}, true)`;
    await sql`insert into accounts (id, account_id, provider_id, user_id, password) values (${authId()}, ${user.id}, 'credential', ${user.id}, 'x')`;
    await sql`insert into api_tokens (user_id, name, token_hash, prefix, last_used_at)
      values (${user.id}, 'ci', ${hashToken(user.token)}, ${user.token.slice(0, 10)}, now() - interval '2 days')`;
    if (user.revokedToken) {
      await sql`insert into api_tokens (user_id, name, token_hash, prefix, revoked_at)
        values (${user.id}, 'old laptop', ${hashToken(user.revokedToken)}, ${user.revokedToken.slice(0, 10)}, now() - interval '1 day')`;
    }
    modelsOf.set(user.id, []);
    if (p.models + p.runningJobs === 0) continue;
    const [dataset] = await sql<{ id: string }[]>`insert into datasets (user_id, name, format, row_count)
      values (${user.id}, ${`${p.name} tickets`}, 'jsonl', 1200) returning id`;
    await sql`insert into datasets (user_id, name, format, row_count) values (${user.id}, 'unused', 'csv', 10)`;
    const models = modelsOf.get(user.id)!;
    for (let m = 0; m < p.models + p.runningJobs; m++) {
      const done = m < p.models;
      const [job] = await sql<{ id: string }[]>`insert into training_jobs
        (user_id, dataset_id, name, status, config, gpu, output_uri, worker_token_hash, started_at, completed_at,
         epochs_completed, total_steps, duration_seconds, cost_usd, ingest_status)
        values (${user.id}, ${dataset!.id}, ${done ? 'Support Bot (LoRA r=8)' : `run-${m}`}, ${done ? 'completed' : 'running'}, ${JSON.stringify(sampleJobConfig)}::jsonb,
          ${JSON.stringify({ type: 'A100-80GB', count: 1 })}::jsonb, ${done ? 'file:///outputs/x' : null}, ${randomBytes(32).toString('hex')},
          now() - interval '3 hours', ${done ? sql`now() - interval '1 hour'` : null}, ${done ? 3 : null}, ${done ? 300 : null},
          ${done ? 5400 : null}, ${done ? 3.42 : null}, ${done ? 'ready' : 'none'})
        returning id`;
      for (let step = 1; step <= 20; step++) {
        await sql`insert into metrics_points (job_id, step, epoch, training_loss, validation_loss, learning_rate)
          values (${job!.id}, ${step}, ${step / 20}, ${2.4 - step * 0.05}, ${step % 5 === 0 ? 2.5 - step * 0.05 : null}, 0.0002)`;
      }
      if (!done) continue;
      const artifactId = crypto.randomUUID();
      const prefix = `${user.id}/${artifactId}/`;
      const names = ['adapter_config.json', 'adapter_model.safetensors'];
      const mine = names.map((name, n) => {
        const bytes = fileBytes(`${user.email}:${artifactId}:${name}`, 2048 + n * 512);
        return { id: crypto.randomUUID(), artifactId, userId: user.id, path: name, key: `${prefix}${n}`, bytes, sha256: sha256(bytes) };
      });
      await sql`insert into model_artifacts
        (id, user_id, job_id, dataset_id, name, quality_score, convergence, loss_reduction_pct, initial_loss, final_training_loss,
         epochs_completed, total_steps, duration_seconds, total_cost, hyperparameters, gpu, loss_curve, storage_prefix, total_bytes, file_count)
        values (${artifactId}, ${user.id}, ${job!.id}, ${dataset!.id}, ${`${p.name} model ${m}`}, 4, 'good', 60, 2.4, 0.95, 3, 300, 5400, 3.42,
          ${JSON.stringify(sampleJobConfig)}::jsonb, ${JSON.stringify({ type: 'A100-80GB', count: 1 })}::jsonb,
          ${JSON.stringify([
            { step: 1, trainingLoss: 2.4, validationLoss: null },
            { step: 300, trainingLoss: 0.95, validationLoss: 1.0 },
          ])}::jsonb,
          ${prefix}, ${mine.reduce((s, f) => s + f.bytes.byteLength, 0)}, ${mine.length})`;
      await sql`update training_jobs set artifact_id = ${artifactId} where id = ${job!.id}`;
      for (const f of mine) {
        await sql`insert into artifact_files (id, artifact_id, user_id, path, storage_key, size_bytes, sha256, kind, content_type, source_path)
          values (${f.id}, ${artifactId}, ${user.id}, ${f.path}, ${f.key}, ${f.bytes.byteLength}, ${f.sha256},
            ${f.path.endsWith('.json') ? 'config' : 'weights'}, 'application/octet-stream', ${`/outputs/x/${f.path}`})`;
      }
      await sql`insert into download_events (user_id, artifact_id, file_ids, kind, ip, user_agent)
        values (${user.id}, ${artifactId}, ${sql.array(mine.map((f) => f.id))}::uuid[], 'files', '203.0.113.7', 'curl/8')`;
      await sql`insert into download_events (user_id, artifact_id, file_ids, kind) values (${user.id}, ${artifactId}, '{}', 'bundle')`;
      await sql`insert into notifications (user_id, type, title, body, link)
        values (${user.id}, 'model_ready', ${`Your model ${p.name} model ${m} is ready`}, '2 files', ${`/models/${artifactId}`})`;
      files.push(...mine);
      models.push(artifactId);
    }
  }
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-migration-'));
  url = await createEmptyDatabase('ws_migration');
  sql = postgres(url, { max: 1, onnotice: () => {} });
  await migrate(drizzle(sql), { migrationsFolder: migrationsBeforeTeams(), migrationsSchema: 'drizzle' });
  await seedOldSchema();
  countsBefore = await countRows();
  ownersBefore = {};
  for (const t of OWNED_TABLES) {
    const rows = await sql.unsafe<{ id: string; user_id: string }[]>(`select id, user_id from ${t}`);
    ownersBefore[t] = new Map(rows.map((r) => [r.id, r.user_id]));
  }
  keysBefore = {
    files: new Map((await sql<{ id: string; k: string }[]>`select id, storage_key as k from artifact_files`).map((r) => [r.id, r.k])),
    prefixes: new Map((await sql<{ id: string; k: string }[]>`select id, storage_prefix as k from model_artifacts`).map((r) => [r.id, r.k])),
  };
  await runMigrations(url);
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  await sql?.end();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('migration 0007 on a database with data', () => {
  test('the seed is what the old schema held (the test starts before the teams migration)', async () => {
    expect(countsBefore).toMatchObject({ users: 3, datasets: 4, training_jobs: 4, model_artifacts: 3, artifact_files: 6, api_tokens: 4 });
    expect(countsBefore.model_counts).toBe(2);
    expect(countsBefore.metrics_curve_buckets).toBeGreaterThan(0);
    const applied = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(applied[0]!.n).toBe(journal.entries.length);
  });

  test('every user has exactly one personal workspace, which they own, and belongs to no other', async () => {
    const rows = await sql<{ userId: string; workspaces: number; personal: boolean; role: string; members: number }[]>`
      select u.id as "userId",
        (select count(*)::int from workspaces w where w.personal_user_id = u.id) as workspaces,
        (select w.personal from workspaces w where w.personal_user_id = u.id) as personal,
        (select m.role from workspace_members m join workspaces w on w.id = m.workspace_id where w.personal_user_id = u.id and m.user_id = u.id) as role,
        (select count(*)::int from workspace_members m where m.user_id = u.id) as members
      from users u`;
    expect([...rows].sort((a, b) => (a.userId < b.userId ? -1 : 1))).toEqual(
      users.map((u) => ({ userId: u.id, workspaces: 1, personal: true, role: 'owner', members: 1 })).sort((a, b) => (a.userId < b.userId ? -1 : 1)),
    );
    const all = await sql<{ slug: string; members: number }[]>`
      select w.slug, (select count(*)::int from workspace_members m where m.workspace_id = w.id) as members from workspaces w`;
    expect(all).toHaveLength(users.length);
    expect(all.every((w) => w.members === 1 && /^[a-z0-9-]+$/.test(w.slug))).toBe(true);
  });

  test('no row is lost or added: every table counts what it did', async () => {
    expect(await countRows()).toEqual(countsBefore);
  });

  test("every row now belongs to its old user's personal workspace, with that user as its creator", async () => {
    const personal = new Map(
      (await sql<{ id: string; userId: string }[]>`select id, personal_user_id as "userId" from workspaces`).map((r) => [r.id, r.userId]),
    );
    for (const t of OWNED_TABLES) {
      const creator = t === 'datasets' || t === 'training_jobs' || t === 'model_artifacts' ? 'created_by' : 'null';
      const rows = await sql.unsafe<{ id: string; workspace_id: string; creator: string | null }[]>(
        `select id, workspace_id, ${creator} as creator from ${t}`,
      );
      const expected = [...ownersBefore[t]!].map(([id, userId]) => ({
        table: t,
        id,
        owner: userId,
        creator: creator === 'null' ? null : userId,
      }));
      const actual = rows.map((r) => ({ table: t, id: r.id, owner: personal.get(r.workspace_id) ?? null, creator: r.creator }));
      const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
      expect(actual.sort(byId)).toEqual(expected.sort(byId));
    }
    // Who downloaded and who holds a token are kept as they were.
    const downloaders = await sql<{ id: string; userId: string; shareId: string | null }[]>`
      select id, user_id as "userId", share_id as "shareId" from download_events`;
    for (const d of downloaders)
      expect({ userId: d.userId, shareId: d.shareId }).toEqual({ userId: ownersBefore.download_events!.get(d.id)!, shareId: null });
    const holders = await sql<{ id: string; userId: string }[]>`select id, user_id as "userId" from api_tokens`;
    for (const t of holders) expect(t.userId).toBe(ownersBefore.api_tokens!.get(t.id)!);
  });

  test("API tokens migrate as 'write' tokens, keeping their revocation", async () => {
    const tokens = await sql<{ hash: string; scope: string; revoked: boolean; expiresAt: Date | null }[]>`
      select token_hash as hash, scope, revoked_at is not null as revoked, expires_at as "expiresAt" from api_tokens`;
    const expected = users.flatMap((u) => [
      { hash: hashToken(u.token), scope: 'write', revoked: false, expiresAt: null },
      ...(u.revokedToken ? [{ hash: hashToken(u.revokedToken), scope: 'write', revoked: true, expiresAt: null }] : []),
    ]);
    const byHash = (a: { hash: string }, b: { hash: string }) => (a.hash < b.hash ? -1 : 1);
    expect([...tokens].sort(byHash)).toEqual(expected.sort(byHash));
  });

  test('model_counts holds the real model count of each workspace', async () => {
    const rows = await sql<{ workspaceId: string; counted: number; real: number }[]>`
      select w.id as "workspaceId", coalesce(c.total, 0)::int as counted,
        (select count(*)::int from model_artifacts m where m.workspace_id = w.id) as real
      from workspaces w left join model_counts c on c.workspace_id = w.id`;
    expect(rows).toHaveLength(users.length);
    for (const r of rows) expect(r.counted).toBe(r.real);
    expect(rows.map((r) => r.real).sort()).toEqual([0, 1, 2]);
  });

  test('storage keys and prefixes are unchanged, so stored objects need not move', async () => {
    const fileKeys = new Map((await sql<{ id: string; k: string }[]>`select id, storage_key as k from artifact_files`).map((r) => [r.id, r.k]));
    const prefixes = new Map((await sql<{ id: string; k: string }[]>`select id, storage_prefix as k from model_artifacts`).map((r) => [r.id, r.k]));
    expect(fileKeys).toEqual(keysBefore.files);
    expect(prefixes).toEqual(keysBefore.prefixes);
    // The old keys name their user: the migration kept them as they were.
    for (const f of files) expect(fileKeys.get(f.id)).toBe(`${f.userId}/${f.artifactId}/${f.key.split('/').pop()}`);
  });
});

describe('migration 0008 (the registry) on the same data', () => {
  test("every run and model joins the family named by its job's name, slugified as jobs.create does it", async () => {
    const rows = await sql<{ name: string; family: string; model_family: string | null }[]>`
      select j.name, j.family, m.family as model_family from training_jobs j left join model_artifacts m on m.job_id = j.id`;
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.family).toBe(familyFromName(r.name));
      if (r.model_family !== null) expect(r.model_family).toBe(r.family);
    }
    expect(rows.some((r) => r.family === 'support-bot-lora-r-8')).toBe(true);
  });

  test('versions number each family in creation order from v1, and the family counter stands at the last', async () => {
    const models = await sql<{ workspace_id: string; family: string; version: number }[]>`
      select workspace_id, family, version from model_artifacts order by workspace_id, family, created_at, id`;
    const byFamily = new Map<string, number[]>();
    for (const m of models) byFamily.set(`${m.workspace_id}/${m.family}`, [...(byFamily.get(`${m.workspace_id}/${m.family}`) ?? []), m.version]);
    // Alice's two models share a family: v1 and v2.
    expect([...byFamily.values()].some((v) => v.length === 2)).toBe(true);
    for (const versions of byFamily.values()) expect(versions).toEqual(versions.map((_, i) => i + 1));
    const families = await sql<{ key: string; last: number }[]>`select workspace_id || '/' || name as key, last_version as last from model_families`;
    expect(new Map(families.map((f) => [f.key, f.last]))).toEqual(new Map([...byFamily].map(([k, v]) => [k, v.length])));
  });

  test('nothing is in the trash, and the catalogue counts stay what they were', async () => {
    const [trashed] = await sql<{ n: number }[]>`select count(*)::int as n from model_artifacts where deleted_at is not null`;
    expect(trashed!.n).toBe(0);
    const counts = await sql<{ total: number; real: number }[]>`
      select c.total, (select count(*)::int from model_artifacts m where m.workspace_id = c.workspace_id) as real from model_counts c`;
    for (const c of counts) expect(c.total).toBe(c.real);
  });
});

describe('the service on the migrated database', () => {
  beforeAll(async () => {
    svc = await startTestService({ label: 'ws_migrated', databaseUrl: url });
    // The objects an older release stored under `{userId}/{artifactId}/{n}`.
    for (const f of files) {
      await svc.deps.storage.put(f.key, new Response(f.bytes).body!, { size: f.bytes.byteLength, fileName: f.path });
    }
  }, 120_000);

  test("an old user's API token still lists their models (and only theirs), and their old objects download intact", async () => {
    for (const u of users) {
      const api = client(svc!.url, { token: u.token });
      const { models, pagination } = await api.models.list.query({});
      expect(models.map((m) => m.id).sort()).toEqual([...modelsOf.get(u.id)!].sort());
      expect(pagination.total).toBe(modelsOf.get(u.id)!.length);
    }
    const alice = users[0]!;
    const api = client(svc!.url, { token: alice.token });
    const modelId = modelsOf.get(alice.id)![0]!;
    const model = await api.models.get.query({ modelId });
    expect(model).toMatchObject({ role: 'owner', workspaceId: expect.any(String), configuration: { hyperparameters: sampleJobConfig } });
    const { files: links } = await api.models.download.mutate({ modelId });
    expect(links).toHaveLength(2);
    for (const link of links) {
      const res = await fetch(link.url);
      expect(res.status).toBe(200);
      const body = new Uint8Array(await res.arrayBuffer());
      expect(sha256(body)).toBe(files.find((f) => f.id === link.id)!.sha256);
    }
    // Another user's token does not reach Alice's model.
    const bob = client(svc!.url, { token: users[1]!.token });
    await expect(bob.models.get.query({ modelId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });

  test('a token revoked before the migration stays revoked', async () => {
    const revoked = users[0]!.revokedToken!;
    await expect(client(svc!.url, { token: revoked }).models.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });
});
