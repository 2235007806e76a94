// models.compare: two to four models aligned in the order asked, their cards as models.get shapes them, and
// the differences of their configurations; refused inputs name their field; reach is the caller's workspaces.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { modelArtifacts, workspaceMembers, type AdapterInfo } from '../../db/schema/index.ts';
import { insertArtifact, personalWorkspaceOf, sampleJobConfig } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { errorOf, fieldsOf } from '../helpers/trpc-errors.ts';

let svc: TestService;
let owner: Awaited<ReturnType<typeof newUser>>;
/** The owner's session: it reaches every workspace the owner is in (their token reaches the personal one only). */
let web: ReturnType<typeof client>;
let viewer: Awaited<ReturnType<typeof newUser>>;
let teamId: string;
/** In the team: a, b, c differ as set below; long has a 1,200-point curve; trashed is in the trash. */
const ids = { a: '', b: '', c: '', long: '', trashed: '', personal: '', stranger: '' };

const adapter = (rank: number, targetModules: string[]): AdapterInfo => ({
  baseModel: 'Qwen/Qwen2.5-0.5B',
  rank,
  alpha: 16,
  targetModules,
  dtype: 'bfloat16',
  parameterCount: rank * 1000,
});

async function setConfig(id: string, set: Partial<typeof modelArtifacts.$inferInsert>) {
  await svc.deps.database.db.update(modelArtifacts).set(set).where(eq(modelArtifacts.id, id));
}

beforeAll(async () => {
  svc = await startTestService({ label: 'compare' });
  [owner, viewer] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'viewer')]);
  web = client(svc.url, { cookie: owner.cookie });
  teamId = (await web.workspaces.create.mutate({ name: 'Team' })).id;
  await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: viewer.userId, role: 'viewer' });
  const stranger = await newUser(svc, 'stranger');
  const make = (family: string, workspaceId: string | undefined, userId = owner.userId) =>
    insertArtifact(svc.deps, userId, { workspaceId, family, qualityScore: 4, files: [{ path: 'adapter_model.safetensors' }] });
  const [a, b, c, long, trashed, personal, theirs] = await Promise.all([
    make('bot', teamId),
    make('bot-b', teamId),
    make('bot-c', teamId),
    make('long', teamId),
    make('gone', teamId),
    make('mine', undefined),
    make('theirs', undefined, stranger.userId),
  ]);
  Object.assign(ids, { a: a.id, b: b.id, c: c.id, long: long.id, trashed: trashed.id, personal: personal.id, stranger: theirs.id });
  await Promise.all([
    setConfig(a.id, {
      hyperparameters: { ...sampleJobConfig, learningRate: 2e-4, schedule: { name: 'cosine', warmup: 10 } },
      gpu: { type: 'A100-80GB', count: 1 },
      adapter: adapter(8, ['q_proj', 'v_proj']),
    }),
    setConfig(b.id, {
      // The same schedule written with its keys in another order: equal (jsonb keeps one order; the compare sorts keys anyway).
      hyperparameters: { ...sampleJobConfig, learningRate: 1e-4, schedule: { warmup: 10, name: 'cosine' } },
      gpu: { type: 'H100', count: 1 },
      // The same target modules in another order: equal (a set).
      adapter: adapter(16, ['v_proj', 'q_proj']),
    }),
    setConfig(c.id, {
      hyperparameters: { ...sampleJobConfig, learningRate: 2e-4, dropout: 0.1 },
      gpu: { type: 'A100-80GB', count: 2 },
      adapter: null,
    }),
    setConfig(long.id, {
      lossCurve: Array.from({ length: 1200 }, (_, i) => ({
        step: i + 1,
        trainingLoss: 2.5 - i / 600 + (i % 7) / 50,
        validationLoss: i % 2 === 0 ? 2.6 - i / 600 : null,
      })),
    }),
    setConfig(trashed.id, { deletedAt: new Date() }),
  ]);
}, 60_000);
afterAll(() => svc?.stop());

