/**
 * Ingest latency on embedded defaults (real service via startTestService, LOG_LEVEL silent): the time
 * from `jobs.complete` returning to the `model_ready` notification row existing, polled every ~5 ms on
 * the privileged connection. 50 sequential runs of a 20 MB adapter (writeLoraOutput, padToBytes 20 MB;
 * one output folder reused, so the source is page-cache hot). Goals: p50 ≤ 250 ms, p99 ≤ 1 s.
 *
 * Phase breakdown from timestamps (all on the database clock): queue pickup = pgboss job created_on →
 * started_on; copy+inspect+score = training_jobs.ingest_started_at → the delivery transaction's now()
 * (the notification's created_at); commit+observe = the rest. Scoring alone is timed separately
 * (lossStats + scoreRun + lossCurve on the same job, right after).
 * Standalone: `bun tests/bench/ingest-latency.ts [runs]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { lossCurve, lossStats } from '../../server/quality/queries.ts';
import { scoreRun } from '../../server/quality/score.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import { startTrainingJob } from '../helpers/training.ts';
import { emit, info, percentile } from './lib.ts';

const BENCH = 'ingest-latency';

export async function main(runs = Number(process.argv[2] ?? 50)) {
  // One folder reused by every run, allowed as the operator would (SOURCE_FILE_ROOTS), not under DATA_DIR/outputs/<jobId>.
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-bench-gpu-out-'));
  const svc = await startTestService({ label: 'bench_ingest', env: { LOG_LEVEL: 'silent', SOURCE_FILE_ROOTS: outDir } });
  const pg = postgres(svc.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const { api, userId } = await newUser(svc, 'bench-ingest');
    const { files } = await writeLoraOutput(outDir, { padToBytes: 20_000_000 });
    info(BENCH, `output folder: ${files.length} files, ${files.reduce((a, f) => a + f.size, 0)} bytes`);
    const { id: datasetId } = await api.datasets.create.mutate({ name: 'support-tickets', format: 'jsonl', rowCount: 1200 });

    const total: number[] = [];
    const pickup: number[] = [];
    const work: number[] = [];
    const commit: number[] = [];
    const preCopy: number[] = [];
    const scoring: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { jobId, worker } = await startTrainingJob(svc, api, { datasetId, name: `bench-run-${i}` });
      const link = `/models/${artifactIdFor(jobId)}`;

      await worker.jobs.complete.mutate({
        jobId,
        outputUri: `file://${outDir}`,
        summary: { epochsCompleted: 3, totalSteps: 300, durationSeconds: 5400, costUsd: 3.42 },
      });
      const t0 = performance.now();
      const deadline = t0 + 30_000;
      for (;;) {
        const rows = await pg`select 1 from notifications where user_id = ${userId} and link = ${link} and type = 'model_ready'`;
        if (rows.length) break;
        if (performance.now() > deadline) throw new Error(`run ${i}: no model_ready after 30 s`);
        await Bun.sleep(5);
      }
      const ms = performance.now() - t0;
      total.push(ms);

      const [p] = await pg`
        select extract(epoch from (b.started_on - b.created_on)) * 1000 as pickup,
               extract(epoch from (t.ingest_started_at - b.started_on)) * 1000 as pre_copy,
               extract(epoch from (n.created_at - t.ingest_started_at)) * 1000 as work,
               extract(epoch from (b.completed_on - n.created_at)) * 1000 as commit
        from pgboss.job b, training_jobs t, notifications n
        where b.name = 'ingest-artifact' and b.data->>'jobId' = ${jobId} and t.id = ${jobId} and n.link = ${link}
        order by b.created_on desc limit 1`;
      if (p) {
        pickup.push(Number(p.pickup));
        preCopy.push(Number(p.pre_copy));
        work.push(Number(p.work));
        if (p.commit !== null) commit.push(Number(p.commit));
      }
      const ts = performance.now();
      const stats = await lossStats(svc.deps.database.db, jobId);
      scoreRun(stats);
      await lossCurve(svc.deps.database.db, jobId, stats.pointCount);
      scoring.push(performance.now() - ts);
      if ((i + 1) % 10 === 0) info(BENCH, `${i + 1}/${runs} runs, last ${ms.toFixed(0)} ms`);
      // Keep disk flat: the delivered files are not needed for the next run.
      fs.rmSync(path.join(svc.dataDir, 'storage', storagePrefix(artifactIdFor(jobId))), { recursive: true, force: true });
    }
    emit(BENCH, `complete → model_ready p50 (${runs} runs, 20 MB)`, percentile(total, 50), 'ms', '<= 250');
    emit(BENCH, `complete → model_ready p99 (${runs} runs, 20 MB)`, percentile(total, 99), 'ms', '<= 1000');
    emit(BENCH, 'complete → model_ready max', Math.max(...total), 'ms');
    emit(BENCH, 'phase: queue pickup (job created → started) p50', percentile(pickup, 50), 'ms');
    emit(BENCH, 'phase: queue pickup p99', percentile(pickup, 99), 'ms');
    emit(BENCH, 'phase: handler start → ingest_started_at p50', percentile(preCopy, 50), 'ms');
    emit(BENCH, 'phase: copy+inspect+score (ingest_started → delivery tx) p50', percentile(work, 50), 'ms');
    emit(BENCH, 'phase: copy+inspect+score p99', percentile(work, 99), 'ms');
    emit(BENCH, 'phase: scoring alone (lossStats+scoreRun+lossCurve, 300 pts) p50', percentile(scoring, 50), 'ms');
    if (commit.length) emit(BENCH, 'phase: delivery tx start → pg-boss completed_on p50', percentile(commit, 50), 'ms');
  } finally {
    await pg.end();
    fs.rmSync(outDir, { recursive: true, force: true });
    await svc.stop();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
