/**
 * Largest-Triangle-Three-Buckets downsampling (Steinarsson, 2013) for loss-curve charts: a run can report
 * a million points, a chart needs a few hundred, and LTTB keeps the visual shape (spikes included) where
 * plain striding would drop them.
 */
import type { LossPoint } from '../vocabulary.ts';

/**
 * Downsamples `points` (sorted by x ascending, with finite x and y) to at most `threshold` points,
 * always keeping the first and the last. Returns `points` itself (not a copy) when
 * `points.length <= threshold`. A threshold below 3 keeps only the endpoints (or the first point for 1).
 * O(n): x and y are read once each into typed arrays.
 */
export function lttb<T>(points: readonly T[], threshold: number, x: (p: T) => number, y: (p: T) => number): T[] {
  const n = points.length;
  const target = Math.floor(threshold);
  if (!(target >= 0)) throw new RangeError(`lttb: threshold must be a non-negative number, got ${threshold}`);
  if (n <= target) return points as T[];
  if (target === 0) return [];
  if (target === 1) return [points[0]!];
  if (target === 2) return [points[0]!, points[n - 1]!];

  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = x(points[i]!);
    ys[i] = y(points[i]!);
  }

  const out: T[] = [points[0]!];
  // The first and last points are fixed; the n − 2 in between share target − 2 buckets.
  const bucketSize = (n - 2) / (target - 2);
  let a = 0; // index of the point chosen in the previous bucket

  for (let b = 0; b < target - 2; b++) {
    const start = Math.floor(b * bucketSize) + 1;
    // Exclusive; the last bucket is pinned to n − 1 so floating-point error cannot drop point n − 2.
    const end = b === target - 3 ? n - 1 : Math.floor((b + 1) * bucketSize) + 1;

    // The third triangle corner: the average of the next bucket (or the last point for the final bucket).
    const nextStart = end;
    const nextEnd = Math.min(Math.floor((b + 2) * bucketSize) + 1, n);
    let avgX = 0;
    let avgY = 0;
    if (nextStart >= n - 1 || nextEnd <= nextStart) {
      avgX = xs[n - 1]!;
      avgY = ys[n - 1]!;
    } else {
      for (let i = nextStart; i < nextEnd; i++) {
        avgX += xs[i]!;
        avgY += ys[i]!;
      }
      avgX /= nextEnd - nextStart;
      avgY /= nextEnd - nextStart;
    }

    const ax = xs[a]!;
    const ay = ys[a]!;
    let maxArea = -1;
    let chosen = start;
    for (let i = start; i < end; i++) {
      // Twice the triangle area; the factor does not change which point wins.
      const area = Math.abs((ax - avgX) * (ys[i]! - ay) - (ax - xs[i]!) * (avgY - ay));
      if (area > maxArea) {
        maxArea = area;
        chosen = i;
      }
    }
    out.push(points[chosen]!);
    a = chosen;
  }

  out.push(points[n - 1]!);
  return out;
}

/**
 * Downsamples the training and validation series of a loss curve separately (validation points are
 * sparse, so sharing buckets with training would starve them) to at most `maxPerSeries` points each, and
 * merges them by step into one array sorted by step. Null and non-finite values are left out of their
 * series: a chart cannot draw them. Points may arrive in any order; for a repeated step the later one wins.
 */
export function downsampleLossCurve(points: readonly LossPoint[], maxPerSeries = 500): LossPoint[] {
  const training: { step: number; value: number }[] = [];
  const validation: { step: number; value: number }[] = [];
  for (const p of points) {
    if (p.trainingLoss !== null && Number.isFinite(p.trainingLoss)) training.push({ step: p.step, value: p.trainingLoss });
    if (p.validationLoss !== null && Number.isFinite(p.validationLoss)) {
      validation.push({ step: p.step, value: p.validationLoss });
    }
  }

  const merged = new Map<number, LossPoint>();
  const add = (series: { step: number; value: number }[], key: 'trainingLoss' | 'validationLoss') => {
    const kept = lttb(
      dedupeSorted(series),
      maxPerSeries,
      (p) => p.step,
      (p) => p.value,
    );
    for (const p of kept) {
      const row = merged.get(p.step) ?? { step: p.step, trainingLoss: null, validationLoss: null };
      row[key] = p.value;
      merged.set(p.step, row);
    }
  };
  add(training, 'trainingLoss');
  add(validation, 'validationLoss');

  return [...merged.values()].sort((a, b) => a.step - b.step);
}

/** Sorts by step (stable) and keeps the last point of each repeated step. */
function dedupeSorted(series: { step: number; value: number }[]): { step: number; value: number }[] {
  let sorted = true;
  for (let i = 1; i < series.length && sorted; i++) sorted = series[i - 1]!.step <= series[i]!.step;
  if (!sorted) series.sort((a, b) => a.step - b.step);
  const out: { step: number; value: number }[] = [];
  for (const p of series) {
    if (out.length > 0 && out[out.length - 1]!.step === p.step) out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}