describe('the comparison', () => {
  test('models come back aligned in the order asked, each card as models.get shapes it', async () => {
    const out = await web.models.compare.query({ modelIds: [ids.c, ids.a, ids.b] });
    expect(out.models.map((m) => m.id)).toEqual([ids.c, ids.a, ids.b]);
    for (const m of out.models) {
      const got = await web.models.get.query({ modelId: m.id });
      expect(m).toEqual({
        id: got.id,
        name: got.name,
        ref: got.ref,
        family: got.family,
        version: got.version,
        createdAt: got.createdAt,
        workspaceId: teamId,
        quality: got.quality,
        trainingSummary: got.trainingSummary,
        adapter: got.adapter,
        lossCurve: got.lossCurve,
      });
    }
    expect(out.models.map((m) => m.ref)).toEqual(['bot-c@v1', 'bot@v1', 'bot-b@v1']);
    // Aligned the other way round too: the order is the caller's, not the database's.
    const reversed = await web.models.compare.query({ modelIds: [ids.b, ids.a, ids.c] });
    expect(reversed.models.map((m) => m.id)).toEqual([ids.b, ids.a, ids.c]);
    expect(reversed.hyperparameters.rows.find((r) => r.key === 'learningRate')!.values).toEqual([1e-4, 2e-4, 2e-4]);
  });

  test('the diff holds only the keys whose values differ, GPU included, values aligned and null when absent', async () => {
    const { hyperparameters, adapterDiff } = await web.models.compare.query({ modelIds: [ids.a, ids.b, ids.c] });
    expect(hyperparameters.rows).toEqual([
      { key: 'dropout', values: [null, null, 0.1], differs: true },
      { key: 'learningRate', values: [2e-4, 1e-4, 2e-4], differs: true },
      {
        key: 'schedule',
        values: [{ name: 'cosine', warmup: 10 }, { name: 'cosine', warmup: 10 }, null],
        differs: true,
      },
      { key: 'gpu.type', values: ['A100-80GB', 'H100', 'A100-80GB'], differs: true },
      { key: 'gpu.count', values: [1, 1, 2], differs: true },
    ]);
    // Every key any of them has, so a client can offer the rest.
    expect(hyperparameters.keys).toEqual([
      'baseModel',
      'batchSize',
      'dropout',
      'epochs',
      'learningRate',
      'loraAlpha',
      'loraRank',
      'schedule',
      'gpu.type',
      'gpu.count',
    ]);
    // c has no adapter: every adapter field differs from the others' (null).
    expect(adapterDiff.rows.map((r) => r.key)).toEqual(['baseModel', 'rank', 'alpha', 'targetModules', 'dtype']);
  });

  test('equal values in another key order or module order are not differences; the adapter diff names rank only', async () => {
    const { hyperparameters, adapterDiff } = await web.models.compare.query({ modelIds: [ids.a, ids.b] });
    expect(hyperparameters.rows.map((r) => r.key)).toEqual(['learningRate', 'gpu.type']);
    expect(adapterDiff).toEqual({
      keys: ['baseModel', 'rank', 'alpha', 'targetModules', 'dtype'],
      rows: [{ key: 'rank', values: [8, 16], differs: true }],
    });
  });

  test('allHyperparameters: every key, the equal ones marked differs: false', async () => {
    const { hyperparameters, adapterDiff } = await web.models.compare.query({ modelIds: [ids.a, ids.b], allHyperparameters: true });
    expect(hyperparameters.rows.map((r) => r.key)).toEqual(hyperparameters.keys);
    expect(hyperparameters.rows.find((r) => r.key === 'loraRank')).toEqual({ key: 'loraRank', values: [8, 8], differs: false });
    expect(hyperparameters.rows.find((r) => r.key === 'gpu.count')).toEqual({ key: 'gpu.count', values: [1, 1], differs: false });
    expect(hyperparameters.rows.filter((r) => r.differs).map((r) => r.key)).toEqual(['learningRate', 'gpu.type']);
    expect(adapterDiff.rows.find((r) => r.key === 'targetModules')).toEqual({
      key: 'targetModules',
      values: [
        ['q_proj', 'v_proj'],
        ['q_proj', 'v_proj'],
      ],
      differs: false,
    });
  });

  test('a loss curve holds at most 500 points a series, its first and last steps kept', async () => {
    const stored = await web.models.get.query({ modelId: ids.long });
    expect(stored.lossCurve).toHaveLength(1200); // stored without the ingest's downsampling, so the bound is the compare's
    const { models } = await web.models.compare.query({ modelIds: [ids.a, ids.long] });
    const curve = models[1]!.lossCurve;
    expect(curve.filter((p) => p.trainingLoss !== null).length).toBeLessThanOrEqual(500);
    expect(curve.filter((p) => p.validationLoss !== null).length).toBeLessThanOrEqual(500);
    expect(curve.filter((p) => p.trainingLoss !== null).length).toBeGreaterThan(400);
    expect(curve[0]!.step).toBe(1);
    expect(curve.at(-1)!.step).toBe(1200);
  });

  test('models of several of the caller’s workspaces compare together', async () => {
    const out = await web.models.compare.query({ modelIds: [ids.personal, ids.a] });
    expect(out.models.map((m) => m.workspaceId)).toEqual([await personalWorkspaceOf(svc.deps, owner.userId), teamId]);
  });
});

