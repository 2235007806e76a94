// Row-level security by workspace (issue 10): Postgres itself, under asUser, shows a member only their
// workspaces' rows and refuses the writes their role (or a read token) does not allow, whatever the query says.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { RlsActor, Tx } from '../../db/client.ts';
import * as schema from '../../db/schema/index.ts';
import {
  apiTokens,
  datasets,
  downloadEvents,
  metricsPoints,
  modelArtifacts,
  modelShares,
  workspaceInvites,
  workspaceMembers,
} from '../../db/schema/index.ts';
import { listModels } from '../../server/models/queries.ts';
import { listModelsInput } from '../../server/models/schemas.ts';
import { insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

type User = Awaited<ReturnType<typeof newUser>>;

/** Every table a workspace owns (and users: one's own row and one's teammates'). */
const TABLES = [
  'workspaces',
  'workspace_members',
  'workspace_invites',
  'datasets',
  'training_jobs',
  'metrics_points',
  'model_artifacts',
  'artifact_files',
  'model_counts',
  'model_shares',
  'api_tokens',
  'download_events',
  'users',
] as const;
type Table = (typeof TABLES)[number];
type Seen = Record<Table, string[]>;

let svc: TestService;
type Who = 'owner' | 'admin' | 'member' | 'viewer' | 'stranger' | 'leaver';
let u: Record<Who, User>;
/** Workspace ids by a short name (team, theirs: the stranger's team, p:<who>: a personal workspace), and back. */
const ws = {} as Record<'team' | 'theirs' | `p:${Who}`, string>;
const nameOf = new Map<string, string>();
/** Job id -> workspace name, for metrics_points (which names its job, not its workspace). */
const jobWorkspace = new Map<string, string>();
let teamModel: string;

/** A model with a file, a loss point, a share link, a download record and a token of `userId` in the workspace. */
async function seed(name: keyof typeof ws, userId: string, extra: { invite?: boolean } = {}) {
  const workspaceId = ws[name];
  const db = svc.deps.database.db;
  const model = await insertArtifact(svc.deps, userId, { workspaceId, files: [{ path: 'adapter_model.safetensors' }] });
  jobWorkspace.set(model.jobId, name);
  await db.insert(metricsPoints).values({ jobId: model.jobId, step: 1, trainingLoss: 1.5 });
  const hash = () => randomBytes(32).toString('hex');
  const expiresAt = new Date(Date.now() + 86_400_000);
  await db.insert(modelShares).values({ artifactId: model.id, workspaceId, tokenHash: hash(), createdBy: userId, expiresAt });
  await db.insert(downloadEvents).values({ workspaceId, userId, artifactId: model.id, fileIds: [model.files[0]!.id] });
  await db.insert(apiTokens).values({ userId, workspaceId, name: `${name} token`, tokenHash: hash(), prefix: 'lat_seeded' });
  if (extra.invite) {
    await db
      .insert(workspaceInvites)
      .values({ workspaceId, email: `invitee-${name}@example.com`, role: 'viewer', tokenHash: hash(), invitedBy: userId, expiresAt });
  }
  return model;
}

const userName = (id: string) => Object.entries(u).find(([, user]) => user.userId === id)?.[0] ?? `unknown ${id}`;

/** What each table shows in this transaction, with no WHERE at all: the names of the workspaces (users: who) of its rows. */
async function seen(tx: Tx): Promise<Seen> {
  const out = {} as Seen;
  for (const table of TABLES) {
    const column = table === 'workspaces' || table === 'users' ? 'id' : table === 'metrics_points' ? 'job_id' : 'workspace_id';
    const rows = await tx.execute<{ k: string }>(sql`select distinct ${sql.identifier(column)}::text as k from ${sql.identifier(table)}`);
    const names = rows.map((r) => (table === 'users' ? userName(r.k) : table === 'metrics_points' ? jobWorkspace.get(r.k) : nameOf.get(r.k)) ?? r.k);
    out[table] = [...new Set(names)].sort();
  }
  return out;
}

const as = (actor: RlsActor) => svc.deps.database.asUser(actor, seen);

/** The same workspaces in every table; `users` and any table named in `except` as given. */
function expected(workspaces: string[], users: string[], except: Partial<Seen> = {}): Seen {
  const out = {} as Seen;
  for (const table of TABLES) out[table] = [...(except[table] ?? (table === 'users' ? users : workspaces))].sort();
  return out;
}

/** The Postgres error under a failed drizzle query. */
async function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'accepted',
    (e: Error) => String((e.cause as Error | undefined)?.message ?? e.message),
  );
}

