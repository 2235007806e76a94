import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { pollHealth, type HealthSample } from '../helpers/health-probe.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

// An adapter's rank_pattern keys used to run as backtracking RegExps on the event loop, and
// big safetensors headers were parsed there too; /healthz must answer within 100 ms while any ingest runs.
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'responsive' });
});
afterAll(async () => {
  await svc?.stop();
});

const BOUND_MS = 100;

async function ingestWhilePolling(lora: NonNullable<Parameters<typeof runTrainingJob>[2]>['lora']) {
  const u = await newUser(svc, 'resp');
  const probe = await pollHealth(`${svc.url}/healthz`);
  let completedAt = Number.POSITIVE_INFINITY;
  let all: HealthSample[] = [];
  try {
    // The fixture is written in this process (the service's), which stalls it; only what follows the
    // completion (the ingest, which starts on it) is measured.
    const run = await runTrainingJob(svc, u.api, { steps: 100, lora });
    // Collect the fixture's own garbage now, so a major GC of it is not mistaken for the ingest's stall.
    Bun.gc(true);
    completedAt = Date.now();
    const job = await waitForIngest(u.api, run.jobId, 120_000);
    const seconds = (Date.now() - completedAt) / 1000;
    all = await probe.stop();
    const samples = all.filter((s) => s.at >= completedAt);
    return { job, samples, seconds, api: u.api };
  } finally {
    if (all.length === 0) await probe.stop().catch(() => {});
  }
}

describe('the API stays responsive while an ingest inspects a hostile or large adapter', () => {
  test('rank_pattern {"(a+)+b": 8} against 40 long module names', async () => {
    const { job, samples, api } = await ingestWhilePolling({
      layers: 40,
      hidden: 16,
      targetModules: ['a'.repeat(26)],
      rankPattern: { '(a+)+b': 8 },
      alphaPattern: { '(a+)+b': 32 },
    });
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    const model = await api.models.get.query({ modelId: job.artifactId! });
    expect(model.adapter?.rank).toBe(8);
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.every((s) => s.status === 200)).toBe(true);
    expect(Math.max(...samples.map((s) => s.ms))).toBeLessThan(BOUND_MS);
  }, 180_000);

  test('a large adapter: 196,000 tensors, a 26 MB safetensors header', async () => {
    const { job, samples, seconds } = await ingestWhilePolling({
      layers: 14_000,
      hidden: 4,
      rank: 1,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    const max = Math.max(...samples.map((s) => s.ms));
    console.info(`large adapter: ingest ${seconds.toFixed(1)} s, ${samples.length} /healthz answers, slowest ${max.toFixed(1)} ms`);
    expect(samples.every((s) => s.status === 200)).toBe(true);
    expect(max).toBeLessThan(BOUND_MS);
  }, 180_000);
});
