// Versions and aliases (issue 11, item 3): numbering by ingest, models.versions, setAlias / removeAlias and
// their history, rollback, resolve and the reference grammar on models.get and models.download, bad input,
// other workspaces, and 20 concurrent moves of one alias.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { TRPCClientError } from '@trpc/client';
import { and, asc, eq, sql } from 'drizzle-orm';
import { downloadEvents, modelAliasEvents, modelAliases, modelArtifacts, workspaceMembers } from '../../db/schema/index.ts';
import type { AppRouter } from '../../server/trpc/root.ts';
import { insertArtifact, insertDataset, personalWorkspaceOf, seedFamily, type InsertedArtifact } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

type User = Awaited<ReturnType<typeof newUser>>;

let svc: TestService;
let owner: User;
let other: User;
let ownerWorkspace: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'versions' });
  [owner, other] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'other')]);
  ownerWorkspace = await personalWorkspaceOf(svc.deps, owner.userId);
}, 60_000);
afterAll(() => svc?.stop());

/** The error a call fails with: its code, the fields its zod error names, its message. */
async function failure(call: Promise<unknown>): Promise<{ code: string | undefined; fields: string[]; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof TRPCClientError)) throw err;
    const data = (err as TRPCClientError<AppRouter>).data as
      | { code?: string; zodError?: { fieldErrors?: Record<string, string[]> } | null }
      | undefined;
    return { code: data?.code, fields: Object.keys(data?.zodError?.fieldErrors ?? {}), message: err.message };
  }
  throw new Error('the call succeeded');
}

/** `count` models of `family` in the owner's personal workspace, made in order (v1, v2, …). */
async function family(name: string, count: number, spec: Parameters<typeof insertArtifact>[2] = {}): Promise<InsertedArtifact[]> {
  const made: InsertedArtifact[] = [];
  for (let i = 0; i < count; i++) made.push(await insertArtifact(svc.deps, owner.userId, { family: name, ...spec }));
  return made;
}

/** Puts a model in the trash the way models.delete leaves it (deleted_at set), without depending on that procedure. */
async function trash(modelId: string): Promise<void> {
  await svc.deps.database.db.update(modelArtifacts).set({ deletedAt: new Date(), deletedBy: owner.userId }).where(eq(modelArtifacts.id, modelId));
}

function events(workspaceId: string, familyName: string) {
  return svc.deps.database.db
    .select()
    .from(modelAliasEvents)
    .where(and(eq(modelAliasEvents.workspaceId, workspaceId), eq(modelAliasEvents.family, familyName)))
    .orderBy(asc(modelAliasEvents.at), asc(modelAliasEvents.id));
}

