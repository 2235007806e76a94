// Real trainer outputs, as each trainer writes them (tests/fixtures/trainers.ts), through the real ingest: the curve
// read from the output when the worker sent none, adapters in PEFT and mlx form, pickles stored but never read past
// their shapes, merged models, skipped folders, evaluation results; and the bad input the issue names.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { metricsPoints } from '../../db/schema/index.ts';
import { hostilePickle } from '../fixtures/torch-save.ts';
import { TRAINER_KINDS, type TrainerFixture, writeTrainerOutput } from '../fixtures/trainers.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForExports, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
let owner: Awaited<ReturnType<typeof newUser>>;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  svc = await startTestService({ label: 'trainer-outputs' });
  owner = await newUser(svc, 'owner');
  api = client(svc.url, { cookie: owner.cookie });
}, 60_000);
afterAll(async () => {
  await svc?.stop();
});

type Report = NonNullable<Parameters<typeof runTrainingJob>[2]>['report'];

/** Runs a job whose output `write` makes (the worker reports `report`, default nothing) and returns its model. */
async function ingest(write: (dir: string) => Promise<unknown>, report: Report = 'none') {
  const run = await runTrainingJob(svc, api, { writeOutput: write, report });
  const job = await waitForIngest(api, run.jobId);
  if (job.ingestStatus !== 'ready') throw new Error(`ingest failed: ${job.ingestError}`);
  return { run, model: await api.models.get.query({ modelId: job.artifactId! }) };
}

