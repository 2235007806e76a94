import { describe, expect, test } from 'bun:test';
import { bestCheckpoint, type LossStats, lossStatsFromPoints, type Quality, scoreRun } from '../../server/quality/score.ts';
import type { LossPoint } from '../../server/vocabulary.ts';
import { lossCurve } from '../fixtures/lora.ts';

const stats = (
  initialLoss: number | null,
  finalTrainingLoss: number | null,
  finalValidationLoss: number | null = null,
  finiteTrainingCount = 10,
): LossStats => ({
  pointCount: 10,
  finiteTrainingCount,
  initialLoss,
  finalTrainingLoss,
  finalValidationLoss,
});

describe('scoreRun: stars from loss reduction', () => {
  // Initial 20 makes every bound exact in floating point: (20 − 14) × 100 / 20 is exactly 30.
  const cases: [string, number, number, Quality['score'], Quality['convergence']][] = [
    ['just above 50%', 20, 9.99, 5, 'excellent'],
    ['exactly 50%', 20, 10, 4, 'good'],
    ['just above 30%', 20, 13.99, 4, 'good'],
    ['exactly 30%', 20, 14, 3, 'fair'],
    ['just above 15%', 20, 16.99, 3, 'fair'],
    ['exactly 15%', 20, 17, 2, 'poor'],
    ['just above 5%', 20, 18.99, 2, 'poor'],
    ['exactly 5%', 20, 19, 1, 'poor'],
    ['no change', 2, 2, 1, 'poor'],
    ['negative reduction', 2, 3, 1, 'poor'],
    ['to zero loss', 2.4, 0, 5, 'excellent'],
  ];
  test.each(cases)('%s', (_name, initial, final, score, convergence) => {
    const q = scoreRun(stats(initial, final));
    expect(q.score).toBe(score);
    expect(q.convergence).toBe(convergence);
    expect(q.lossReductionPct).toBe(((initial - final) * 100) / initial);
    expect(q.overfitGap).toBeNull();
    expect(q.perplexity).toBeNull();
  });

  test('bounds are exact, not rounded', () => {
    expect(scoreRun(stats(20, 14)).lossReductionPct).toBe(30);
    expect(scoreRun(stats(20, 10)).lossReductionPct).toBe(50);
    expect(scoreRun(stats(2, 3)).lossReductionPct).toBe(-50);
  });
});

describe('scoreRun: overfitting', () => {
  const cases: [string, number, number, number, Quality['score'], Quality['convergence'], number][] = [
    ['gap exactly 0.5 is not overfit', 4, 1, 1.5, 5, 'excellent', 0.5],
    ['gap 0.5001 is overfit, one star less', 4, 1, 1.5001, 4, 'overfit', 0.5001],
    ['validation below training', 4, 1, 0.75, 5, 'excellent', -0.25],
    ['2 stars overfit drops to 1', 20, 18, 19, 1, 'overfit', 1],
    ['1 star overfit stays 1', 20, 19.5, 20.5, 1, 'overfit', 1],
  ];
  test.each(cases)('%s', (_name, initial, final, validation, score, convergence, gap) => {
    const q = scoreRun(stats(initial, final, validation));
    expect(q.score).toBe(score);
    expect(q.convergence).toBe(convergence);
    expect(q.overfitGap).toBeCloseTo(gap, 12);
    expect(q.perplexity).toBe(Math.exp(validation));
    expect(q.finalValidationLoss).toBe(validation);
  });
});

describe('scoreRun: edge cases', () => {
  test('NaN final training loss (diverged) is 1 star poor', () => {
    const q = scoreRun(stats(2.4, Number.NaN, 1.2));
    expect(q).toMatchObject({ score: 1, convergence: 'poor', lossReductionPct: null, finalTrainingLoss: null, overfitGap: null });
    expect(q.perplexity).toBe(Math.exp(1.2));
  });

  test('Infinity final training loss is 1 star poor, even with a single finite point', () => {
    expect(scoreRun(stats(2.4, Number.POSITIVE_INFINITY, null, 1))).toMatchObject({ score: 1, convergence: 'poor' });
  });

  test('one point is not rated', () => {
    const q = scoreRun(stats(2.4, 2.4, 2.5, 1));
    expect(q).toEqual({
      score: null,
      convergence: null,
      lossReductionPct: null,
      initialLoss: 2.4,
      finalTrainingLoss: 2.4,
      finalValidationLoss: 2.5,
      overfitGap: null,
      perplexity: null,
    });
  });

  test('no points is not rated', () => {
    expect(scoreRun(lossStatsFromPoints([]))).toMatchObject({ score: null, convergence: null, initialLoss: null });
  });

  test('no validation: no gap, no perplexity, no overfit check', () => {
    const q = scoreRun(stats(2.4, 0.9));
    expect(q).toMatchObject({ score: 5, convergence: 'excellent', overfitGap: null, perplexity: null, finalValidationLoss: null });
  });

  test.each([
    ['zero', 0, 0],
    ['negative', -1, -2],
  ])('%s initial loss cannot be divided by: 1 star poor', (_name, initial, final) => {
    expect(scoreRun(stats(initial, final))).toMatchObject({ score: 1, convergence: 'poor', lossReductionPct: null });
  });

  test('perplexity overflow is null, not Infinity', () => {
    const q = scoreRun(stats(2000, 700, 800));
    expect(q.perplexity).toBeNull();
    expect(q.convergence).toBe('overfit');
  });

  test('non-finite validation loss counts as none', () => {
    expect(scoreRun(stats(2.4, 0.9, Number.NaN))).toMatchObject({ overfitGap: null, perplexity: null, finalValidationLoss: null, score: 5 });
  });
});