beforeAll(async () => {
  svc = await startTestService({ label: 'workspace-rls' });
  const people = await Promise.all(['owner', 'admin', 'member', 'viewer', 'stranger', 'leaver'].map((who) => newUser(svc, who)));
  const [owner, admin, member, viewer, stranger, leaver] = people as [User, User, User, User, User, User];
  u = { owner, admin, member, viewer, stranger, leaver };
  for (const [who, user] of Object.entries(u)) ws[`p:${who as Who}`] = await personalWorkspaceOf(svc.deps, user.userId);
  ws.team = (await client(svc.url, { cookie: owner.cookie }).workspaces.create.mutate({ name: 'Team' })).id;
  ws.theirs = (await client(svc.url, { cookie: stranger.cookie }).workspaces.create.mutate({ name: 'Theirs' })).id;
  for (const [name, id] of Object.entries(ws)) nameOf.set(id, name);
  // Members are inserted directly: how people join is workspaces.test.ts's business, what they see is this file's.
  await svc.deps.database.db.insert(workspaceMembers).values([
    { workspaceId: ws.team, userId: admin.userId, role: 'admin' },
    { workspaceId: ws.team, userId: member.userId, role: 'member' },
    { workspaceId: ws.team, userId: viewer.userId, role: 'viewer' },
    { workspaceId: ws.theirs, userId: leaver.userId, role: 'member' },
  ]);
  teamModel = (await seed('team', owner.userId, { invite: true })).id;
  await seed('theirs', stranger.userId, { invite: true });
  await seed('p:owner', owner.userId);
  await seed('p:viewer', viewer.userId);
  await seed('p:stranger', stranger.userId);
  // The viewer's token from before a demotion: still theirs, still in the team.
  await svc.deps.database.db
    .insert(apiTokens)
    .values({ userId: viewer.userId, workspaceId: ws.team, name: 'old', tokenHash: randomBytes(32).toString('hex'), prefix: 'lat_old' });
}, 60_000);
afterAll(() => svc?.stop());

describe('a query with no WHERE sees only the caller’s workspaces', () => {
  const team = ['admin', 'member', 'owner', 'viewer'];

  test('the owner of the team: the team and their personal workspace, every table', async () => {
    // Invitations are an admin's: the owner's personal workspace has none.
    expect(await as({ userId: u.owner.userId })).toEqual(expected(['p:owner', 'team'], team, { workspace_invites: ['team'] }));
  });

  test('a viewer: the same tables, less what only an admin reads (invitations, others’ tokens)', async () => {
    const got = await as({ userId: u.viewer.userId });
    // The download history of every workspace they are in (models.downloads, issue 14); their own tokens only.
    expect(got).toEqual(expected(['p:viewer', 'team'], team, { workspace_invites: [] }));
    const tokens = await svc.deps.database.asUser({ userId: u.viewer.userId }, (tx) => tx.select({ userId: apiTokens.userId }).from(apiTokens));
    expect(new Set(tokens.map((t) => userName(t.userId)))).toEqual(new Set(['viewer']));
  });

  test('a read-only transaction of the owner: everything a viewer reads, nothing an admin does', async () => {
    const got = await as({ userId: u.owner.userId, readOnly: true });
    expect(got).toEqual(expected(['p:owner', 'team'], team, { workspace_invites: [] }));
    const tokens = await svc.deps.database.asUser({ userId: u.owner.userId, readOnly: true }, (tx) =>
      tx.select({ userId: apiTokens.userId }).from(apiTokens),
    );
    expect(new Set(tokens.map((t) => userName(t.userId)))).toEqual(new Set(['owner']));
  });

  test('a token-scoped transaction: only the token’s workspace, though its user is a member of two', async () => {
    expect(await as({ userId: u.owner.userId, workspaceId: ws.team })).toEqual(expected(['team'], team));
    expect(await as({ userId: u.owner.userId, workspaceId: ws['p:owner'] })).toEqual(expected(['p:owner'], ['owner'], { workspace_invites: [] }));
    // A workspace the user is not in, named by a token, shows nothing at all.
    expect(await as({ userId: u.owner.userId, workspaceId: ws.theirs })).toEqual(expected([], ['owner']));
  });

  test('the owner connection (workers) sees every workspace: the rows above were there to be hidden', async () => {
    const all = await svc.deps.database.db.transaction((tx) => seen(tx));
    for (const table of ['datasets', 'model_artifacts', 'api_tokens', 'download_events'] as const) {
      expect(all[table]).toEqual(expect.arrayContaining(['team', 'theirs', 'p:owner', 'p:viewer', 'p:stranger']));
    }
  });
});