async function download(modelId: string, path: string): Promise<Uint8Array> {
  const model = await api.models.get.query({ modelId });
  const file = model.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} not among ${model.files.map((f) => f.path).join(', ')}`);
  const { files } = await api.models.download.mutate({ modelId, fileIds: [file.id] });
  const res = await fetch(files[0]!.url);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

const close = (a: number | null | undefined, b: number | null, digits = 6) => {
  expect(a).not.toBeNull();
  expect(a!).toBeCloseTo(b!, digits);
};

describe.each(TRAINER_KINDS)('a %s output, as the trainer writes it, the worker reporting no metrics', (kind) => {
  let fixture: TrainerFixture;
  let model: Awaited<ReturnType<typeof ingest>>['model'];

  beforeAll(async () => {
    ({ model } = await ingest(async (dir) => {
      fixture = await writeTrainerOutput(dir, kind);
    }));
  }, 60_000);

  test('the curve comes from its trainer file, and the run is scored from it', () => {
    const e = fixture.expect;
    if (e.curveSource === null) {
      expect(model.curveSource).toEqual({ sources: [], workerPoints: 0, file: null });
      expect(model.lossCurve).toEqual([]);
      expect(model.qualityScore).toBeNull();
      return;
    }
    expect(model.curveSource).toEqual({
      sources: [e.curveSource],
      workerPoints: 0,
      file: { source: e.curveSource, path: e.curvePath!, points: expect.any(Number), added: expect.any(Number) },
    });
    expect(model.curveSource!.file!.added).toBe(model.curveSource!.file!.points);
    expect(model.lossCurve.filter((p) => p.trainingLoss !== null).length).toBe(Math.min(500, e.trainingPoints));
    expect(model.lossCurve.filter((p) => p.validationLoss !== null).length).toBe(Math.min(500, e.validationPoints));
    close(model.quality.finalTrainingLoss, e.finalTrainingLoss);
    if (e.finalValidationLoss !== null) close(model.quality.finalValidationLoss, e.finalValidationLoss);
    expect(model.qualityScore).not.toBeNull();
  });

  test('its checkpoints, sorted by number, and the trainer’s own best beside ours', () => {
    const e = fixture.expect;
    expect(model.checkpoints.items.map((c) => c.name)).toEqual(e.checkpoints);
    if (e.bestModelCheckpoint === null) expect(model.checkpoints.trainerBest).toBeNull();
    else expect(model.checkpoints.trainerBest).toMatchObject({ name: e.bestModelCheckpoint });
  });

  test('the adapter is understood: rank, alpha, fit to its base, weight health', () => {
    const e = fixture.expect;
    expect(model.adapter).toMatchObject({ rank: e.rank, alpha: e.alpha });
    expect(model.compatibility?.verdict).toBe('fits');
    expect(model.weights?.file).toBe(e.mainAdapter);
    expect(model.weights?.modules.length).toBeGreaterThan(0);
    expect(model.weights?.untrained).toBe(false);
    // The HF run kept its best checkpoint as the final adapter (load_best_model_at_end): said as such, not as a stall.
    const duplicates = model.weights?.warnings.filter((w) => w.code === 'duplicate_checkpoint').map((w) => w.message) ?? [];
    if (kind === 'hf') expect(duplicates).toEqual([expect.stringContaining("checkpoint-1000's, the trainer's best checkpoint")]);
  });

  test('file kinds by content: pickles marked, merged model files marked, skipped folders left out and listed', () => {
    const e = fixture.expect;
    const byPath = new Map(model.files.map((f) => [f.path, f]));
    for (const p of e.pickles) expect([p, byPath.get(p)?.format]).toEqual([p, expect.stringMatching(/^(pickle|torch_zip)$/)]);
    expect(
      model.files
        .filter((f) => f.format === 'pickle' || f.format === 'torch_zip')
        .map((f) => f.path)
        .sort(),
    ).toEqual(e.pickles);
    expect(
      model.files
        .filter((f) => f.mergedModel)
        .map((f) => f.path)
        .sort(),
    ).toEqual(e.mergedModel);
    for (const p of e.skipped) expect(byPath.has(p)).toBe(false);
    const skipped = model.output?.skipped ?? [];
    expect(skipped.reduce((n, s) => n + s.files, 0)).toBe(e.skipped.length);
    expect(byPath.get(e.mainAdapter)?.format).toBe('safetensors');
  });

  test('evaluation results are recorded with their source and scale', () => {
    const e = fixture.expect;
    for (const want of e.evals) {
      const set = model.evaluations.find((s) => s.path === want.path);
      expect(set).toBeDefined();
      for (const [name, value] of Object.entries(want.metrics)) {
        const metric = set!.metrics.find((m) => m.name === name);
        expect([name, typeof metric?.value === 'number' ? metric.value : null]).toEqual([name, expect.closeTo(value, 6)]);
      }
    }
    if (e.predictions) {
      const computed = model.evaluations.find((s) => s.path === e.predictions!.path);
      expect(computed?.format).toBe('predictions');
      const names = computed!.metrics.map((m) => m.name);
      expect(names).toEqual(expect.arrayContaining(['bleu', 'rouge1', 'rouge2', 'rougeL']));
    }
    // Nothing in a well-formed output is a problem.
    expect(model.output?.warnings ?? []).toEqual([]);
  });

  test('the model card carries the evaluation results, each file with its source', async () => {
    const card = new TextDecoder().decode(await download(model.id, 'README.md'));
    if (model.evaluations.length === 0) {
      expect(card).not.toContain('## Evaluation results');
      return;
    }
    expect(card).toContain('## Evaluation results');
    for (const set of model.evaluations) expect(card).toContain(`\`${set.path}\``);
  });
});