describe('refused', () => {
  test('more than 4, fewer than 2, a repeated id (in any case): BAD_REQUEST naming modelIds', async () => {
    const five = [ids.a, ids.b, ids.c, ids.long, ids.personal];
    for (const modelIds of [five, [ids.a], [ids.a, ids.a], [ids.a, ids.a.toUpperCase()]]) {
      const err = await errorOf(web.models.compare.query({ modelIds }));
      expect(err.data?.code).toBe('BAD_REQUEST');
      expect(fieldsOf(err)).toEqual(['modelIds']);
    }
  });

  test('a model of a workspace the caller is not in, one that does not exist, one in the trash: NOT_FOUND', async () => {
    for (const other of [ids.stranger, crypto.randomUUID(), ids.trashed]) {
      const err = await errorOf(web.models.compare.query({ modelIds: [ids.a, other] }));
      expect(err.data?.code).toBe('NOT_FOUND');
    }
    // The trashed one is found once it is live again: the refusal above was the trash, not the id.
    await setConfig(ids.trashed, { deletedAt: null });
    expect((await web.models.compare.query({ modelIds: [ids.a, ids.trashed] })).models).toHaveLength(2);
    await setConfig(ids.trashed, { deletedAt: new Date() });
  });

  test('a token reaches its own workspace only: a personal token cannot compare the team’s models', async () => {
    const err = await errorOf(owner.api.models.compare.query({ modelIds: [ids.a, ids.b] }));
    expect(err.data?.code).toBe('NOT_FOUND');
    const { token } = await web.tokens.create.mutate({ name: 'team', workspaceId: teamId });
    expect((await client(svc.url, { token }).models.compare.query({ modelIds: [ids.a, ids.b] })).models).toHaveLength(2);
  });
});

describe('roles', () => {
  test('a viewer may compare; so may a read-only token', async () => {
    const viewerWeb = client(svc.url, { cookie: viewer.cookie });
    expect((await viewerWeb.models.compare.query({ modelIds: [ids.a, ids.b] })).models.map((m) => m.id)).toEqual([ids.a, ids.b]);
    const { token } = await web.tokens.create.mutate({ name: 'read', workspaceId: teamId, scope: 'read' });
    expect((await client(svc.url, { token }).models.compare.query({ modelIds: [ids.a, ids.c] })).models).toHaveLength(2);
    // Membership of the team reaches the team's models only.
    expect((await errorOf(viewerWeb.models.compare.query({ modelIds: [ids.a, ids.personal] }))).data?.code).toBe('NOT_FOUND');
  });
});
