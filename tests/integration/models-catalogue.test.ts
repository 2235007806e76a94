// models.list and models.get: defaults, both sorts, keyset and offset paging, filters, and the detail view.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../server/trpc/root.ts';
import { CONVERGENCE_LABELS } from '../../server/vocabulary.ts';
import { insertArtifact, insertDataset, microsToIso, sampleJobConfig, type InsertedArtifact } from '../helpers/factories.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

type User = Awaited<ReturnType<typeof newUser>>;
type Sort = 'recent' | 'quality';

const N = 40;
const BASE = 1_735_689_600_000_000n; // 2025-01-01T00:00:00Z in microseconds
const SCORES = [5, 4, null, 3, 5, 2, 1, 4, null, 3] as const;
const CONVERGENCE = [...CONVERGENCE_LABELS, null] as const;
const SPECIAL_NAMES: Record<number, string> = { 3: 'pct100%done', 4: 'pct100-done', 5: 'back\\slash', 7: 'under_score', 11: 'UnderXscore' };

/** The first 20 come in pairs sharing one created_at (a minute apart); the rest are 7 µs apart. */
function createdAtOf(i: number): bigint {
  return i < 20 ? BASE + BigInt(Math.floor(i / 2)) * 60_000_000n : BASE + 20n * 60_000_000n + BigInt(i - 20) * 7n;
}

let svc: TestService;
let a: User;
let b: User;
let ds1: { id: string; name: string };
let ds2: { id: string; name: string };
let dsB: { id: string; name: string };
let models: InsertedArtifact[] = [];

function byRecent(x: InsertedArtifact, y: InsertedArtifact): number {
  if (x.createdAtMicros !== y.createdAtMicros) return x.createdAtMicros > y.createdAtMicros ? -1 : 1;
  return x.id > y.id ? -1 : x.id < y.id ? 1 : 0;
}
function byQuality(x: InsertedArtifact, y: InsertedArtifact): number {
  const d = (y.qualityScore ?? 0) - (x.qualityScore ?? 0);
  return d !== 0 ? d : byRecent(x, y);
}
const expected = (sort: Sort, keep: (m: InsertedArtifact) => boolean = () => true) =>
  models
    .filter(keep)
    .sort(sort === 'quality' ? byQuality : byRecent)
    .map((m) => m.id);

/** The input's object form (the procedure also takes none: `void | undefined` in the client's signature). */
type ListInput = Extract<Parameters<User['api']['models']['list']['query']>[0], object>;

/** Follows nextCursor to the end; returns every id in order, and fails on a repeat. */
async function walk(user: User, input: ListInput): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const page = await user.api.models.list.query({ ...input, cursor });
    ids.push(...page.models.map((m) => m.id));
    if (!page.nextCursor) break;
    expect(page.models).toHaveLength(input.limit ?? 12);
    cursor = page.nextCursor;
  }
  expect(new Set(ids).size).toBe(ids.length);
  return ids;
}

beforeAll(async () => {
  svc = await startTestService({ label: 'catalogue' });
  [a, b] = await Promise.all([newUser(svc, 'cat-a'), newUser(svc, 'cat-b')]);
  ds1 = await insertDataset(svc.deps, a.userId, 'alpha-set');
  ds2 = await insertDataset(svc.deps, a.userId, 'beta-set');
  dsB = await insertDataset(svc.deps, b.userId, 'other-user-set');
  models = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      insertArtifact(svc.deps, a.userId, {
        name: SPECIAL_NAMES[i] ?? `model-${String(i).padStart(2, '0')}`,
        datasetId: i % 3 === 0 ? ds2.id : ds1.id,
        qualityScore: SCORES[i % SCORES.length]!,
        convergence: CONVERGENCE[i % CONVERGENCE.length]!,
        createdAtMicros: createdAtOf(i),
      }),
    ),
  );
  // Another user's models, newer and better than all of A's: they must never appear.
  for (let i = 0; i < 3; i++) {
    await insertArtifact(svc.deps, b.userId, { name: `pct100%done-b${i}`, datasetId: dsB.id, qualityScore: 5, createdAtMicros: BASE * 2n });
  }
}, 60_000);
afterAll(() => svc?.stop());