describe('the worker and the output together', () => {
  test("the worker's points win on a shared step; the file fills the rest, and both sources are recorded", async () => {
    let fixture!: TrainerFixture;
    const { run, model } = await ingest(
      async (dir) => {
        fixture = await writeTrainerOutput(dir, 'hf');
      },
      [
        { step: 10, trainingLoss: 9.5 },
        { step: 20, trainingLoss: 9.25 },
      ],
    );
    expect(model.curveSource?.sources).toEqual(['worker', 'trainer_state']);
    expect(model.curveSource?.workerPoints).toBe(2);
    const rows = await svc.deps.database.db.select().from(metricsPoints).where(eq(metricsPoints.jobId, run.jobId));
    const at = (step: number) => rows.find((r) => r.step === step);
    expect([at(10)?.trainingLoss, at(10)?.source]).toEqual([9.5, 'worker']);
    expect([at(20)?.trainingLoss, at(20)?.source]).toEqual([9.25, 'worker']);
    expect(rows.filter((r) => r.source === 'trainer_state').length).toBe(model.curveSource!.file!.added);
    expect(model.curveSource!.file!.added).toBe(model.curveSource!.file!.points - 2);
    expect(fixture.expect.curveSource).toBe('trainer_state');
  }, 60_000);

  test("when the trainer's best checkpoint is not ours, the model says so", async () => {
    // The worker's own evaluation at step 500 (it wins over the file's) makes checkpoint-500 the lowest validation loss;
    // the trainer's best_model_checkpoint stays checkpoint-1000.
    const { model } = await ingest(async (dir) => writeTrainerOutput(dir, 'hf'), [{ step: 500, trainingLoss: 1.1, validationLoss: 0.05 }]);
    expect(model.checkpoints.recommended?.name).toBe('checkpoint-500');
    expect(model.checkpoints.trainerBest).toMatchObject({ name: 'checkpoint-1000', checkpoint: 'checkpoint-1000', agrees: false });
    expect(model.checkpoints.trainerBest?.note).toContain('checkpoint-500 is best');
  }, 60_000);

  test("LLaMA-Factory's trainer_log.jsonl gives the curve when there is no trainer_state.json", async () => {
    let fixture!: TrainerFixture;
    const { model } = await ingest(async (dir) => {
      fixture = await writeTrainerOutput(dir, 'llamafactory');
      await rm(join(dir, 'trainer_state.json'));
    });
    expect(model.curveSource?.file).toMatchObject({ source: 'trainer_log', path: 'trainer_log.jsonl' });
    expect(model.lossCurve.filter((p) => p.trainingLoss !== null).length).toBe(fixture.expect.trainingPoints);
    expect(model.lossCurve.filter((p) => p.validationLoss !== null).length).toBe(fixture.expect.validationPoints);
    close(model.quality.finalTrainingLoss, fixture.expect.finalTrainingLoss);
  }, 60_000);

  test('a worker that reported more points than the file keeps its curve alone', async () => {
    const { model } = await ingest(async (dir) => writeTrainerOutput(dir, 'llamafactory'), 'all');
    expect(model.curveSource?.sources).toEqual(['worker']);
    expect(model.curveSource?.file).toMatchObject({ added: 0 });
  }, 60_000);
});