describe('writes the role does not allow are refused by Postgres itself', () => {
  const insertDataset = (actor: RlsActor, name: string) =>
    svc.deps.database.asUser(actor, (tx) =>
      tx.insert(datasets).values({ workspaceId: ws.team, createdBy: actor.userId, name }).returning({ id: datasets.id }),
    );
  const renameModel = (actor: RlsActor, name: string) =>
    svc.deps.database.asUser(actor, (tx) =>
      tx.update(modelArtifacts).set({ name }).where(eq(modelArtifacts.id, teamModel)).returning({ id: modelArtifacts.id }),
    );
  const modelName = async () =>
    (await svc.deps.database.db.select({ name: modelArtifacts.name }).from(modelArtifacts).where(eq(modelArtifacts.id, teamModel)))[0]!.name;

  test('a viewer can neither add a dataset nor rename a model; a member can, with the same statements', async () => {
    const viewer = { userId: u.viewer.userId };
    expect(await refusal(insertDataset(viewer, 'by the viewer'))).toMatch(/row-level security/);
    // An UPDATE's USING clause hides the row: nothing is changed.
    expect(await renameModel(viewer, 'renamed by the viewer')).toEqual([]);
    expect(await modelName()).not.toBe('renamed by the viewer');

    const member = { userId: u.member.userId };
    expect(await insertDataset(member, 'by the member')).toHaveLength(1);
    expect(await renameModel(member, 'renamed by the member')).toHaveLength(1);
    expect(await modelName()).toBe('renamed by the member');
  });

  test('a read-only transaction of the owner is refused the writes the owner may make', async () => {
    const readOnly = { userId: u.owner.userId, readOnly: true };
    expect(await refusal(insertDataset(readOnly, 'by a read token'))).toMatch(/row-level security/);
    expect(await renameModel(readOnly, 'renamed by a read token')).toEqual([]);
    expect(await modelName()).not.toBe('renamed by a read token');

    const owner = { userId: u.owner.userId };
    expect(await insertDataset(owner, 'by the owner')).toHaveLength(1);
    expect(await renameModel(owner, 'renamed by the owner')).toHaveLength(1);
  });

  test('a token of another workspace cannot write into the team, though its user owns the team', async () => {
    const elsewhere = { userId: u.owner.userId, workspaceId: ws['p:owner'] };
    expect(await refusal(insertDataset(elsewhere, 'through another workspace'))).toMatch(/row-level security/);
    expect(await renameModel(elsewhere, 'renamed through another workspace')).toEqual([]);
  });
});

