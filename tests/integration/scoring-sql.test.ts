import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { createDatabase, type Database } from '../../db/client.ts';
import { datasets, metricsPoints, trainingJobs, users, workspaces } from '../../db/schema/index.ts';
import { lossCurve as curveSql, lossStats } from '../../server/quality/queries.ts';
import { lossStatsFromPoints } from '../../server/quality/score.ts';
import type { LossPoint } from '../../server/vocabulary.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { sampleJobConfig } from '../helpers/factories.ts';

const finiteSql = (col: string) => `${col} is not null and ${col} <> 'NaN'::float8 and ${col} not in ('Infinity'::float8, '-Infinity'::float8)`;

let database: Database;
let userId: string;
let workspaceId: string;
let datasetId: string;
beforeAll(async () => {
  database = createDatabase(await createTestDatabase('scoring'));
  userId = 'u-scoring';
  await database.db.insert(users).values({ id: userId, name: 'S', email: 's@example.com' });
  [{ id: workspaceId }] = (await database.db
    .insert(workspaces)
    .values({ name: 'S', slug: 's-scoring', personalUserId: userId })
    .returning({ id: workspaces.id })) as [{ id: string }];
  [{ id: datasetId }] = (await database.db.insert(datasets).values({ workspaceId, createdBy: userId, name: 'd' }).returning({ id: datasets.id })) as [
    { id: string },
  ];
});
afterAll(() => database?.close());

async function jobWith(points: LossPoint[]) {
  const [job] = await database.db
    .insert(trainingJobs)
    .values({
      workspaceId,
      createdBy: userId,
      datasetId,
      name: 'j',
      family: 'j',
      config: sampleJobConfig,
      gpu: { type: 'x', count: 1 },
      workerTokenHash: crypto.randomUUID(),
    })
    .returning({ id: trainingJobs.id });
  for (let i = 0; i < points.length; i += 5000) {
    await database.db.insert(metricsPoints).values(points.slice(i, i + 5000).map((p) => ({ jobId: job!.id, ...p })));
  }
  return job!.id;
}