describe('bad input is a warning on the model, never a failed ingest', () => {
  /** A valid PEFT output with `extra` written over it. */
  const withFiles = (extra: Record<string, string | Uint8Array>) => async (dir: string) => {
    await writeLoraOutput(dir, { seed: 3 });
    for (const [path, body] of Object.entries(extra)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), body);
    }
  };
  const warnings = (m: { output: { warnings: { code: string; path: string }[] } | null }) => (m.output?.warnings ?? []).map((w) => [w.code, w.path]);

  test('a trainer_state.json that is not JSON', async () => {
    const { model } = await ingest(withFiles({ 'trainer_state.json': '{"log_history": [{"loss": 1.0, "step": 1}' }));
    expect(warnings(model)).toEqual([['bad_json', 'trainer_state.json']]);
    expect(model.curveSource?.file).toBeNull();
  }, 60_000);

  test('a trainer_state.json of 100 MB is not read', async () => {
    const { model } = await ingest(async (dir) => {
      await writeLoraOutput(dir, { seed: 4 });
      await truncate(join(dir, 'trainer_state.json'), 100 * 1024 * 1024);
    });
    expect(warnings(model)).toEqual([['too_large', 'trainer_state.json']]);
    expect(model.files.find((f) => f.path === 'trainer_state.json')?.sizeBytes).toBe(100 * 1024 * 1024);
  }, 60_000);

  test('a log_history with strings where numbers belong keeps the numbers it has', async () => {
    const state = {
      log_history: [
        { epoch: 0.1, loss: 2.5, learning_rate: 0.0002, step: 10 },
        { epoch: 0.2, loss: '2.1', learning_rate: 0.0002, step: 20 },
        { epoch: 0.3, loss: 1.9, learning_rate: 'fast', step: 30 },
        { epoch: 0.4, loss: 1.7, step: 40 },
      ],
      best_model_checkpoint: null,
      global_step: 40,
    };
    const { model } = await ingest(withFiles({ 'trainer_state.json': JSON.stringify(state) }));
    expect(warnings(model)).toEqual([['bad_value', 'trainer_state.json']]);
    expect(model.lossCurve.map((p) => [p.step, p.trainingLoss])).toEqual([
      [10, 2.5],
      [30, 1.9],
      [40, 1.7],
    ]);
  }, 60_000);

  test("Python's NaN and Infinity are read, kept non-finite, and a diverged run scores as one", async () => {
    const text = `{"log_history": [{"loss": 2.5, "grad_norm": NaN, "step": 10}, {"loss": 2.0, "step": 20}, {"loss": Infinity, "grad_norm": Infinity, "step": 30}], "global_step": 30}`;
    const { run, model } = await ingest(withFiles({ 'trainer_state.json': text }));
    expect(warnings(model)).toEqual([]);
    const rows = await svc.deps.database.db.select().from(metricsPoints).where(eq(metricsPoints.jobId, run.jobId));
    expect(rows.find((r) => r.step === 30)?.trainingLoss).toBe(Infinity);
    expect([model.qualityScore, model.convergenceQuality]).toEqual([1, 'poor']);
  }, 60_000);

  test('an eval file with unknown keys keeps its numbers', async () => {
    const { model } = await ingest(
      withFiles({ 'eval_results.json': JSON.stringify({ eval_loss: 1.25, eval_runtime: 3.5, note: 'fine', nested: { a: 1 }, epoch: 3 }) }),
    );
    expect(warnings(model)).toEqual([['unknown_keys', 'eval_results.json']]);
    const set = model.evaluations.find((s) => s.path === 'eval_results.json');
    expect(set?.metrics.find((m) => m.name === 'eval_loss')?.value).toBe(1.25);
  }, 60_000);

  test('a pickle bomb as adapter_model.bin: stored untouched, its shapes unknown, said so', async () => {
    const bomb = hostilePickle('laughs');
    const { model } = await ingest(async (dir) => {
      await writeLoraOutput(dir, { seed: 5 });
      await rm(join(dir, 'adapter_model.safetensors'));
      await writeFile(join(dir, 'adapter_model.bin'), bomb);
    });
    expect(warnings(model)).toEqual([['pickle_unreadable', 'adapter_model.bin']]);
    const stored = await download(model.id, 'adapter_model.bin');
    expect(Buffer.from(stored).equals(Buffer.from(bomb))).toBe(true);
    // Its weights are never read, so no GGUF is made from it; the refusal says how to re-save it.
    await expect(api.models.export.mutate({ modelId: model.id, format: 'gguf' })).rejects.toThrow(
      /adapter_model\.bin is a pickle.*safe_serialization=True/,
    );
  }, 60_000);

  test('a pickle named .safetensors is stored as it is and never parsed: content decides, not the name', async () => {
    const pickle = hostilePickle('os_system', { marker: join(svc.dataDir, 'never') });
    const { model } = await ingest(withFiles({ 'checkpoint-10/adapter_model.safetensors': pickle }));
    expect(warnings(model)).toEqual([['misnamed', 'checkpoint-10/adapter_model.safetensors']]);
    expect(model.files.find((f) => f.path === 'checkpoint-10/adapter_model.safetensors')?.format).toBe('torch_zip');
    expect(model.compatibility?.verdict).toBe('fits');
    // Nor is it exported: refused at once, by its content, with how to re-save it.
    await expect(api.models.export.mutate({ modelId: model.id, format: 'gguf', checkpoint: 'checkpoint-10' })).rejects.toThrow(/is a pickle/);
  }, 60_000);

  test('a hostile pickle is stored byte for byte and never run', async () => {
    const marker = join(svc.dataDir, `pwned-${Date.now()}`);
    const hostile = hostilePickle('os_system', { marker });
    const { model } = await ingest(withFiles({ 'training_args.bin': hostile, 'checkpoint-10/optimizer.pt': hostile }));
    const file = model.files.find((f) => f.path === 'training_args.bin');
    expect(file?.format).toBe('torch_zip'); // torch.save's zip, a pickle inside
    expect(file?.sha256).toBe(createHash('sha256').update(hostile).digest('hex'));
    expect(Buffer.from(await download(model.id, 'training_args.bin')).equals(Buffer.from(hostile))).toBe(true);
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});

