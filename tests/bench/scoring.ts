/**
 * Scoring at scale: 1,000,000 metrics points for one job (inserted in SQL with generate_series, shaped
 * like a real decaying loss with an eval every 100 steps), then `lossStats` + `scoreRun` (what ingest
 * runs; goal ≤ 500 ms) and `lossCurve` (the SQL M4 pre-aggregation + LTTB; reported).
 *
 * Measured twice: right after the insert (what ingest sees when it runs straight after a run: no
 * VACUUM yet, hint bits unset on the first read) and after VACUUM ANALYZE (steady state once
 * autovacuum has been through). Standalone: `bun tests/bench/scoring.ts`.
 */
import { createDatabase } from '../../db/client.ts';
import { lossCurve, lossStats } from '../../server/quality/queries.ts';
import { scoreRun } from '../../server/quality/score.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { emit, info, median, timed } from './lib.ts';

const BENCH = 'scoring';
const POINTS = 1_000_000;

export async function main() {
  const url = await createTestDatabase('bench_scoring');
  const database = createDatabase(url);
  const { db, client: sql } = database;
  try {
    await sql`insert into users (id, name, email) values ('bench-scoring', 'Bench', 'bench-scoring@example.com')`;
    const [ds] = await sql`insert into datasets (user_id, name) values ('bench-scoring', 'ds') returning id`;
    const [job] = await sql`
      insert into training_jobs (user_id, dataset_id, name, status, config, gpu, worker_token_hash)
      values ('bench-scoring', ${ds!.id}, 'big-run', 'completed', '{}'::jsonb, '{"type":"A100-80GB","count":1}'::jsonb, 'bench-scoring-hash')
      returning id`;
    const jobId = job!.id as string;

    const insertMs = await timed(
      () => sql`
      insert into metrics_points (job_id, step, epoch, training_loss, validation_loss, learning_rate)
      select ${jobId}::uuid, g, (g / 333334.0)::real,
             0.35 + 2.2 * exp(-g / 150000.0) + 0.05 * (random() - 0.5),
             case when g % 100 = 0 then 0.45 + 2.0 * exp(-g / 150000.0) + 0.02 * random() end,
             2e-4 * 0.5 * (1 + cos(pi() * g / ${POINTS}))
      from generate_series(1, ${POINTS}) g`,
    );
    emit(BENCH, 'insert 1M points (generate_series)', insertMs / 1000, 's');

    const scoreOnce = async () => {
      const t = performance.now();
      const stats = await lossStats(db, jobId);
      const quality = scoreRun(stats);
      const ms = performance.now() - t;
      if (stats.pointCount !== POINTS) throw new Error(`expected ${POINTS} points, lossStats saw ${stats.pointCount}`);
      return { ms, stats, quality };
    };
    const curveOnce = async (pointCount: number) => {
      const t = performance.now();
      const curve = await lossCurve(db, jobId, pointCount);
      return { ms: performance.now() - t, points: curve.length };
    };

    // As ingest sees it: straight after the run, before any VACUUM.
    const first = await scoreOnce();
    info(BENCH, `score ${first.quality.score} ${first.quality.convergence}, reduction ${first.quality.lossReductionPct?.toFixed(1)}%`);
    const curveFirst = await curveOnce(first.stats.pointCount);
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) warm.push((await scoreOnce()).ms);
    const curveWarm: number[] = [];
    for (let i = 0; i < 3; i++) curveWarm.push((await curveOnce(POINTS)).ms);
    emit(BENCH, 'lossStats+scoreRun, first call (no VACUUM yet)', first.ms, 'ms', '<= 500');
    emit(BENCH, 'lossStats+scoreRun, p50 of 5 (no VACUUM)', median(warm), 'ms', '<= 500');
    emit(BENCH, 'lossCurve downsampling, first call (no VACUUM)', curveFirst.ms, 'ms');
    emit(BENCH, 'lossCurve downsampling, p50 of 3 (no VACUUM)', median(curveWarm), 'ms');
    emit(BENCH, 'lossCurve points returned', curveFirst.points, 'points');

    await sql`vacuum (analyze) metrics_points`;
    const vac: number[] = [];
    for (let i = 0; i < 5; i++) vac.push((await scoreOnce()).ms);
    const curveVac: number[] = [];
    for (let i = 0; i < 3; i++) curveVac.push((await curveOnce(POINTS)).ms);
    emit(BENCH, 'lossStats+scoreRun, p50 of 5 (after VACUUM ANALYZE)', median(vac), 'ms', '<= 500');
    emit(BENCH, 'lossCurve downsampling, p50 of 3 (after VACUUM)', median(curveVac), 'ms');

    // Where the lossStats time goes (once, after VACUUM): the plan's top line and total.
    const plan = await sql.unsafe(`explain (analyze, buffers) select (select count(*) from metrics_points where job_id = $1) as n`, [jobId]);
    info(BENCH, `count(*) plan: ${String(Object.values(plan[0]!)[0])}`);
  } finally {
    await database.close();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