describe('version numbers', () => {
  test('each model takes the next version of its family; models.versions lists them newest first with quality', async () => {
    const made = await family('numbers', 3, { qualityScore: 4 });
    expect(made.map((m) => m.version)).toEqual([1, 2, 3]);
    // Another family in the same workspace counts on its own.
    expect((await family('numbers-other', 1))[0]!.version).toBe(1);

    const versions = await owner.api.models.versions.query({ family: 'numbers' });
    expect(versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(versions.map((v) => v.id)).toEqual(made.map((m) => m.id).reverse());
    expect(versions[0]).toEqual({
      id: made[2]!.id,
      version: 3,
      ref: 'numbers@v3',
      name: made[2]!.name,
      createdAt: expect.any(String),
      aliases: [],
      qualityScore: 4,
      convergenceQuality: 'good',
      finalValidationLoss: 0.97,
      perplexity: 2.64,
      totalBytes: 0,
      createdBy: { id: owner.userId, name: 'Test User' },
    });
    // The same through an explicit workspace.
    expect((await owner.api.models.versions.query({ family: 'numbers', workspaceId: ownerWorkspace })).map((v) => v.version)).toEqual([3, 2, 1]);
  });

  test('delivery assigns v1, v2 to runs created with jobs.create({ family })', async () => {
    const ids: string[] = [];
    for (const name of ['Support bot, first try', 'Support bot, second try']) {
      const run = await runTrainingJob(svc, owner.api, { name, family: 'support-bot', steps: 60 });
      const job = await waitForIngest(owner.api, run.jobId);
      expect(job.ingestStatus).toBe('ready');
      ids.push(job.artifactId!);
    }
    const models = await Promise.all(ids.map((modelId) => owner.api.models.get.query({ modelId })));
    expect(models.map((m) => [m.family, m.version, m.ref])).toEqual([
      ['support-bot', 1, 'support-bot@v1'],
      ['support-bot', 2, 'support-bot@v2'],
    ]);
    expect((await owner.api.models.versions.query({ family: 'support-bot' })).map((v) => v.id)).toEqual([ids[1]!, ids[0]!]);
  }, 60_000);

  test('a version number is never reused, even after its model row is gone', async () => {
    const [v1, v2] = await family('gone', 2);
    // As a purge leaves it: the row deleted, the family's counter untouched.
    await svc.deps.database.db.delete(modelArtifacts).where(eq(modelArtifacts.id, v2!.id));
    const [v3] = await family('gone', 1);
    expect(v3!.version).toBe(3);
    expect((await owner.api.models.versions.query({ family: 'gone' })).map((v) => [v.id, v.version])).toEqual([
      [v3!.id, 3],
      [v1!.id, 1],
    ]);
  });

  test('models in the trash are not listed; a family whose every model is in the trash lists none', async () => {
    const [v1, v2] = await family('binned', 2);
    await trash(v2!.id);
    expect((await owner.api.models.versions.query({ family: 'binned' })).map((v) => v.version)).toEqual([1]);
    await trash(v1!.id);
    expect(await owner.api.models.versions.query({ family: 'binned' })).toEqual([]);
  });

  test('an unknown family is NOT_FOUND', async () => {
    const err = await failure(owner.api.models.versions.query({ family: 'no-such-family' }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('Family not found.');
  });
});

describe('aliases', () => {
  let m: InsertedArtifact[];
  beforeAll(async () => {
    m = await family('aliased', 3);
  });

  test('set, move, idempotent set, a second alias, rollback, remove; the history records each with who and when', async () => {
    const [v1, v2] = m as [InsertedArtifact, InsertedArtifact, InsertedArtifact];
    expect(await owner.api.models.setAlias.mutate({ modelId: v1.id, alias: 'production' })).toEqual({
      family: 'aliased',
      alias: 'production',
      version: 1,
      previousVersion: null,
    });
    expect(await owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'production' })).toMatchObject({ version: 2, previousVersion: 1 });
    // Setting it to its holder again changes nothing and records nothing.
    expect(await owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'production' })).toMatchObject({ version: 2, previousVersion: 2 });
    expect(await owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'staging' })).toMatchObject({ version: 2, previousVersion: null });
    expect((await owner.api.models.versions.query({ family: 'aliased' })).map((v) => [v.version, v.aliases])).toEqual([
      [3, []],
      [2, ['production', 'staging']],
      [1, []],
    ]);

    // Rollback is moving the alias back.
    expect(await owner.api.models.setAlias.mutate({ modelId: v1.id, alias: 'production' })).toMatchObject({ version: 1, previousVersion: 2 });
    expect((await owner.api.models.resolve.query({ family: 'aliased', alias: 'production' })).id).toBe(v1.id);

    // removeAlias: only from the model that holds it.
    const notHeld = await failure(owner.api.models.removeAlias.mutate({ modelId: v2.id, alias: 'production' }));
    expect(notHeld.code).toBe('NOT_FOUND');
    expect(await owner.api.models.removeAlias.mutate({ modelId: v2.id, alias: 'staging' })).toEqual({
      family: 'aliased',
      alias: 'staging',
      version: 2,
    });
    expect((await failure(owner.api.models.removeAlias.mutate({ modelId: v2.id, alias: 'staging' }))).code).toBe('NOT_FOUND');

    const page = await owner.api.models.get.query({ modelId: v1.id });
    expect(page.aliases).toEqual(['production']);
    expect((await owner.api.models.get.query({ modelId: v2.id })).aliases).toEqual([]);
    const me = { id: owner.userId, name: 'Test User' };
    expect(page.aliasHistory.map(({ at: _, ...e }) => e)).toEqual([
      { alias: 'staging', action: 'removed', version: 2, previousVersion: null, actor: me },
      { alias: 'production', action: 'set', version: 1, previousVersion: 2, actor: me },
      { alias: 'staging', action: 'set', version: 2, previousVersion: null, actor: me },
      { alias: 'production', action: 'set', version: 2, previousVersion: 1, actor: me },
      { alias: 'production', action: 'set', version: 1, previousVersion: null, actor: me },
    ]);
    const times = page.aliasHistory.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    // The page of another version of the family shows the same history.
    expect((await owner.api.models.get.query({ modelId: v2.id })).aliasHistory).toEqual(page.aliasHistory);
  });

  test('the history shows the last 50 moves of the family', async () => {
    const [a, b] = await family('busy', 2);
    for (let i = 0; i < 26; i++) await owner.api.models.setAlias.mutate({ modelId: (i % 2 ? b : a)!.id, alias: 'production' });
    const page = await owner.api.models.get.query({ modelId: a!.id });
    expect(page.aliasHistory).toHaveLength(26);
    for (let i = 26; i < 56; i++) await owner.api.models.setAlias.mutate({ modelId: (i % 2 ? b : a)!.id, alias: 'production' });
    const full = await owner.api.models.get.query({ modelId: a!.id });
    expect(full.aliasHistory).toHaveLength(50);
    // Newest first: the 56th move (to b, from a) leads.
    expect(full.aliasHistory[0]).toMatchObject({ version: b!.version, previousVersion: a!.version });
    expect((await events(ownerWorkspace, 'busy')).length).toBe(56);
  });

  test('a model in the trash takes no alias; one it holds stays but resolve refuses it', async () => {
    const [live, binned] = await family('half-binned', 2);
    await owner.api.models.setAlias.mutate({ modelId: binned!.id, alias: 'production' });
    await trash(binned!.id);
    expect((await failure(owner.api.models.setAlias.mutate({ modelId: binned!.id, alias: 'staging' }))).code).toBe('NOT_FOUND');
    const err = await failure(owner.api.models.resolve.query({ family: 'half-binned', alias: 'production' }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('trash');
    expect((await failure(owner.api.models.download.mutate({ ref: 'half-binned@production' }))).message).toContain('trash');
    expect((await failure(owner.api.models.resolve.query({ family: 'half-binned', version: 2 }))).code).toBe('NOT_FOUND');
    // The alias row is still there (a restore brings it back); the latest live version is v1.
    const rows = await svc.deps.database.db.select().from(modelAliases).where(eq(modelAliases.artifactId, binned!.id));
    expect(rows.map((r) => r.alias)).toEqual(['production']);
    expect((await owner.api.models.resolve.query({ family: 'half-binned' })).id).toBe(live!.id);
    // Moving it to a live model works as ever, and resolve follows.
    expect(await owner.api.models.setAlias.mutate({ modelId: live!.id, alias: 'production' })).toMatchObject({ version: 1, previousVersion: 2 });
    expect((await owner.api.models.resolve.query({ family: 'half-binned', alias: 'production' })).id).toBe(live!.id);
  });
});

