import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import type { LossPoint } from '../vocabulary.ts';
import { downsampleLossCurve } from '../models/lttb.ts';
import type { LossStats } from './score.ts';

type Queryable = Db | Tx;

const finite = (col: string) => sql.raw(`${col} is not null and ${col} <> 'NaN'::float8 and ${col} not in ('Infinity'::float8, '-Infinity'::float8)`);

/**
 * The figures scoring needs, without reading the points: the counts are sums over the job's curve buckets
 * (at most 4,096 rows, kept by a trigger as points arrive; see metrics_curve_buckets), and each
 * "first/last" is an index lookup on the (job_id, step) primary key.
 */
export async function lossStats(db: Queryable, jobId: string): Promise<LossStats> {
  const rows = await db.execute<{
    point_count: string;
    finite_training_count: string;
    initial_loss: number | null;
    final_training_loss: number | null;
    final_validation_loss: number | null;
  }>(sql`
    select
      c.point_count, c.finite_training_count,
      (select training_loss from metrics_points where job_id = ${jobId} and ${finite('training_loss')} order by step asc limit 1) as initial_loss,
      (select training_loss from metrics_points where job_id = ${jobId} and training_loss is not null order by step desc limit 1) as final_training_loss,
      (select validation_loss from metrics_points where job_id = ${jobId} and validation_loss is not null order by step desc limit 1) as final_validation_loss
    from (select coalesce(sum(points), 0) as point_count, coalesce(sum(finite_training), 0) as finite_training_count
          from metrics_curve_buckets where job_id = ${jobId}) c`);
  const r = rows[0]!;
  return {
    pointCount: Number(r.point_count),
    finiteTrainingCount: Number(r.finite_training_count),
    initialLoss: r.initial_loss === null ? null : Number(r.initial_loss),
    finalTrainingLoss: r.final_training_loss === null ? null : Number(r.final_training_loss),
    finalValidationLoss: r.final_validation_loss === null ? null : Number(r.final_validation_loss),
  };
}

/** Below this many points the whole curve is read and downsampled in memory. */
const IN_MEMORY_LIMIT = 50_000;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The loss curve for charts: at most `maxPerSeries` points per series, shape preserved (LTTB). Long
 * runs are read already reduced: the first, last, lowest and highest point of each of 2,048 to 4,096 step
 * buckets, kept by a trigger while the points arrived (metrics_curve_buckets), so spikes survive, memory
 * stays flat, and ingest reads a few thousand rows instead of scanning every point.
 */
export async function lossCurve(db: Queryable, jobId: string, pointCount: number, maxPerSeries = 500): Promise<LossPoint[]> {
  if (pointCount <= IN_MEMORY_LIMIT) {
    const rows = await db.execute<{ step: number; t: number | null; v: number | null }>(
      sql`select step, training_loss as t, validation_loss as v from metrics_points where job_id = ${jobId} order by step`,
    );
    return downsampleLossCurve(
      rows.map((r) => ({ step: r.step, trainingLoss: num(r.t), validationLoss: num(r.v) })),
      maxPerSeries,
    );
  }
  // One JSON value rather than 4,096 rows of eight float8[] columns: the driver parses array literals character by
  // character (about 30 ms here), JSON.parse is native (float8 prints as its shortest exact decimal, so no value moves).
  type Pair = [number, number] | null;
  const [row] = await db.execute<{ buckets: [Pair, Pair, Pair, Pair, Pair, Pair, Pair, Pair][] | null }>(sql`
    select json_agg(json_build_array(training_first, training_last, training_min, training_max,
      validation_first, validation_last, validation_min, validation_max)) as buckets
    from metrics_curve_buckets where job_id = ${jobId}`);
  const byStep = new Map<number, LossPoint>();
  const put = (step: number, series: 'trainingLoss' | 'validationLoss', value: number) => {
    const p = byStep.get(step) ?? { step, trainingLoss: null, validationLoss: null };
    p[series] = value;
    byStep.set(step, p);
  };
  // First/last are [step, value]; lowest/highest are [value, step] (see metrics_curve_buckets).
  for (const [tFirst, tLast, tMin, tMax, vFirst, vLast, vMin, vMax] of row?.buckets ?? []) {
    for (const pair of [tFirst, tLast]) if (pair) put(pair[0], 'trainingLoss', pair[1]);
    for (const pair of [tMin, tMax]) if (pair) put(pair[1], 'trainingLoss', pair[0]);
    for (const pair of [vFirst, vLast]) if (pair) put(pair[0], 'validationLoss', pair[1]);
    for (const pair of [vMin, vMax]) if (pair) put(pair[1], 'validationLoss', pair[0]);
  }
  return downsampleLossCurve(
    [...byStep.values()].sort((a, b) => a.step - b.step),
    maxPerSeries,
  );
}

/**
 * For each step, the nearest validation point at or before it (one index lookup each on the
 * (job_id, step) key): all that ranking checkpoints needs, not the whole curve.
 */
export async function validationPointsAtOrBefore(db: Queryable, jobId: string, steps: readonly number[]): Promise<LossPoint[]> {
  const points: LossPoint[] = [];
  for (const step of steps) {
    const rows = await db.execute<{ step: number; v: number }>(
      sql`select step, validation_loss as v from metrics_points where job_id = ${jobId} and step <= ${step} and validation_loss is not null order by step desc limit 1`,
    );
    if (rows[0]) points.push({ step: rows[0].step, trainingLoss: null, validationLoss: Number(rows[0].v) });
  }
  return points;
}
