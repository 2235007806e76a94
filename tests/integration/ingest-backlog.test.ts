import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { prepareBacklog, waitAllReady } from '../helpers/backlog.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';

// A regression guard: after the notified fetches, each worker used to wait for its next 10 s poll while jobs
// were queued, so a backlog drained at 2 jobs per 10 s (100 completions: ~200 s on one process).
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'backlog' }); // default INGEST_CONCURRENCY (2)
});
afterAll(async () => {
  await svc?.stop();
});

const JOBS = 100;
// Measured ~6 s on one process (tests/bench/backlog-drain.ts); 60 s leaves 10x headroom, and the old loop
// managed 14 of 100 in that time.
const DEADLINE_MS = 60_000;

describe('a burst of completions drains without waiting for polls', () => {
  test(`${JOBS} simultaneous completions of a small adapter are all ready well within ${DEADLINE_MS / 1000} s`, async () => {
    const u = await newUser(svc, 'backlog');
    const backlog = await prepareBacklog(svc, u.api, JOBS);
    const started = performance.now();
    await backlog.completeAll();
    await waitAllReady(
      u.api,
      backlog.jobs.map((j) => j.jobId),
      DEADLINE_MS,
    );
    const seconds = (performance.now() - started) / 1000;
    console.info(`${JOBS} completions drained in ${seconds.toFixed(1)} s`);
    const models = await u.api.models.list.query({ limit: 100 });
    expect(models.pagination.total).toBe(JOBS);
  }, 180_000);
});