describe('resolve and references', () => {
  let m: InsertedArtifact[];
  beforeAll(async () => {
    m = await family('refs', 3, { files: [{ path: 'adapter_config.json' }, { path: 'adapter_model.safetensors' }] });
    await owner.api.models.setAlias.mutate({ modelId: m[0]!.id, alias: 'production' });
  });

  test('resolve: neither alias nor version is the latest; a version; an alias; as models.get answers', async () => {
    const latest = await owner.api.models.resolve.query({ family: 'refs' });
    expect(latest.id).toBe(m[2]!.id);
    expect(latest).toEqual(await owner.api.models.get.query({ modelId: m[2]!.id }));
    expect((await owner.api.models.resolve.query({ family: 'refs', version: 2 })).id).toBe(m[1]!.id);
    const prod = await owner.api.models.resolve.query({ family: 'refs', alias: 'production', workspaceId: ownerWorkspace });
    expect(prod.id).toBe(m[0]!.id);
    expect(prod.aliases).toEqual(['production']);
    expect((await failure(owner.api.models.resolve.query({ family: 'refs', version: 9 }))).code).toBe('NOT_FOUND');
    expect((await failure(owner.api.models.resolve.query({ family: 'refs', alias: 'staging' }))).code).toBe('NOT_FOUND');
    expect((await failure(owner.api.models.resolve.query({ family: 'no-such-family' }))).message).toBe('Family not found.');
  });

  test('models.get takes a ref of every form', async () => {
    const cases: [string, string][] = [
      ['refs', m[2]!.id],
      ['refs@v2', m[1]!.id],
      ['refs@production', m[0]!.id],
      [m[1]!.id, m[1]!.id],
      [m[1]!.id.toUpperCase(), m[1]!.id],
    ];
    for (const [ref, id] of cases) expect({ ref, id: (await owner.api.models.get.query({ ref })).id }).toEqual({ ref, id });
  });

  test('models.download takes a ref of every form, beside modelId, and records the download of the model it names', async () => {
    const cases: [Record<string, string>, InsertedArtifact][] = [
      [{ ref: 'refs' }, m[2]!],
      [{ ref: 'refs@v2' }, m[1]!],
      [{ ref: 'refs@production', workspaceId: ownerWorkspace }, m[0]!],
      [{ ref: m[1]!.id }, m[1]!],
      [{ modelId: m[0]!.id }, m[0]!],
    ];
    for (const [input, model] of cases) {
      const before = await svc.deps.database.db
        .select({ n: sql<number>`count(*)::int` })
        .from(downloadEvents)
        .where(eq(downloadEvents.artifactId, model.id));
      const got = await owner.api.models.download.mutate(input as { ref: string });
      expect({ input, files: got.files.map((f) => f.id).sort() }).toEqual({ input, files: model.files.map((f) => f.id).sort() });
      const after = await svc.deps.database.db
        .select({ n: sql<number>`count(*)::int` })
        .from(downloadEvents)
        .where(eq(downloadEvents.artifactId, model.id));
      expect(after[0]!.n).toBe(before[0]!.n + 1);
    }
  });

  test('bad input is BAD_REQUEST naming the field, and changes nothing', async () => {
    const [v1, v2] = m as [InsertedArtifact, InsertedArtifact];
    const before = await events(ownerWorkspace, 'refs');
    const cases: [() => Promise<unknown>, string][] = [
      [() => owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'v3' }), 'alias'],
      [() => owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'V3' }), 'alias'],
      [() => owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'Production' }), 'alias'],
      [() => owner.api.models.setAlias.mutate({ modelId: v2.id, alias: '3rd' }), 'alias'],
      [() => owner.api.models.setAlias.mutate({ modelId: v2.id, alias: 'a'.repeat(33) }), 'alias'],
      [() => owner.api.models.removeAlias.mutate({ modelId: v1.id, alias: 'v1' }), 'alias'],
      [() => owner.api.models.versions.query({ family: 'has spaces' }), 'family'],
      [() => owner.api.models.versions.query({ family: 'Refs' }), 'family'],
      [() => owner.api.models.resolve.query({ family: 'refs', alias: 'production', version: 1 }), 'version'],
      [() => owner.api.models.resolve.query({ family: 'refs', alias: 'v2' }), 'alias'],
      [() => owner.api.models.resolve.query({ family: 'refs', version: 0 }), 'version'],
      [() => owner.api.models.download.mutate({ modelId: v1.id, ref: 'refs' }), 'ref'],
      [() => owner.api.models.download.mutate({}), 'ref'],
      [() => owner.api.models.download.mutate({ ref: 'refs@v0' }), 'ref'],
      [() => owner.api.models.download.mutate({ ref: 'refs@Prod' }), 'ref'],
      [() => owner.api.models.download.mutate({ ref: 'Refs' }), 'ref'],
      [() => owner.api.models.download.mutate({ ref: 'refs@v2@v3' }), 'ref'],
      [() => owner.api.models.get.query({ ref: 'has spaces' }), 'ref'],
      [() => owner.api.models.get.query({ modelId: v1.id, ref: 'refs' }), 'ref'],
    ];
    for (const [call, field] of cases) {
      const err = await failure(call());
      expect({ field, code: err.code, named: err.fields.includes(field) }).toEqual({ field, code: 'BAD_REQUEST', named: true });
    }
    expect(await events(ownerWorkspace, 'refs')).toEqual(before);
    expect((await owner.api.models.resolve.query({ family: 'refs', alias: 'production' })).id).toBe(v1.id);
  });

  test("another workspace's family and models are NOT_FOUND", async () => {
    const calls: (() => Promise<unknown>)[] = [
      // In the caller's own (personal) workspace there is no such family…
      () => other.api.models.versions.query({ family: 'refs' }),
      () => other.api.models.resolve.query({ family: 'refs' }),
      () => other.api.models.get.query({ ref: 'refs@production' }),
      () => other.api.models.download.mutate({ ref: 'refs@v1' }),
      // …and the owner's workspace is not theirs (nor a token's of another workspace) to name.
      () => other.api.models.versions.query({ family: 'refs', workspaceId: ownerWorkspace }),
      () => client(svc.url, { cookie: other.cookie }).models.versions.query({ family: 'refs', workspaceId: ownerWorkspace }),
      () => client(svc.url, { cookie: other.cookie }).models.resolve.query({ family: 'refs', alias: 'production', workspaceId: ownerWorkspace }),
      () => client(svc.url, { cookie: other.cookie }).models.download.mutate({ ref: 'refs', workspaceId: ownerWorkspace }),
      // By id: the owner's model is not theirs.
      () => other.api.models.get.query({ ref: m[0]!.id }),
      () => other.api.models.setAlias.mutate({ modelId: m[1]!.id, alias: 'mine' }),
      () => other.api.models.removeAlias.mutate({ modelId: m[0]!.id, alias: 'production' }),
    ];
    for (const [i, call] of calls.entries()) expect({ i, code: (await failure(call())).code }).toEqual({ i, code: 'NOT_FOUND' });
    expect((await owner.api.models.resolve.query({ family: 'refs', alias: 'production' })).id).toBe(m[0]!.id);
    expect((await owner.api.models.versions.query({ family: 'refs' })).flatMap((v) => v.aliases)).toEqual(['production']);
  });
});

