import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import type { LossCurvePoint } from '../../db/schema';
import { downsampleLossCurve } from '../models/lttb';
import type { LossStats } from './score';

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
      (select count(*) from metrics_points where job_id = ${jobId}) as point_count,
      (select count(*) from metrics_points where job_id = ${jobId} and ${finite('training_loss')}) as finite_training_count,
      (select training_loss from metrics_points where job_id = ${jobId} and ${finite('training_loss')} order by step asc limit 1) as initial_loss,
      (select training_loss from metrics_points where job_id = ${jobId} and training_loss is not null order by step desc limit 1) as final_training_loss,
      (select validation_loss from metrics_points where job_id = ${jobId} and validation_loss is not null order by step desc limit 1) as final_validation_loss`);
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
export async function lossCurve(db: Queryable, jobId: string, pointCount: number, maxPerSeries = 500): Promise<LossCurvePoint[]> {
  if (pointCount <= IN_MEMORY_LIMIT) {
    const rows = await db.execute<{ step: number; t: number | null; v: number | null }>(
      sql`select step, training_loss as t, validation_loss as v from metrics_points where job_id = ${jobId} order by step`,
    );
    return downsampleLossCurve(
      rows.map((r) => ({ step: r.step, trainingLoss: num(r.t), validationLoss: num(r.v) })),
      maxPerSeries,
    );
  }
  const rows = await db.execute<{ step: number; t: number | null; v: number | null }>(sql`
    with b as (
      select step, training_loss t, validation_loss v,
        width_bucket(step, (select min(step) from metrics_points where job_id = ${jobId}),
                           (select max(step) + 1 from metrics_points where job_id = ${jobId}), ${BUCKETS}) as k
      from metrics_points where job_id = ${jobId}
    ), agg as (
      select k,
        min(step) as s_first, max(step) as s_last,
        (array_agg(step order by t asc) filter (where ${finite('t')}))[1] as s_tmin,
        (array_agg(step order by t desc) filter (where ${finite('t')}))[1] as s_tmax,
        (array_agg(step order by step) filter (where v is not null))[1] as s_vfirst,
        (array_agg(step order by step desc) filter (where v is not null))[1] as s_vlast,
        (array_agg(step order by v asc) filter (where ${finite('v')}))[1] as s_vmin,
        (array_agg(step order by v desc) filter (where ${finite('v')}))[1] as s_vmax
      from b group by k
    ), picked as (
      select distinct unnest(array[s_first, s_last, s_tmin, s_tmax, s_vfirst, s_vlast, s_vmin, s_vmax]) as step from agg
    )
    select m.step, m.training_loss as t, m.validation_loss as v
    from picked p join metrics_points m on m.job_id = ${jobId} and m.step = p.step
    order by m.step`);
  return downsampleLossCurve(
    rows.map((r) => ({ step: r.step, trainingLoss: num(r.t), validationLoss: num(r.v) })),
    maxPerSeries,
  );
}
