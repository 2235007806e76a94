/**
 * Scoring at scale: 1,000,000 metrics points for one job, reported as a trainer does (100 batches of 10,000,
 * shaped like a real decaying loss with an eval every 100 steps), then what ingest runs on it.
 *
 * - Arrival: the trigger that keeps the curve's buckets (metrics_curve_buckets) costs each batch a little;
 *   the anchor is the same batch with that trigger disabled, in the same run.
 * - Ingest: `lossCurve` (the reduction; goal ≤ 300 ms) and `lossStats` + `scoreRun` + `lossCurve` (what the
 *   ingest adds for such a run; goal ≤ 400 ms), against a bare `count(*)` over the same points (the cheapest
 *   possible pass over them) and the previous one-pass SQL reduction over every point (the "before").
 *
 * Measured right after the points arrive (what ingest sees: no VACUUM yet, hint bits unset on the first read)
 * and after VACUUM ANALYZE (steady state). Standalone: `bun tests/bench/scoring.ts`.
 */
import { createDatabase } from '../../db/client.ts';
import { lossCurve, lossStats } from '../../server/quality/queries.ts';
import { scoreRun } from '../../server/quality/score.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { emit, info, median, timed } from './lib.ts';

const BENCH = 'scoring';
const POINTS = 1_000_000;
const BATCH = 10_000;
/** Batches reported with the trigger disabled, for the arrival anchor. */
const ANCHOR_BATCHES = 20;