describe('roles', () => {
  test('a viewer and a read token may read versions and resolve, not move aliases; a member may', async () => {
    const web = client(svc.url, { cookie: owner.cookie });
    const { id: workspaceId } = await web.workspaces.create.mutate({ name: 'Team' });
    const [viewer, member] = await Promise.all([newUser(svc, 'viewer'), newUser(svc, 'member')]);
    await svc.deps.database.db.insert(workspaceMembers).values([
      { workspaceId, userId: viewer.userId, role: 'viewer' },
      { workspaceId, userId: member.userId, role: 'member' },
    ]);
    const model = await insertArtifact(svc.deps, owner.userId, { workspaceId, family: 'team-bot' });
    const { token: readToken } = await web.tokens.create.mutate({ name: 'read', workspaceId, scope: 'read' });
    const callers = {
      viewer: client(svc.url, { cookie: viewer.cookie }),
      readToken: client(svc.url, { token: readToken }),
      member: client(svc.url, { cookie: member.cookie }),
    };
    for (const [who, api] of Object.entries(callers)) {
      expect((await api.models.versions.query({ family: 'team-bot', workspaceId })).map((v) => v.id)).toEqual([model.id]);
      expect((await api.models.resolve.query({ family: 'team-bot', workspaceId })).id).toBe(model.id);
      const set = api.models.setAlias.mutate({ modelId: model.id, alias: 'production' });
      if (who === 'member') expect(await set).toMatchObject({ version: 1 });
      else expect({ who, code: (await failure(set)).code }).toEqual({ who, code: 'FORBIDDEN' });
    }
    expect((await failure(callers.viewer.models.removeAlias.mutate({ modelId: model.id, alias: 'production' }))).code).toBe('FORBIDDEN');
    expect(await callers.member.models.removeAlias.mutate({ modelId: model.id, alias: 'production' })).toMatchObject({ version: 1 });
    const history = await events(workspaceId, 'team-bot');
    expect(history.map((e) => [e.action, e.actorId])).toEqual([
      ['set', member.userId],
      ['removed', member.userId],
    ]);
  });
});

