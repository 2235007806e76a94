import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createDatabase, type Database } from '../../db/client.ts';
import { datasets, metricsPoints, trainingJobs, users } from '../../db/schema/index.ts';
import { lossCurve as curveSql, lossStats } from '../../server/quality/queries.ts';
import { lossStatsFromPoints } from '../../server/quality/score.ts';
import type { LossPoint } from '../../server/vocabulary.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { sampleJobConfig } from '../helpers/factories.ts';

let database: Database;
let userId: string;
let datasetId: string;
beforeAll(async () => {
  database = createDatabase(await createTestDatabase('scoring'));
  userId = 'u-scoring';
  await database.db.insert(users).values({ id: userId, name: 'S', email: 's@example.com' });
  [{ id: datasetId }] = (await database.db.insert(datasets).values({ userId, name: 'd' }).returning({ id: datasets.id })) as [{ id: string }];
});
afterAll(() => database?.close());

async function jobWith(points: LossPoint[]) {
  const [job] = await database.db
    .insert(trainingJobs)
    .values({ userId, datasetId, name: 'j', config: sampleJobConfig, gpu: { type: 'x', count: 1 }, workerTokenHash: crypto.randomUUID() })
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
});
