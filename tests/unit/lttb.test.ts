import { describe, expect, test } from 'bun:test';
import { downsampleLossCurve, lttb } from '../../server/models/lttb.ts';
import type { LossPoint } from '../../server/vocabulary.ts';
import { lossCurve } from '../fixtures/lora.ts';

type P = { x: number; y: number };
const X = (p: P) => p.x;
const Y = (p: P) => p.y;
const line = (n: number, f: (i: number) => number = (i) => i): P[] => Array.from({ length: n }, (_, i) => ({ x: i, y: f(i) }));

describe('lttb', () => {
  test.each([0, 1, 2, 5, 10])('returns the input itself when length %i <= threshold 10', (n) => {
    const points = line(n);
    expect(lttb(points, 10, X, Y)).toBe(points);
  });

  test.each([3, 7, 100, 999])('output has exactly threshold %i points, first and last kept, in order', (threshold) => {
    const points = line(1000, (i) => Math.sin(i / 10));
    const out = lttb(points, threshold, X, Y);
    expect(out.length).toBe(threshold);
    expect(out[0]).toBe(points[0]!);
    expect(out.at(-1)).toBe(points.at(-1)!);
    for (let i = 1; i < out.length; i++) expect(out[i]!.x).toBeGreaterThan(out[i - 1]!.x);
  });

  test('thresholds below 3 keep only endpoints; invalid thresholds throw', () => {
    const points = line(10);
    expect(lttb(points, 2, X, Y)).toEqual([points[0]!, points[9]!]);
    expect(lttb(points, 1, X, Y)).toEqual([points[0]!]);
    expect(lttb(points, 0, X, Y)).toEqual([]);
    expect(() => lttb(points, Number.NaN, X, Y)).toThrow(RangeError);
    expect(() => lttb(points, -1, X, Y)).toThrow(RangeError);
  });

  test('keeps the spikes and the extremes of a 1,000,000-point noisy curve', () => {
    const curve = lossCurve({ steps: 1_000_000, evalEvery: 1_000_000, seed: 11, noise: 0.05 });
    const points = curve.map((p) => ({ x: p.step, y: p.trainingLoss }));
    points[123_456]!.y = 25; // a loss spike
    points[654_321]!.y = 0.001; // a dip far below the noise band
    points[987_654]!.y = 12;

    const started = performance.now();
    const out = lttb(points, 500, X, Y);
    const elapsed = performance.now() - started;

    expect(out.length).toBe(500);
    expect(out).toContain(points[123_456]!);
    expect(out).toContain(points[654_321]!);
    expect(out).toContain(points[987_654]!);
    expect(out[0]).toBe(points[0]!);
    expect(out.at(-1)).toBe(points.at(-1)!);
    // The shape survives: the downsampled curve starts high and ends low like the original.
    expect(out[1]!.y).toBeGreaterThan(2);
    expect(out[out.length - 2]!.y).toBeLessThan(1.2);
    expect(elapsed).toBeLessThan(2000); // O(n): typically ~20 ms
  });
});

describe('downsampleLossCurve', () => {
  const pt = (step: number, trainingLoss: number | null, validationLoss: number | null = null): LossPoint => ({ step, trainingLoss, validationLoss });

  test('small curves come back merged and sorted, nulls where a series has no point', () => {
    const out = downsampleLossCurve([pt(3, 1.0, 1.1), pt(1, 2.0), pt(2, 1.5)]);
    expect(out).toEqual([pt(1, 2.0), pt(2, 1.5), pt(3, 1.0, 1.1)]);
  });

  test('skips null and non-finite values per series', () => {
    const out = downsampleLossCurve([pt(1, Number.NaN, 2.0), pt(2, 1.5, Number.POSITIVE_INFINITY), pt(3, null, null), pt(4, 1.0)]);
    expect(out).toEqual([pt(1, null, 2.0), pt(2, 1.5), pt(4, 1.0)]);
  });

  test('repeated steps: the later report wins', () => {
    expect(downsampleLossCurve([pt(1, 2.0), pt(1, 1.9), pt(2, 1.0)])).toEqual([pt(1, 1.9), pt(2, 1.0)]);
  });

  test('each series is downsampled separately to at most maxPerSeries points', () => {
    const curve = lossCurve({ steps: 200_000, evalEvery: 50, seed: 2 });
    const out = downsampleLossCurve(curve, 300);
    const training = out.filter((p) => p.trainingLoss !== null);
    const validation = out.filter((p) => p.validationLoss !== null);
    expect(training.length).toBe(300);
    expect(validation.length).toBe(300);
    expect(out.length).toBeLessThanOrEqual(600);
    for (let i = 1; i < out.length; i++) expect(out[i]!.step).toBeGreaterThan(out[i - 1]!.step);
    expect(out[0]!.step).toBe(1);
    expect(out.at(-1)!.step).toBe(200_000);
    expect(validation[0]!.step).toBe(50);
    // The values are the original ones, not averages.
    const byStep = new Map(curve.map((p) => [p.step, p]));
    for (const p of out) {
      if (p.trainingLoss !== null) expect(p.trainingLoss).toBe(byStep.get(p.step)!.trainingLoss);
      if (p.validationLoss !== null) expect(p.validationLoss).toBe(byStep.get(p.step)!.validationLoss!);
    }
  });

  test('sparse validation is not starved by dense training points', () => {
    const curve = lossCurve({ steps: 10_000, evalEvery: 500, seed: 4 });
    const out = downsampleLossCurve(curve, 100);
    expect(out.filter((p) => p.validationLoss !== null).length).toBe(20);
    expect(out.filter((p) => p.trainingLoss !== null).length).toBe(100);
  });
});