describe('atomicity', () => {
  test('20 concurrent setAlias calls on one alias: one holder, and one unbroken history ending at it', async () => {
    const datasetId = (await insertDataset(svc.deps, owner.userId)).id;
    const made = await family('race', 20, { datasetId });
    const byVersion = new Map(made.map((x) => [x.version, x.id]));
    // Separate HTTP requests (the typed client would batch calls made in one tick into one).
    const answers = await Promise.all(
      made.map(async (x) => {
        const res = await fetch(`${svc.url}/trpc/models.setAlias`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
          body: JSON.stringify({ modelId: x.id, alias: 'production' }),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { result: { data: { version: number; previousVersion: number | null } } }).result.data;
      }),
    );

    const holders = await svc.deps.database.db
      .select()
      .from(modelAliases)
      .where(and(eq(modelAliases.workspaceId, ownerWorkspace), eq(modelAliases.family, 'race'), eq(modelAliases.alias, 'production')));
    expect(holders).toHaveLength(1);
    const holder = holders[0]!.artifactId;

    // Every call moved it (20 different models), so 20 events; in the order recorded, each starts where
    // the one before ended, from nothing to the holder.
    const history = await events(ownerWorkspace, 'race');
    expect(history).toHaveLength(20);
    expect(history.every((e) => e.action === 'set' && e.alias === 'production')).toBe(true);
    expect(history[0]!.previousVersion).toBeNull();
    for (let i = 1; i < history.length; i++) expect(history[i]!.previousVersion).toBe(history[i - 1]!.version);
    expect(byVersion.get(history[19]!.version)).toBe(holder);
    expect(new Set(history.map((e) => e.version)).size).toBe(20);
    // Each caller was told the move it made.
    const told = answers.map((a) => `${a.previousVersion}->${a.version}`).sort();
    expect(told).toEqual(history.map((e) => `${e.previousVersion}->${e.version}`).sort());
    // And the API agrees on the holder.
    const versions = await owner.api.models.versions.query({ family: 'race' });
    expect(versions.filter((v) => v.aliases.includes('production')).map((v) => v.id)).toEqual([holder]);
    expect((await owner.api.models.resolve.query({ family: 'race', alias: 'production' })).id).toBe(holder);
  }, 30_000);
});

describe('a large family', () => {
  // Its speed is measured by `bun run bench` (registry); here only that it comes back whole and in order.
  test('models.versions returns a family of 1,000 versions, newest first', async () => {
    const datasetId = (await insertDataset(svc.deps, owner.userId)).id;
    const N = 1000;
    await seedFamily(svc.deps, { workspaceId: ownerWorkspace, userId: owner.userId, datasetId, family: 'thousand', versions: N });
    const all = await owner.api.models.versions.query({ family: 'thousand' });
    expect(all).toHaveLength(N);
    expect(all.map((v) => v.version)).toEqual(Array.from({ length: N }, (_, i) => N - i));
  }, 60_000);
});