export async function main() {
  const url = await createTestDatabase('bench_scoring');
  const database = createDatabase(url);
  const { db, client: sql } = database;
  try {
    await sql`insert into users (id, name, email) values ('bench-scoring', 'Bench', 'bench-scoring@example.com')`;
    const [ws] = await sql`insert into workspaces (name, slug, personal_user_id) values ('Bench', 'bench-scoring', 'bench-scoring') returning id`;
    const [ds] = await sql`insert into datasets (workspace_id, created_by, name) values (${ws!.id}, 'bench-scoring', 'ds') returning id`;
    const newJob = async (name: string) => {
      const [job] = await sql`
        insert into training_jobs (workspace_id, created_by, dataset_id, name, family, status, config, gpu, worker_token_hash)
        values (${ws!.id}, 'bench-scoring', ${ds!.id}, ${name}, 'bench', 'completed', '{}'::jsonb, '{"type":"A100-80GB","count":1}'::jsonb, ${`bench-scoring-${name}`})
        returning id`;
      return job!.id as string;
    };
    // One reportMetrics batch, as upsertMetrics writes it (insert … on conflict do update).
    const report = (jobId: string, from: number) => sql`
      insert into metrics_points (job_id, step, epoch, training_loss, validation_loss, learning_rate)
      select ${jobId}::uuid, g, (g / 333334.0)::real,
             0.35 + 2.2 * exp(-g / 150000.0) + 0.05 * (random() - 0.5),
             case when g % 100 = 0 then 0.45 + 2.0 * exp(-g / 150000.0) + 0.02 * random() end,
             2e-4 * 0.5 * (1 + cos(pi() * g / ${POINTS}))
      from generate_series(${from}::int, ${from + BATCH - 1}::int) g
      on conflict (job_id, step) do update set training_loss = excluded.training_loss, validation_loss = excluded.validation_loss`;

    const jobId = await newJob('big-run');
    const anchorJob = await newJob('anchor-run');
    const withTrigger: number[] = [];
    const withoutTrigger: number[] = [];
    const everyNth = POINTS / BATCH / ANCHOR_BATCHES;
    for (let b = 0; b * BATCH < POINTS; b++) {
      withTrigger.push(await timed(() => report(jobId, 1 + b * BATCH)));
      // Interleaved, so that the anchor sees the same machine as the batches it is compared with.
      if (b % everyNth === 0) {
        await sql`alter table metrics_points disable trigger metrics_curve_insert`;
        try {
          withoutTrigger.push(await timed(() => report(anchorJob, 1 + (b / everyNth) * BATCH)));
        } finally {
          await sql`alter table metrics_points enable trigger metrics_curve_insert`;
        }
      }
    }
    emit(BENCH, 'report 1M points in 10k batches (with the curve trigger)', withTrigger.reduce((a, b) => a + b, 0) / 1000, 's');
    await sql`delete from training_jobs where id = ${anchorJob}`;
    const batchWith = median(withTrigger);
    const batchWithout = median(withoutTrigger);
    emit(BENCH, 'anchor: 10k-point batch without the curve trigger, p50', batchWithout, 'ms');
    emit(BENCH, '10k-point batch with the curve trigger, p50', batchWith, 'ms');
    emit(
      BENCH,
      'curve trigger cost per 10k-point batch, p50',
      batchWith - batchWithout,
      'ms',
      null,
      `x${(batchWith / batchWithout).toFixed(2)} of the batch`,
    );

    const countOnce = () => timed(() => sql`select count(*) from metrics_points where job_id = ${jobId}`);
    const curveOnce = async (pointCount: number) => {
      const t = performance.now();
      const curve = await lossCurve(db, jobId, pointCount);
      return { ms: performance.now() - t, points: curve.length };
    };
    // What ingest runs for the score and the curve.
    const ingestOnce = async () => {
      const t = performance.now();
      const stats = await lossStats(db, jobId);
      const quality = scoreRun(stats);
      const curve = await lossCurve(db, jobId, stats.pointCount);
      const ms = performance.now() - t;
      if (stats.pointCount !== POINTS) throw new Error(`expected ${POINTS} points, lossStats saw ${stats.pointCount}`);
      return { ms, quality, points: curve.length };
    };

    // As ingest sees it: straight after the run, before any VACUUM. The count comes first: it pays the hint bits.
    const countFirst = await countOnce();
    const first = await ingestOnce();
    info(
      BENCH,
      `score ${first.quality.score} ${first.quality.convergence}, reduction ${first.quality.lossReductionPct?.toFixed(1)}%, ${first.points} curve points`,
    );
    const curveFirst = await curveOnce(POINTS);
    const previous = await timed(() => previousReduction(sql, jobId));
    emit(BENCH, 'anchor: count(*) over the 1M points, first call (no VACUUM)', countFirst, 'ms');
    emit(BENCH, 'before: one-pass SQL reduction over every point (the previous lossCurve)', previous, 'ms');
    emit(BENCH, 'reduction of 1M points at ingest (lossCurve), first call', curveFirst.ms, 'ms', '<= 300');
    emit(BENCH, 'scoring+curve added to ingest (lossStats+scoreRun+lossCurve), first call', first.ms, 'ms', '<= 400');
    emit(BENCH, 'lossCurve points returned', curveFirst.points, 'points');

    await sql`vacuum (analyze) metrics_points`;
    const counts: number[] = [];
    const curves: number[] = [];
    const ingests: number[] = [];
    for (let i = 0; i < 5; i++) {
      counts.push(await countOnce());
      curves.push((await curveOnce(POINTS)).ms);
      ingests.push((await ingestOnce()).ms);
    }
    emit(BENCH, 'anchor: count(*) over the 1M points, p50 of 5 (after VACUUM)', median(counts), 'ms');
    emit(BENCH, 'reduction of 1M points (lossCurve), p50 of 5 (after VACUUM)', median(curves), 'ms', '<= 300');
    emit(BENCH, 'scoring+curve (lossStats+scoreRun+lossCurve), p50 of 5 (after VACUUM)', median(ingests), 'ms', '<= 400');
    emit(BENCH, 'scoring+curve / count(*) anchor', median(ingests) / median(counts), 'x', null, 'below 1: ingest no longer reads the points');

    // Where the time goes (once, after VACUUM): lossCurve's read of the buckets.
    const plan = await sql.unsafe(`explain (analyze, buffers) select * from metrics_curve_buckets where job_id = $1`, [jobId]);
    info(BENCH, `buckets plan: ${plan.map((r) => String(Object.values(r)[0])).join(' / ')}`);
  } finally {
    await database.close();
  }
}

/** The reduction lossCurve ran before the buckets: 2,000 width_bucket buckets over every point, M4 by arrays. */
function previousReduction(sql: ReturnType<typeof createDatabase>['client'], jobId: string) {
  const finite = (c: string) => `${c} is not null and ${c} <> 'NaN'::float8 and ${c} not in ('Infinity'::float8, '-Infinity'::float8)`;
  return sql.unsafe(
    `with r as (select min(step) as lo, max(step) + 1 as hi from metrics_points where job_id = $1),
    b as (select m.step::float8 as s, m.training_loss as t, m.validation_loss as v, width_bucket(m.step, r.lo, r.hi, 2000) as k
          from metrics_points m, r where m.job_id = $1)
    select min(array[s, t]) filter (where ${finite('t')}), max(array[s, t]) filter (where ${finite('t')}),
      min(array[t, s]) filter (where ${finite('t')}), max(array[t, s]) filter (where ${finite('t')}),
      min(array[s, v]) filter (where ${finite('v')}), max(array[s, v]) filter (where ${finite('v')}),
      min(array[v, s]) filter (where ${finite('v')}), max(array[v, s]) filter (where ${finite('v')})
    from b group by k`,
    [jobId],
  );
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
