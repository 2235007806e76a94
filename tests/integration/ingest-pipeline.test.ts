import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'pipeline' });
}, 120_000);
afterAll(async () => {
  await svc?.stop();
}, 120_000);

describe('ingest pipeline on embedded defaults', () => {
  test('a completed run becomes a scored, inspected, downloadable model with one notification', async () => {
    const u = await newUser(svc, 'pipe');
    const run = await runTrainingJob(svc, u.api, { name: 'support-bot-v1', steps: 400 });
    const job = await waitForIngest(u.api, run.jobId);
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    expect(job.artifactId).toBeString();

    const model = await u.api.models.get.query({ modelId: job.artifactId! });
    expect(model.name).toBe('support-bot-v1');
    expect(model.qualityScore).toBeGreaterThanOrEqual(1);
    expect(model.adapter?.baseModel).toBe('Qwen/Qwen2.5-0.5B');
    expect(model.adapter?.rank).toBe(8);
    expect(model.adapter?.alpha).toBe(16);
    expect(model.adapter?.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(model.lossCurve.length).toBeGreaterThan(10);
    expect(model.files.map((f) => f.path).sort()).toEqual(deliveredPaths(run.files.map((f) => f.path)));
    for (const f of asKept(run.files)) {
      expect(model.files.find((m) => m.path === f.path)?.sha256).toBe(f.sha256);
    }
    expect(model.files.find((m) => m.path === CARD_PATH)?.kind).toBe('model_card');

    const dl = await u.api.models.download.mutate({ modelId: model.id });
    expect(dl.files).toHaveLength(run.files.length + 1);
    for (const f of dl.files) {
      const res = await fetch(f.url);
      expect(res.status).toBe(200);
      const hash = createHash('sha256')
        .update(new Uint8Array(await res.arrayBuffer()))
        .digest('hex');
      expect(hash).toBe(f.sha256);
    }
    const notes = await u.api.notifications.list.query({});
    expect(notes.notifications.filter((n) => n.type === 'model_ready')).toHaveLength(1);
    expect(notes.notifications[0]?.title).toBe('Your model support-bot-v1 is ready');
    expect(notes.unreadCount).toBe(1);
  });

  test('checkpoints are each scored by validation loss and the best one is named', async () => {
    const u = await newUser(svc, 'ckpt');
    const run = await runTrainingJob(svc, u.api, { name: 'overfit-run', steps: 400, overfit: true, lora: { checkpoints: [100, 200, 300, 400] } });
    const job = await waitForIngest(u.api, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    const model = await u.api.models.get.query({ modelId: job.artifactId! });
    const valAt = (step: number) => run.curve.filter((p) => p.validationLoss !== null && p.step <= step).at(-1)!.validationLoss!;
    const expected = [100, 200, 300, 400].map((step) => ({ name: `checkpoint-${step}`, step, validationLoss: valAt(step) }));
    const best = expected.reduce((a, b) => (b.validationLoss < a.validationLoss ? b : a));
    expect(model.bestCheckpoint).toMatchObject({ name: best.name, step: best.step });
    expect(model.bestCheckpoint!.validationLoss).toBeCloseTo(best.validationLoss, 10);
    expect(model.bestCheckpoint!.checkpoints!.map((c) => c.name)).toEqual(expected.map((c) => c.name));
    expect(model.convergenceQuality).toBe('overfit');
    expect(best.name).not.toBe('checkpoint-400'); // the overfit run's best is an earlier checkpoint
  });
});