describe('scoring aggregates in SQL match the reference implementation', () => {
  const cases: [string, LossPoint[]][] = [
    ['empty', []],
    ['one point', [{ step: 0, trainingLoss: 2, validationLoss: null }]],
    [
      'healthy run',
      Array.from({ length: 200 }, (_, i) => ({
        step: i * 10,
        trainingLoss: 2.5 * Math.exp(-i / 60) + 0.3,
        validationLoss: i % 20 === 0 ? 2.6 * Math.exp(-i / 70) + 0.4 : null,
      })),
    ],
    [
      'diverged (NaN last), NaN first',
      [
        { step: 0, trainingLoss: NaN, validationLoss: null },
        { step: 1, trainingLoss: 2.0, validationLoss: 2.1 },
        { step: 2, trainingLoss: 1.5, validationLoss: null },
        { step: 3, trainingLoss: NaN, validationLoss: null },
      ],
    ],
    [
      'unordered inserts with infinity',
      [
        { step: 50, trainingLoss: 1.0, validationLoss: 1.8 },
        { step: 10, trainingLoss: 3.0, validationLoss: null },
        { step: 30, trainingLoss: Infinity, validationLoss: null },
      ],
    ],
  ];
  for (const [name, points] of cases) {
    test(name, async () => {
      const jobId = await jobWith(points);
      const fromSql = await lossStats(database.db, jobId);
      const reference = lossStatsFromPoints(points);
      expect(fromSql).toEqual(reference);
    });
  }

  test('a 200,000-point curve is reduced in SQL to at most 500 points a series, keeping its spike', async () => {
    const points = Array.from({ length: 200_000 }, (_, i) => ({
      step: i,
      trainingLoss: i === 123_457 ? 9.5 : 2 * Math.exp(-i / 50_000) + 0.2 + Math.sin(i) * 0.01,
      validationLoss: i % 100 === 0 ? 2.1 * Math.exp(-i / 50_000) + 0.3 : null,
    }));
    const jobId = await jobWith(points);
    const curve = await curveSql(database.db, jobId, points.length);
    expect(curve.filter((p) => p.trainingLoss !== null).length).toBeLessThanOrEqual(500);
    expect(curve.filter((p) => p.validationLoss !== null).length).toBeLessThanOrEqual(500);
    expect(curve.some((p) => p.step === 123_457 && p.trainingLoss === 9.5)).toBe(true);
    expect(curve[0]!.step).toBe(0);
    expect(curve.at(-1)!.step).toBe(199_999);
  }, 60_000);

  test('the buckets kept while points arrive equal a fresh reduction, whatever the order and however often a step is re-reported', async () => {
    const wave = (i: number) => 2 * Math.exp(-i / 20_000) + 0.2 + Math.sin(i) * 0.01;
    const points = Array.from({ length: 60_000 }, (_, i) => ({
      step: i,
      trainingLoss: i === 30_000 ? 9.5 : i === 1_000 ? NaN : wave(i),
      validationLoss: i % 100 === 0 ? wave(i) + 0.1 : null,
    }));
    // Batches in a scrambled order, so the steps' range grows both ways and the buckets widen on the way.
    const batches = Array.from({ length: 12 }, (_, b) => points.slice(b * 5000, (b + 1) * 5000));
    const jobId = await jobWith(batches[5]!);
    for (const b of [11, 0, 7, 3, 9, 1, 10, 2, 8, 4, 6]) await database.db.insert(metricsPoints).values(batches[b]!.map((p) => ({ jobId, ...p })));
    // A re-report: the spike at 30,000 goes (the bucket must forget it), another appears at 31,000, 29,999 becomes Infinity.
    const again = points
      .slice(29_000, 32_000)
      .map((p) => ({ ...p, trainingLoss: p.step === 31_000 ? 7.5 : p.step === 29_999 ? Infinity : wave(p.step) }));
    await database.db
      .insert(metricsPoints)
      .values(again.map((p) => ({ jobId, ...p })))
      .onConflictDoUpdate({ target: [metricsPoints.jobId, metricsPoints.step], set: { trainingLoss: sql`excluded.training_loss` } });
    const final = points.map((p) => again.find((a) => a.step === p.step) ?? p);

    const recomputed = await database.db.execute(
      sql.raw(`
      select step >> (select max(shift) from metrics_curve_buckets where job_id = '${jobId}') as bucket, count(*)::int as points,
        count(*) filter (where ${finiteSql('training_loss')})::int as finite_training,
        min(array[step::float8, training_loss]) filter (where ${finiteSql('training_loss')}) as tf,
        max(array[step::float8, training_loss]) filter (where ${finiteSql('training_loss')}) as tl,
        min(array[training_loss, step::float8]) filter (where ${finiteSql('training_loss')}) as tmin,
        max(array[training_loss, step::float8]) filter (where ${finiteSql('training_loss')}) as tmax,
        min(array[step::float8, validation_loss]) filter (where ${finiteSql('validation_loss')}) as vf,
        max(array[step::float8, validation_loss]) filter (where ${finiteSql('validation_loss')}) as vl,
        min(array[validation_loss, step::float8]) filter (where ${finiteSql('validation_loss')}) as vmin,
        max(array[validation_loss, step::float8]) filter (where ${finiteSql('validation_loss')}) as vmax
      from metrics_points where job_id = '${jobId}' group by 1 order by 1`),
    );
    const kept = await database.db.execute(sql`
      select bucket, points, finite_training, training_first as tf, training_last as tl, training_min as tmin, training_max as tmax,
        validation_first as vf, validation_last as vl, validation_min as vmin, validation_max as vmax
      from metrics_curve_buckets where job_id = ${jobId} order by bucket`);
    expect(kept.length).toBeGreaterThan(2048);
    expect(kept.length).toBeLessThanOrEqual(4096);
    expect([...kept]).toEqual([...recomputed]);

    expect(await lossStats(database.db, jobId)).toEqual(lossStatsFromPoints(final));
    const curve = await curveSql(database.db, jobId, final.length);
    expect(curve.some((p) => p.trainingLoss === 9.5)).toBe(false);
    expect(curve.some((p) => p.step === 31_000 && p.trainingLoss === 7.5)).toBe(true);
    expect(curve.filter((p) => p.trainingLoss !== null).length).toBeLessThanOrEqual(500);
    expect(curve.filter((p) => p.validationLoss !== null).length).toBeLessThanOrEqual(500);
  }, 60_000);
});