describe('lossStatsFromPoints', () => {
  const p = (step: number, trainingLoss: number | null, validationLoss: number | null = null): LossPoint => ({ step, trainingLoss, validationLoss });

  test('picks initial, final and last validation by step, whatever the order', () => {
    const s = lossStatsFromPoints([p(30, 1.0), p(10, 2.0, 2.1), p(40, 0.8), p(20, 1.5, 1.6), p(35, null, null)]);
    expect(s).toEqual({ pointCount: 5, finiteTrainingCount: 4, initialLoss: 2.0, finalTrainingLoss: 0.8, finalValidationLoss: 1.6 });
  });

  test('a NaN first point is skipped for the initial loss; a NaN last point is the final one', () => {
    const s = lossStatsFromPoints([p(1, Number.NaN), p(2, 2.0), p(3, 1.0), p(4, Number.NaN)]);
    expect(s.initialLoss).toBe(2.0);
    expect(s.finalTrainingLoss).toBeNaN();
    expect(s.finiteTrainingCount).toBe(2);
    expect(scoreRun(s)).toMatchObject({ score: 1, convergence: 'poor' });
  });

  test('repeated steps: the later point wins', () => {
    const s = lossStatsFromPoints([p(1, 3.0), p(1, 2.0), p(5, 1.0, 1.2), p(5, 0.5, 1.1)]);
    expect(s).toMatchObject({ initialLoss: 2.0, finalTrainingLoss: 0.5, finalValidationLoss: 1.1 });
  });

  test('the fixture curves score as designed', () => {
    expect(scoreRun(lossStatsFromPoints(lossCurve({ steps: 2000, seed: 3 })))).toMatchObject({ score: 5, convergence: 'excellent' });
    const overfit = scoreRun(lossStatsFromPoints(lossCurve({ steps: 2000, overfit: true, seed: 3 })));
    expect(overfit.convergence).toBe('overfit');
    expect(overfit.overfitGap).toBeGreaterThan(0.5);
    expect(scoreRun(lossStatsFromPoints(lossCurve({ steps: 2000, diverge: true, seed: 3 })))).toMatchObject({ score: 1, convergence: 'poor' });
  });
});

describe('bestCheckpoint', () => {
  const points: LossPoint[] = [
    { step: 100, trainingLoss: 2, validationLoss: 2.0 },
    { step: 200, trainingLoss: 1.5, validationLoss: 1.2 },
    { step: 250, trainingLoss: 1.4, validationLoss: null },
    { step: 300, trainingLoss: 1.2, validationLoss: 1.4 },
    { step: 400, trainingLoss: 1.0, validationLoss: Number.NaN },
  ];

  test('uses the nearest validation point at or before each checkpoint', () => {
    const best = bestCheckpoint(
      [
        { name: 'checkpoint-300', step: 300 },
        { name: 'checkpoint-250', step: 250 }, // judged by step 200: 1.2
        { name: 'checkpoint-100', step: 100 },
      ],
      points,
    );
    expect(best).toEqual({ name: 'checkpoint-250', step: 250, validationLoss: 1.2 });
  });

  test('ties go to the earlier checkpoint; NaN validation is skipped', () => {
    expect(
      bestCheckpoint(
        [
          { name: 'b', step: 450 },
          { name: 'a', step: 350 },
        ],
        points,
      ),
    ).toEqual({ name: 'a', step: 350, validationLoss: 1.4 });
  });

  test('null when no checkpoint has an earlier validation point', () => {
    expect(
      bestCheckpoint(
        [
          { name: 'early', step: 50 },
          { name: 'unnumbered', step: null },
        ],
        points,
      ),
    ).toBeNull();
    expect(bestCheckpoint([], points)).toBeNull();
    expect(bestCheckpoint([{ name: 'x', step: 500 }], [])).toBeNull();
  });

  test('an overfitting run is best before it overfits', () => {
    const curve = lossCurve({ steps: 1000, evalEvery: 100, overfit: true, seed: 5 });
    const best = bestCheckpoint(
      [500, 1000].map((s) => ({ name: `checkpoint-${s}`, step: s })),
      curve,
    );
    expect(best?.name).toBe('checkpoint-500');
  });
});
