/**
 * Backlog drain on embedded defaults (one process, INGEST_CONCURRENCY 2): N runs of a small adapter are
 * prepared, then every `jobs.complete` is sent at once; the figure is the time from that burst to the
 * last job being ready (polled through jobs.list). Goal: 100 completions within 15 s.
 * Standalone: `bun tests/bench/backlog-drain.ts [jobs]`.
 */
import { prepareBacklog, waitAllReady } from '../helpers/backlog.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import { emit, info } from './lib.ts';

const BENCH = 'backlog-drain';

export async function main(count = Number(process.argv[2] ?? 100)) {
  const svc = await startTestService({ label: 'bench_backlog', env: { LOG_LEVEL: 'silent' } });
  try {
    const { api } = await newUser(svc, 'bench-backlog');
    const backlog = await prepareBacklog(svc, api, count);
    info(BENCH, `${count} jobs prepared; completing them all at once`);
    const t0 = performance.now();
    await backlog.completeAll();
    const accepted = performance.now() - t0;
    await waitAllReady(
      api,
      backlog.jobs.map((j) => j.jobId),
      600_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    emit(
      BENCH,
      `${count} simultaneous completions → all ready (1 process, concurrency ${svc.deps.env.ingestConcurrency})`,
      seconds,
      's',
      count === 100 ? '<= 15' : null,
    );
    emit(BENCH, 'throughput', count / seconds, 'jobs/s');
    emit(BENCH, `${count} jobs.complete calls answered`, accepted, 'ms');
  } finally {
    await svc.stop();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