describe('exports and health across adapter forms', () => {
  test('an mlx adapter and a torchtune epoch_0 adapter export to GGUF', async () => {
    for (const kind of ['mlx', 'torchtune'] as const) {
      const { model } = await ingest(async (dir) => writeTrainerOutput(dir, kind));
      await api.models.export.mutate({ modelId: model.id, format: 'gguf' });
      const [done] = await waitForExports(api, model.id);
      expect([kind, done?.status, done?.error ?? null]).toEqual([kind, 'ready', null]);
      const gguf = await download(model.id, done!.path!);
      expect(new TextDecoder().decode(gguf.subarray(0, 4))).toBe('GGUF');
    }
  }, 120_000);
});

describe('mlx-lm checkpoints, each one file', () => {
  test('are promoted (the file stands in for the adapter) and exported (the GGUF beside it)', async () => {
    const { model } = await ingest(async (dir) => writeTrainerOutput(dir, 'mlx'));
    const checkpoint = '0000500_adapters.safetensors';
    expect(model.checkpoints.items.map((c) => c.name)).toContain(checkpoint);
    await api.models.promoteCheckpoint.mutate({ modelId: model.id, checkpoint });
    const promoted = await api.models.get.query({ modelId: model.id });
    const adapter = promoted.files.find((f) => f.path === 'adapters.safetensors');
    expect(adapter?.sha256).toBe(promoted.files.find((f) => f.path === checkpoint)?.sha256);
    await api.models.promoteCheckpoint.mutate({ modelId: model.id, checkpoint: 'final' });

    const { exportId } = await api.models.export.mutate({ modelId: model.id, format: 'gguf', checkpoint });
    const done = (await waitForExports(api, model.id)).find((e) => e.id === exportId);
    expect([done?.status, done?.path]).toEqual(['ready', `${model.family}-v${model.version}-0000500_adapters-F16-LoRA.gguf`]);
  }, 60_000);
});

describe('workspace setting: include the skipped folders', () => {
  test('an admin includes them; the next ingest copies them and lists none as skipped', async () => {
    const me = await api.workspaces.list.query();
    const personal = me.find((w) => w.personal)!;
    expect((await api.workspaces.update.mutate({ workspaceId: personal.id, settings: { includeSkipped: true } })).settings.includeSkipped).toBe(true);
    try {
      let fixture!: TrainerFixture;
      const { model } = await ingest(async (dir) => {
        fixture = await writeTrainerOutput(dir, 'hf');
      });
      const paths = new Set(model.files.map((f) => f.path));
      for (const p of fixture.expect.skipped) expect(paths.has(p)).toBe(true);
      expect(model.output?.skipped).toEqual([]);
    } finally {
      await api.workspaces.update.mutate({ workspaceId: personal.id, settings: { includeSkipped: false } });
    }
  }, 60_000);
});
