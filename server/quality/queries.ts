import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import type { LossPoint } from '../vocabulary.ts';
import { downsampleLossCurve } from '../models/lttb.ts';
import type { LossStats } from './score.ts';

type Queryable = Db | Tx;

const finite = (col: string) => sql.raw(`${col} is not null and ${col} <> 'NaN'::float8 and ${col} not in ('Infinity'::float8, '-Infinity'::float8)`);

/**
 * The figures scoring needs, aggregated in Postgres: a run of 1,000,000 points is scored without
 * loading them. Each "first/last" is an index lookup on the (job_id, step) primary key.
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
    from (select count(*) as point_count, count(*) filter (where ${finite('training_loss')}) as finite_training_count
          from metrics_points where job_id = ${jobId}) c`);
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
/** Pre-aggregation buckets (M4: first, last, min, max of each) before LTTB picks the final points. */
const BUCKETS = 2_000;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The loss curve for charts: at most `maxPerSeries` points per series, shape preserved (LTTB). Long
 * runs are first reduced in SQL to the first, last, lowest and highest point of each of 2,000 step
 * buckets, so spikes survive and memory stays flat.
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
  // One pass, no sorts: min/max over [x, y] arrays pick the first, last, lowest and highest point of each
  // bucket (arrays compare element by element).
  const rows = await db.execute<Record<'t_first' | 't_last' | 't_min' | 't_max' | 'v_first' | 'v_last' | 'v_min' | 'v_max', number[] | null>>(sql`
    with r as (select min(step) as lo, max(step) + 1 as hi from metrics_points where job_id = ${jobId}),
    b as (
      select m.step::float8 as s, m.training_loss as t, m.validation_loss as v, width_bucket(m.step, r.lo, r.hi, ${BUCKETS}) as k
      from metrics_points m, r where m.job_id = ${jobId}
    )
    select
      min(array[s, t]) filter (where ${finite('t')}) as t_first,
      max(array[s, t]) filter (where ${finite('t')}) as t_last,
      min(array[t, s]) filter (where ${finite('t')}) as t_min,
      max(array[t, s]) filter (where ${finite('t')}) as t_max,
      min(array[s, v]) filter (where ${finite('v')}) as v_first,
      max(array[s, v]) filter (where ${finite('v')}) as v_last,
      min(array[v, s]) filter (where ${finite('v')}) as v_min,
      max(array[v, s]) filter (where ${finite('v')}) as v_max
    from b group by k`);
  const byStep = new Map<number, LossPoint>();
  const put = (step: number, series: 'trainingLoss' | 'validationLoss', value: number) => {
    const p = byStep.get(step) ?? { step, trainingLoss: null, validationLoss: null };
    p[series] = value;
    byStep.set(step, p);
  };
  for (const r of rows) {
    for (const pair of [r.t_first, r.t_last]) if (pair) put(Number(pair[0]), 'trainingLoss', Number(pair[1]));
    for (const pair of [r.t_min, r.t_max]) if (pair) put(Number(pair[1]), 'trainingLoss', Number(pair[0]));
    for (const pair of [r.v_first, r.v_last]) if (pair) put(Number(pair[0]), 'validationLoss', Number(pair[1]));
    for (const pair of [r.v_min, r.v_max]) if (pair) put(Number(pair[1]), 'validationLoss', Number(pair[0]));
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