describe('membership ends at once', () => {
  test('a removed member sees nothing of the workspace on their very next transaction', async () => {
    const leaver = { userId: u.leaver.userId };
    const before = await as(leaver);
    expect(before.datasets).toEqual(['theirs']);
    expect(before.model_artifacts).toEqual(['theirs']);
    await client(svc.url, { cookie: u.stranger.cookie }).workspaces.members.remove.mutate({ workspaceId: ws.theirs, userId: u.leaver.userId });
    // Only their personal workspace (their sign-up token is its only row), and of people only themselves.
    expect(await as(leaver)).toEqual(
      expected([], ['leaver'], { workspaces: ['p:leaver'], workspace_members: ['p:leaver'], api_tokens: ['p:leaver'] }),
    );
  });

  test('a viewer holding a token from their member days can leave, and the token is revoked with it', async () => {
    // Regression: row-level security let a viewer neither lock their member row nor revoke their own token,
    // so leaving failed with a 500 (workspaces/service.ts leaveWorkspace now leaves as the service).
    const host = client(svc.url, { cookie: u.stranger.cookie });
    const leaver = client(svc.url, { cookie: u.member.cookie });
    const { id } = await host.workspaces.create.mutate({ name: 'Demoting team' });
    const invite = await host.workspaces.members.invite.mutate({ workspaceId: id, email: u.member.email, role: 'member' });
    await leaver.workspaces.members.accept.mutate({ token: invite.token });
    const { token } = await leaver.tokens.create.mutate({ name: 'member days', workspaceId: id });
    await host.workspaces.members.setRole.mutate({ workspaceId: id, userId: u.member.userId, role: 'viewer' });
    expect(await leaver.workspaces.leave.mutate({ workspaceId: id })).toEqual({ workspaceId: id });
    const rows = await svc.deps.database.db.select({ revokedAt: apiTokens.revokedAt }).from(apiTokens).where(eq(apiTokens.workspaceId, id));
    expect(rows.map((r) => r.revokedAt !== null)).toEqual([true]);
    const res = await fetch(`${svc.url}/trpc/workspaces.list`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
  });
});

describe('the policy costs one look-up per statement', () => {
  test('the catalogue’s list query plans app.workspaces() once (a hashed SubPlan or InitPlan), not per row', async () => {
    // 30 more models, so a per-row check would show as loops=30.
    for (let i = 0; i < 30; i++) await insertArtifact(svc.deps, u.owner.userId, { workspaceId: ws.team });
    const statements: { query: string; params: unknown[] }[] = [];
    const pg = postgres(svc.databaseUrl, { max: 1, onnotice: () => {}, debug: (_c, query, params) => statements.push({ query, params }) });
    try {
      const db = drizzle(pg, { schema, casing: 'snake_case' });
      const plan = await db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('app.user_id', ${u.owner.userId}, true), set_config('role', 'app_user', true)`);
        // The catalogue's own statements (server/models/queries.ts), as models.list runs them for the team.
        const page = await listModels(tx, ws.team, listModelsInput.parse({ workspaceId: ws.team, limit: 50 }), null);
        expect(page.rows.length).toBeGreaterThan(30);
        const list = statements.find((s) => s.query.includes('"model_artifacts"') && s.query.includes('limit'));
        expect(list).toBeDefined();
        // The same statement and values, explained in the same transaction (same role and user).
        const { client: conn } = (tx as unknown as { session: { client: postgres.Sql } }).session;
        const rows = await conn.unsafe(
          `explain (analyze, verbose, costs off, timing off, summary off, buffers off) ${list!.query}`,
          list!.params as never[],
        );
        return rows.map((r) => String(r['QUERY PLAN'])).join('\n');
      });
      const lines = plan.split('\n');
      // Every call of app.workspaces() in the plan, with the node it runs in.
      const calls = lines.flatMap((line, i) =>
        line.includes('app.workspaces(')
          ? [
              {
                call: line.trim(),
                node:
                  lines
                    .slice(0, i)
                    .findLast((l) => l.includes('->'))
                    ?.trim() ?? '',
              },
            ]
          : [],
      );
      // Each policied table (models, datasets, jobs) has one.
      expect(calls.length).toBeGreaterThanOrEqual(3);
      for (const { call, node } of calls) {
        // The function makes a set in a node of its own, run once per statement (or not at all), never a per-row Filter call.
        expect(call).toStartWith('Output:');
        expect(node).toMatch(/(ProjectSet|Function Scan).*\((actual rows=[\d.]+ loops=1|never executed)\)$/);
      }
      // Each table's rows are checked against that set by hash lookup.
      const filters = lines.filter((l) => l.trim().startsWith('Filter:'));
      for (const table of ['model_artifacts', 'datasets', 'training_jobs']) {
        expect(filters.filter((f) => f.includes(`${table}.workspace_id`) && /hashed SubPlan|InitPlan/.test(f))).toHaveLength(1);
      }
      // On many rows: the joined tables were probed once per model (31 times), the function still once.
      expect(plan).toMatch(/on public\.datasets \(actual rows=[\d.]+ loops=31\)/);
    } finally {
      await pg.end();
    }
  });
});