describe('models.list', () => {
  test('defaults: page 1, limit 12, recent first, total and totalPages', async () => {
    const res = await a.api.models.list.query();
    expect(res.pagination).toEqual({ page: 1, limit: 12, total: N, totalPages: Math.ceil(N / 12) });
    expect(res.models.map((m) => m.id)).toEqual(expected('recent').slice(0, 12));
    expect(res.nextCursor).toBeString();
    expect(await a.api.models.list.query({})).toEqual(res);
  });

  test('summaries carry dataset and job data, and nothing internal', async () => {
    const res = await a.api.models.list.query({ limit: 100 });
    expect(res.models).toHaveLength(N);
    for (const m of res.models) {
      const spec = models.find((x) => x.id === m.id)!;
      const ds = spec.datasetId === ds1.id ? ds1 : ds2;
      expect(Object.keys(m).sort()).toEqual(
        [
          'convergenceQuality',
          'createdAt',
          'dataset',
          'deletedAt',
          'description',
          'family',
          'fit',
          'id',
          'job',
          'name',
          'purgeAfter',
          'qualityScore',
          'ref',
          'tags',
          'totalBytes',
          'totalCost',
          'untrained',
          'version',
        ].sort(),
      );
      expect(m).toMatchObject({
        name: spec.name,
        family: spec.family,
        version: spec.version,
        ref: `${spec.family}@v${spec.version}`,
        description: '',
        tags: [],
        deletedAt: null,
        purgeAfter: null,
        qualityScore: spec.qualityScore,
        convergenceQuality: spec.convergence,
        // Rows made without an ingest carry no fit check or weight health: unknown, and not flagged untrained.
        fit: null,
        untrained: false,
        totalCost: 3.42,
        totalBytes: 0,
        dataset: { id: ds.id, name: ds.name },
        job: { id: spec.jobId, name: spec.jobName },
      });
      expect(m.createdAt).toBe(`${microsToIso(spec.createdAtMicros).slice(0, 23)}Z`);
      expect(m.job.completedAt).toBe(m.createdAt);
    }
  });

  test('sort=quality: score descending (unscored last), ties broken by recency then id', async () => {
    const res = await a.api.models.list.query({ sort: 'quality', limit: 100 });
    expect(res.models.map((m) => m.id)).toEqual(expected('quality'));
    const scores = res.models.map((m) => m.qualityScore ?? 0);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(res.models.at(-1)?.qualityScore).toBeNull();
    // The pairs sharing a created_at really do tie, so the id order is exercised.
    const tied = models.filter((m) => m.createdAtMicros === createdAtOf(0));
    expect(tied).toHaveLength(2);
  });

  for (const sort of ['recent', 'quality'] as const) {
    test(`keyset cursor walks all ${N} models in ${sort} order with no repeats or skips`, async () => {
      for (const limit of [1, 7, 12, 40, 100]) {
        expect(await walk(a, { sort, limit })).toEqual(expected(sort));
      }
    });

    test(`offset pages agree with the cursor in ${sort} order`, async () => {
      const ids: string[] = [];
      for (let page = 1; page <= 6; page++) {
        const res = await a.api.models.list.query({ sort, limit: 7, page });
        expect(res.pagination).toEqual({ page, limit: 7, total: N, totalPages: 6 });
        expect(res.nextCursor === null).toBe(page === 6);
        ids.push(...res.models.map((m) => m.id));
      }
      expect(ids).toEqual(expected(sort));
      expect((await a.api.models.list.query({ sort, limit: 7, page: 7 })).models).toEqual([]);
    });
  }

  test('a cursor with filters keeps the filter; a cursor from the other sort is refused', async () => {
    const keep = (m: InsertedArtifact) => (m.qualityScore ?? 0) >= 3;
    expect(await walk(a, { sort: 'quality', limit: 5, filter: { minScore: 3 } })).toEqual(expected('quality', keep));
    const first = await a.api.models.list.query({ sort: 'recent', limit: 5 });
    const err = await a.api.models.list.query({ sort: 'quality', limit: 5, cursor: first.nextCursor }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<AppRouter>).data?.code).toBe('BAD_REQUEST');
  });

  test('filter: minScore leaves out unscored and lower scores', async () => {
    for (const minScore of [1, 3, 5]) {
      const res = await a.api.models.list.query({ limit: 100, filter: { minScore } });
      const keep = (m: InsertedArtifact) => m.qualityScore !== null && m.qualityScore >= minScore;
      expect(res.models.map((m) => m.id)).toEqual(expected('recent', keep));
      expect(res.pagination.total).toBe(models.filter(keep).length);
    }
  });

  test('filter: convergence', async () => {
    for (const convergence of ['excellent', 'overfit'] as const) {
      const res = await a.api.models.list.query({ limit: 100, filter: { convergence } });
      expect(res.models.map((m) => m.id)).toEqual(expected('recent', (m) => m.convergence === convergence));
      expect(res.models.length).toBeGreaterThan(0);
    }
  });

  test("filter: datasetId (another user's dataset finds nothing)", async () => {
    const res = await a.api.models.list.query({ limit: 100, filter: { datasetId: ds2.id } });
    expect(res.models.map((m) => m.id)).toEqual(expected('recent', (m) => m.datasetId === ds2.id));
    expect(res.models.every((m) => m.dataset.id === ds2.id && m.dataset.name === 'beta-set')).toBe(true);
    const other = await a.api.models.list.query({ filter: { datasetId: dsB.id } });
    expect(other.models).toEqual([]);
    expect(other.pagination.total).toBe(0);
  });

  test('filter: createdAfter / createdBefore are inclusive, to the microsecond', async () => {
    const after = createdAtOf(24);
    const before = createdAtOf(31);
    const res = await a.api.models.list.query({ limit: 100, filter: { createdAfter: microsToIso(after), createdBefore: microsToIso(before) } });
    const keep = (m: InsertedArtifact) => m.createdAtMicros >= after && m.createdAtMicros <= before;
    expect(models.filter(keep)).toHaveLength(8);
    expect(res.models.map((m) => m.id)).toEqual(expected('recent', keep));
    // An offset form of the same instant means the same thing.
    const plusTwo = microsToIso(createdAtOf(10))
      .replace(/^2025-01-01T00/, '2025-01-01T02')
      .replace(/Z$/, '+02:00');
    const res2 = await a.api.models.list.query({ limit: 100, filter: { createdBefore: plusTwo } });
    expect(res2.models.map((m) => m.id)).toEqual(expected('recent', (m) => m.createdAtMicros <= createdAtOf(10)));
  });

  test('filter: search is a case-insensitive substring with % _ and \\ taken literally', async () => {
    const names = async (search: string) => (await a.api.models.list.query({ limit: 100, filter: { search } })).models.map((m) => m.name).sort();
    expect(await names('100%')).toEqual(['pct100%done']);
    expect(await names('%')).toEqual(['pct100%done']);
    expect(await names('r_s')).toEqual(['under_score']);
    expect(await names('_')).toEqual(['under_score']);
    expect(await names('\\')).toEqual(['back\\slash']);
    expect(await names('UNDER')).toEqual(['UnderXscore', 'under_score']);
    expect(await names('model-0')).toHaveLength(models.filter((m) => m.name.startsWith('model-0')).length);
    expect(await names('no such model')).toEqual([]);
    // Blank after trimming: no filter at all.
    expect((await a.api.models.list.query({ filter: { search: '   ' } })).pagination.total).toBe(N);
  });

  test('filters combine', async () => {
    const res = await a.api.models.list.query({ sort: 'quality', limit: 100, filter: { datasetId: ds1.id, minScore: 4, convergence: 'good' } });
    const keep = (m: InsertedArtifact) => m.datasetId === ds1.id && (m.qualityScore ?? 0) >= 4 && m.convergence === 'good';
    expect(res.models.map((m) => m.id)).toEqual(expected('quality', keep));
  });

  test("another user's list holds only their own models", async () => {
    const res = await b.api.models.list.query({ limit: 100 });
    expect(res.pagination.total).toBe(3);
    expect(res.models.every((m) => m.dataset.id === dsB.id)).toBe(true);
  });
});

describe('models.get', () => {
  test('every detail field of a model', async () => {
    const adapter = {
      baseModel: 'meta-llama/Llama-3.1-8B',
      rank: 16,
      alpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      dtype: 'BF16',
      parameterCount: 13_631_488,
    };
    const lossCurve = [
      { step: 1, trainingLoss: 2.5, validationLoss: null },
      { step: 50, trainingLoss: 1.2, validationLoss: 1.3 },
      { step: 100, trainingLoss: 0.9, validationLoss: 1.0 },
    ];
    const m = await insertArtifact(svc.deps, a.userId, {
      name: 'detail-model',
      datasetId: ds1.id,
      qualityScore: 4,
      convergence: 'good',
      durationSeconds: 9000,
      totalCost: 7.25,
      adapter,
      lossCurve,
      files: [
        { path: 'adapter_model.safetensors', kind: 'adapter_weights', bytes: new Uint8Array(64) },
        { path: 'adapter_config.json', kind: 'adapter_config', bytes: new TextEncoder().encode('{}') },
      ],
    });
    const got = await a.api.models.get.query({ modelId: m.id });
    expect(got).toMatchObject({
      id: m.id,
      name: 'detail-model',
      qualityScore: 4,
      convergenceQuality: 'good',
      totalCost: 7.25,
      totalBytes: 66,
      dataset: { id: ds1.id, name: 'alpha-set' },
      job: { id: m.jobId, name: m.jobName },
      quality: {
        score: 4,
        convergence: 'good',
        lossReductionPct: 61.5,
        initialLoss: 2.4,
        finalTrainingLoss: 0.92,
        finalValidationLoss: 0.97,
        overfitGap: 0.05,
        perplexity: 2.64,
      },
      trainingSummary: { epochsCompleted: 3, totalSteps: 300, durationHours: 2.5, totalCost: 7.25 },
      configuration: {
        hyperparameters: sampleJobConfig,
        gpu: { type: 'A100-80GB', count: 1 },
      },
      adapter,
      lossCurve,
    });
    // Files sorted by path, with exactly the public fields: no storage keys or content types.
    expect(got.files).toEqual(
      [...m.files]
        .sort((x, y) => (x.path < y.path ? -1 : 1))
        .map((f) => ({
          id: f.id,
          path: f.path,
          sizeBytes: f.size,
          sha256: f.sha256,
          kind: f.path.endsWith('.json') ? 'adapter_config' : 'adapter_weights',
          // Inserted by the factory, not sniffed by an ingest.
          format: null,
          mergedModel: false,
        })),
    );
    expect(JSON.stringify(got)).not.toContain(a.userId);
  });

  test('an unscored model without adapter info reads as nulls', async () => {
    const m = await insertArtifact(svc.deps, a.userId, { qualityScore: null, convergence: null, adapter: null });
    const got = await a.api.models.get.query({ modelId: m.id });
    expect(got.qualityScore).toBeNull();
    expect(got.quality.score).toBeNull();
    expect(got.convergenceQuality).toBeNull();
    expect(got.adapter).toBeNull();
    expect(got.files).toEqual([]);
  });

  test('a long real run: lossCurve holds at most 500 points per series, endpoints kept, sorted by step', async () => {
    const run = await runTrainingJob(svc, a.api, { name: 'long-run', steps: 3000 });
    const job = await waitForIngest(a.api, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    const got = await a.api.models.get.query({ modelId: job.artifactId! });
    const training = got.lossCurve.filter((p) => p.trainingLoss !== null);
    const validation = got.lossCurve.filter((p) => p.validationLoss !== null);
    expect(training.length).toBeLessThanOrEqual(500);
    expect(training.length).toBeGreaterThan(400);
    expect(validation.length).toBeLessThanOrEqual(500);
    expect(validation.length).toBe(run.curve.filter((p) => p.validationLoss !== null).length);
    expect(training[0]?.step).toBe(1);
    expect(training.at(-1)?.step).toBe(3000);
    const steps = got.lossCurve.map((p) => p.step);
    expect(steps).toEqual([...steps].sort((x, y) => x - y));
    expect(got.trainingSummary).toEqual({ epochsCompleted: 3, totalSteps: 3000, durationHours: 1.5, totalCost: 3.42 });
    expect(got.configuration.gpu).toEqual({ type: 'A100-80GB', count: 1 });
    expect(got.configuration.hyperparameters).toMatchObject({ loraRank: 8, loraAlpha: 16 });
    expect(got.adapter).toMatchObject({ baseModel: 'Qwen/Qwen2.5-0.5B', rank: 8, alpha: 16 });
    expect(got.files.map((f) => f.path).sort()).toEqual(deliveredPaths(run.files.map((f) => f.path)));
    // The run shows up at the top of the recent list, its adapter checked at ingest: it fits its base and was trained.
    const [top] = (await a.api.models.list.query({ limit: 1 })).models;
    expect(top?.id).toBe(got.id);
    expect(top).toMatchObject({ fit: 'fits', untrained: false });
  }, 30_000);
});
