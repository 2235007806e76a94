// Runtime-ready adapters through the real ingest and the real export job: the fit verdict, the weights'
// health, the generated model card (listed, zipped, in SHA256SUMS, regenerated on edit) and GGUF exports
// (cached by content, one file for two requests at once, refused for what cannot run, nothing half-written).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { and, eq, sql } from 'drizzle-orm';
import { artifactFiles, modelArtifacts, modelExports } from '../../db/schema/index.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';
import { buildTinyAdapter, buildTinyModel, tinyAdapterConfigJson, tinyConfigJson, writeTinyAdapterSafetensors } from '../helpers/tiny-llama.ts';

let svc: TestService;
let dir: string;
let owner: Awaited<ReturnType<typeof newUser>>;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  svc = await startTestService({ label: 'adapters' });
  dir = await mkdtemp(join(tmpdir(), 'adapters-'));
  owner = await newUser(svc, 'owner');
  api = client(svc.url, { cookie: owner.cookie });
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await svc?.stop();
});

/** Runs a training job whose output `write` makes, and returns its delivered model. */
async function ingest(write: (dir: string) => Promise<unknown>, options: { name?: string; family?: string } = {}) {
  const run = await runTrainingJob(svc, api, { ...options, writeOutput: write });
  const job = await waitForIngest(api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  return api.models.get.query({ modelId: job.artifactId! });
}

async function fetchText(modelId: string, path: string): Promise<string> {
  const model = await api.models.get.query({ modelId });
  const file = model.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} not among ${model.files.map((f) => f.path).join(', ')}`);
  const { files } = await api.models.download.mutate({ modelId, fileIds: [file.id] });
  const res = await fetch(files[0]!.url);
  expect(res.status).toBe(200);
  return res.text();
}

/** The YAML front matter of a card, parsed. */
function frontMatter(card: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  if (!m) throw new Error('no front matter');
  return Bun.YAML.parse(m[1]!) as Record<string, unknown>;
}

/** Waits until the export leaves queued/running; returns it. */
async function settled(modelId: string, exportId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = (await api.models.exports.query({ modelId })).find((e) => e.id === exportId);
    if (!row) throw new Error(`export ${exportId} not listed`);
    if (row.status === 'ready' || row.status === 'failed') return row;
    if (Date.now() > deadline) throw new Error(`export still ${row.status} after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

const storagePath = (key: string) => join(svc.dataDir, 'storage', ...key.split('/'));

describe('fit, health and card at ingest', () => {
  test('a fitting adapter: verdict, runtimes, per-module norms, explanation, and a card that is README.md', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 8, alpha: 16, checkpoints: [100, 200] }), { family: 'fits' });
    expect(model.compatibility).toMatchObject({ verdict: 'fits', base: { name: 'Qwen/Qwen2.5-0.5B' }, mismatched: [], mismatchCount: 0 });
    expect(model.compatibility!.base.facts).toMatchObject({ modelType: 'qwen2', hiddenSize: 896, layers: 24 });
    // 24 layers × q_proj and v_proj, 2 tensors each.
    expect(model.compatibility!.checked).toBe(96);
    expect(model.compatibility!.runtimes.map((r) => r.name)).toEqual(['PEFT', 'vLLM', 'llama.cpp', 'Ollama', 'Fireworks']);
    expect(model.compatibility!.runtimes.find((r) => r.name === 'vLLM')).toMatchObject({ ok: true });
    expect(model.weights!.modules).toHaveLength(48);
    expect(model.weights!.modules[0]).toMatchObject({ name: expect.stringContaining('layers.0.'), layer: 0 });
    expect(model.weights!.modules.every((m) => typeof m.updateNorm === 'number' && m.updateNorm > 0)).toBe(true);
    expect(model.weights!.untrained).toBe(false);
    expect(model.weights!.warnings).toEqual([]);
    expect(model.quality.explanation.length).toBeGreaterThan(10);
    expect(model.usage.map((u) => u.runtime)).toEqual(['peft', 'vllm', 'llama.cpp', 'ollama']);

    // The trainer's own README.md is kept as README.trainer.md; README.md is the generated card.
    const card = model.files.find((f) => f.path === 'README.md')!;
    expect(card.kind).toBe('model_card');
    expect(model.files.find((f) => f.path === 'README.trainer.md')).toBeDefined();
    const text = await fetchText(model.id, 'README.md');
    expect(new Bun.CryptoHasher('sha256').update(text).digest('hex')).toBe(card.sha256);
    const meta = frontMatter(text);
    expect(meta.base_model).toBe('Qwen/Qwen2.5-0.5B');
    expect(meta.library_name).toBe('peft');
    expect(text).toContain(model.ref);
    expect(text).toContain('PeftModel.from_pretrained');

    // The notification already says it fits.
    const { notifications } = await api.notifications.list.query({});
    expect(notifications.find((n) => n.link === `/models/${model.id}`)?.body).toContain('fits Qwen/Qwen2.5-0.5B');
  }, 60_000);

  test('the card is in the zip bundle and its SHA256SUMS, and is rendered again when the model is renamed', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 4 }), { family: 'bundled' });
    const before = model.files.find((f) => f.path === 'README.md')!;
    const { bundle } = await api.models.download.mutate({ modelId: model.id });
    const zipPath = join(dir, 'bundle.zip');
    await writeFile(zipPath, new Uint8Array(await (await fetch(bundle!.url)).arrayBuffer()));
    const out = join(dir, 'unzipped');
    expect(Bun.spawnSync(['unzip', '-q', '-o', zipPath, '-d', out]).exitCode).toBe(0);
    const check = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: out });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain('README.md: OK');
    expect(check.stdout.toString()).toContain('README.trainer.md: OK');

    await api.models.update.mutate({ modelId: model.id, name: 'renamed-bot', description: 'Answers **support** tickets.', tags: ['support'] });
    const after = (await api.models.get.query({ modelId: model.id })).files.find((f) => f.path === 'README.md')!;
    expect(after.sha256).not.toBe(before.sha256);
    const text = await fetchText(model.id, 'README.md');
    expect(text).toContain('renamed-bot');
    expect(text).toContain('Answers');
    expect(frontMatter(text).tags).toContain('support');
    // One card, its old object gone.
    const rows = await svc.deps.database.db
      .select()
      .from(artifactFiles)
      .where(and(eq(artifactFiles.artifactId, model.id), eq(artifactFiles.kind, 'model_card')));
    expect(rows).toHaveLength(1);
    expect(await Bun.file(storagePath(`${await storagePrefix(model.id)}card-${before.sha256.slice(0, 16)}`)).exists()).toBe(false);
  }, 60_000);

  test('security: the card carries only the public hyperparameters, never what else a trainer sent', async () => {
    const datasetId = (await api.datasets.create.mutate({ name: 'd', format: 'jsonl', rowCount: 10 })).id;
    const { jobId, workerToken } = await api.jobs.create.mutate({
      datasetId,
      name: 'leaky-run',
      config: {
        baseModel: 'Qwen/Qwen2.5-0.5B',
        loraRank: 8,
        loraAlpha: 16,
        learningRate: 2e-4,
        epochs: 1,
        batchSize: 8,
        hfToken: 'hf_SECRETsecretSECRET',
        outputDir: '/home/alice/private/run',
      },
      gpu: { type: 'A100-80GB', count: 1 },
    });
    const worker = client(svc.url, { token: workerToken });
    await worker.jobs.start.mutate({ jobId });
    const out = join(svc.dataDir, 'outputs', jobId);
    await writeLoraOutput(out, { rank: 8 });
    await worker.jobs.complete.mutate({
      jobId,
      outputUri: `file://${out}`,
      summary: { epochsCompleted: 1, totalSteps: 10, durationSeconds: 60, costUsd: 0.1 },
    });
    const job = await waitForIngest(api, jobId);
    const text = await fetchText(job.artifactId!, 'README.md');
    expect(text).toContain('learning');
    expect(text).not.toContain('hf_SECRET');
    expect(text).not.toContain('/home/alice');
  }, 60_000);

  test('a mismatch is delivered, flagged on the card, the page and the notification, and cannot be exported', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 8, hidden: 64, layers: 2 }), { name: 'misfit-run', family: 'misfit' });
    expect(model.compatibility!.verdict).toBe('mismatch');
    expect(model.compatibility!.mismatched[0]).toMatchObject({
      tensor: expect.stringContaining('lora_A'),
      expected: expect.any(String),
      got: expect.any(String),
    });
    expect(model.compatibility!.runtimes.every((r) => !r.ok)).toBe(true);
    const [summary] = (await api.models.list.query({ filter: { search: 'misfit' } })).models;
    expect(summary).toMatchObject({ fit: 'mismatch', untrained: false });
    const { notifications } = await api.notifications.list.query({});
    expect(notifications.find((n) => n.link === `/models/${model.id}`)?.body).toContain('does not fit its base model Qwen/Qwen2.5-0.5B');
    await expect(api.models.export.mutate({ modelId: model.id, format: 'gguf' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('does not fit'),
    });
    expect(await exportRows(model.id)).toHaveLength(0);
  }, 60_000);

  test('an untrained adapter (every lora_B zero) scores 1 and says why; a duplicate checkpoint is named', async () => {
    const base = buildTinyModel();
    const adapter = buildTinyAdapter(base, { rank: 4, targets: ['q_proj', 'v_proj'] });
    for (const t of adapter.tensors) if (t.name.includes('lora_B')) t.tensor.data.fill(0);
    const model = await ingest(async (d) => {
      await writeFile(join(d, 'adapter_config.json'), tinyAdapterConfigJson(adapter));
      await writeTinyAdapterSafetensors(join(d, 'adapter_model.safetensors'), adapter);
      await writeFile(join(d, 'config.json'), tinyConfigJson(base));
      // checkpoint-20 is the final adapter byte for byte.
      await Bun.write(join(d, 'checkpoint-20', 'adapter_model.safetensors'), Bun.file(join(d, 'adapter_model.safetensors')));
    });
    expect(model.compatibility!.verdict).toBe('fits');
    expect(model.weights!.untrained).toBe(true);
    expect(model.weights!.warnings.map((w) => w.code).sort()).toEqual(['duplicate_checkpoint', 'untrained']);
    expect(model.weights!.warnings.find((w) => w.code === 'duplicate_checkpoint')!.subjects).toEqual(
      expect.arrayContaining(['adapter_model.safetensors', 'checkpoint-20/adapter_model.safetensors']),
    );
    expect(model.qualityScore).toBe(1);
    expect(model.quality.explanation).toMatch(/lora_B/);
    const { notifications } = await api.notifications.list.query({});
    expect(notifications.find((n) => n.link === `/models/${model.id}`)?.body).toContain('untrained');
  }, 60_000);

  test('non-finite weights are found and named', async () => {
    const base = buildTinyModel();
    const adapter = buildTinyAdapter(base, { rank: 4, targets: ['q_proj'] });
    const b = adapter.tensors.find((t) => t.name.includes('layers.1.') && t.name.includes('lora_B'))!;
    b.tensor.data[3] = Number.NaN;
    b.tensor.data[5] = Number.POSITIVE_INFINITY;
    const model = await ingest(async (d) => {
      await writeFile(join(d, 'adapter_config.json'), tinyAdapterConfigJson(adapter));
      await writeTinyAdapterSafetensors(join(d, 'adapter_model.safetensors'), adapter);
      await writeFile(join(d, 'config.json'), tinyConfigJson(base));
    });
    const warning = model.weights!.warnings.find((w) => w.code === 'non_finite');
    expect(warning?.subjects).toEqual([b.name]);
    expect(model.weights!.modules.find((m) => m.name.includes('layers.1.'))!.updateNorm).toBeNull();
  }, 60_000);
});

describe('models delivered before this release', () => {
  test('the backfill gives them a fit check, a weight report and a card; a trainer README.md moves aside', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 8 }), { family: 'old-timer' });
    const { db } = svc.deps.database;
    // As 0009 found it: no fit, no weights, no card, the trainer's README.md under its own name.
    await db.delete(artifactFiles).where(and(eq(artifactFiles.artifactId, model.id), eq(artifactFiles.kind, 'model_card')));
    await db
      .update(artifactFiles)
      .set({ path: 'README.md', sourcePath: null })
      .where(and(eq(artifactFiles.artifactId, model.id), eq(artifactFiles.path, 'README.trainer.md')));
    const card = model.files.find((f) => f.kind === 'model_card')!;
    await db
      .update(modelArtifacts)
      .set({
        compatibility: null,
        weights: null,
        fileCount: sql`${modelArtifacts.fileCount} - 1`,
        totalBytes: sql`${modelArtifacts.totalBytes} - ${card.sizeBytes}`,
      })
      .where(eq(modelArtifacts.id, model.id));
    const bare = await api.models.get.query({ modelId: model.id });
    expect(bare.compatibility).toBeNull();
    expect(bare.weights).toBeNull();

    const jobId = await svc.deps.boss.send('adapter-backfill', {});
    await svc.deps.boss.getSpy('adapter-backfill').waitForJobWithId(jobId!, 'completed');
    const after = await api.models.get.query({ modelId: model.id });
    expect(after.compatibility).toEqual(model.compatibility);
    expect(after.weights).toEqual(model.weights);
    expect(after.files.map((f) => [f.path, f.kind])).toEqual(model.files.map((f) => [f.path, f.kind]));
    expect(frontMatter(await fetchText(model.id, 'README.md')).base_model).toBe('Qwen/Qwen2.5-0.5B');
    const [row] = await db
      .select({ n: modelArtifacts.fileCount, bytes: modelArtifacts.totalBytes })
      .from(modelArtifacts)
      .where(eq(modelArtifacts.id, model.id));
    expect(row!.n).toBe(after.files.length);
    expect(row!.bytes).toBe(after.files.reduce((a, f) => a + f.sizeBytes, 0));
  }, 60_000);
});

async function exportRows(modelId: string) {
  return svc.deps.database.db.select().from(modelExports).where(eq(modelExports.artifactId, modelId));
}

async function storagePrefix(modelId: string): Promise<string> {
  const [row] = await svc.deps.database.db.select({ p: modelArtifacts.storagePrefix }).from(modelArtifacts).where(eq(modelArtifacts.id, modelId));
  return row!.p;
}

describe('GGUF export', () => {
  test('exports once: the file is the model’s, readable by a GGUF parser; asking again is instant; two at once are one', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 8, alpha: 16, checkpoints: [100] }), { family: 'export-me' });
    // Two requests at once: one export, one job, one file.
    const [a, b] = await Promise.all([
      api.models.export.mutate({ modelId: model.id, format: 'gguf' }),
      api.models.export.mutate({ modelId: model.id, format: 'gguf' }),
    ]);
    expect(a.exportId).toBe(b.exportId);
    const done = await settled(model.id, a.exportId);
    expect(done).toMatchObject({ status: 'ready', format: 'gguf', checkpoint: null, error: null, path: 'export-me-v1-F16-LoRA.gguf' });

    const again = await api.models.export.mutate({ modelId: model.id, format: 'gguf' });
    expect(again).toEqual({ exportId: a.exportId, status: 'ready' });
    expect(await exportRows(model.id)).toHaveLength(1);

    const after = await api.models.get.query({ modelId: model.id });
    const file = after.files.find((f) => f.id === done.fileId)!;
    expect(file).toMatchObject({ path: 'export-me-v1-F16-LoRA.gguf', kind: 'export' });
    expect(after.files.filter((f) => f.kind === 'export')).toHaveLength(1);
    const { files } = await api.models.download.mutate({ modelId: model.id, fileIds: [file.id] });
    const bytes = new Uint8Array(await (await fetch(files[0]!.url)).arrayBuffer());
    expect(new Bun.CryptoHasher('sha256').update(bytes).digest('hex')).toBe(file.sha256);
    const local = join(dir, 'export.gguf');
    await writeFile(local, bytes);
    const parsed = await gguf(local, { allowLocalFile: true });
    const meta = parsed.metadata as unknown as Record<string, unknown>;
    expect(meta['general.type']).toBe('adapter');
    expect(meta['adapter.type']).toBe('lora');
    expect(meta['general.architecture']).toBe('qwen2');
    expect(meta['adapter.lora.alpha']).toBe(16);
    expect(parsed.tensorInfos.map((t) => t.name)).toContain('blk.0.attn_q.weight.lora_a');
    // The card now names the GGUF in its llama.cpp and Ollama usage.
    expect(after.usage.find((u) => u.runtime === 'llama.cpp')!.code).toContain('export-me-v1-F16-LoRA.gguf');
    const { notifications } = await api.notifications.list.query({});
    expect(notifications.find((n) => n.type === 'export_ready' && n.link === `/models/${model.id}`)).toBeDefined();

    // A checkpoint's export goes in its folder; a checkpoint the model never had is NOT_FOUND.
    const ckpt = await api.models.export.mutate({ modelId: model.id, format: 'gguf', checkpoint: 'checkpoint-100' });
    expect(await settled(model.id, ckpt.exportId)).toMatchObject({
      status: 'ready',
      path: 'checkpoint-100/export-me-v1-checkpoint-100-F16-LoRA.gguf',
    });
    await expect(api.models.export.mutate({ modelId: model.id, format: 'gguf', checkpoint: 'checkpoint-999' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });
    await expect(api.models.export.mutate({ modelId: model.id, format: 'onnx' as 'gguf' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST', zodError: { fieldErrors: { format: expect.any(Array) } } },
    });
  }, 90_000);

  test('an architecture the export cannot map is refused, naming it; an unknown base too', async () => {
    // A Gemma-2 base described by the output's own config.json: it fits, but llama.cpp's exporter here covers llama and qwen2.
    const gemma = await ingest(async (d) => {
      await writeLoraOutput(d, { baseModel: '/models/my-gemma', rank: 4, hidden: 896, layers: 24 });
      await writeFile(
        join(d, 'config.json'),
        JSON.stringify({
          model_type: 'gemma2',
          hidden_size: 896,
          intermediate_size: 4864,
          num_hidden_layers: 24,
          num_attention_heads: 14,
          num_key_value_heads: 2,
          head_dim: 64,
          vocab_size: 151936,
        }),
      );
    });
    expect(gemma.compatibility).toMatchObject({ verdict: 'fits', base: { facts: { modelType: 'gemma2', source: 'config.json in the output' } } });
    await expect(api.models.export.mutate({ modelId: gemma.id, format: 'gguf' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('"gemma2"'),
    });
    const unknown = await ingest((d) => writeLoraOutput(d, { baseModel: 'acme/secret-base-7b', rank: 4 }));
    expect(unknown.compatibility!.verdict).toBe('unknown_base');
    await expect(api.models.export.mutate({ modelId: unknown.id, format: 'gguf' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('acme/secret-base-7b'),
    });
    expect(await exportRows(unknown.id)).toHaveLength(0);
  }, 90_000);

  test('a truncated adapter fails the export with its reason, leaves no file and no object, and may be asked again', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 4 }), { family: 'corrupt' });
    const weights = (
      await svc.deps.database.db
        .select({ key: artifactFiles.storageKey, size: artifactFiles.sizeBytes })
        .from(artifactFiles)
        .where(and(eq(artifactFiles.artifactId, model.id), eq(artifactFiles.path, 'adapter_model.safetensors')))
    )[0]!;
    const original = await readFile(storagePath(weights.key));
    await truncate(storagePath(weights.key), Math.floor(Number(weights.size) / 2));
    const { exportId } = await api.models.export.mutate({ modelId: model.id, format: 'gguf' });
    const failed = await settled(model.id, exportId);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/truncated|short|past|end/i);
    expect(failed.fileId).toBeUndefined();
    expect((await api.models.get.query({ modelId: model.id })).files.filter((f) => f.kind === 'export')).toHaveLength(0);
    expect(await Bun.file(storagePath(`${await storagePrefix(model.id)}x-${exportId}`)).exists()).toBe(false);
    const { notifications } = await api.notifications.list.query({});
    expect(notifications.find((n) => n.type === 'export_failed' && n.link === `/models/${model.id}`)).toBeDefined();

    // Left "running" with no job behind it (a worker that died past its retries leaves it so): asked again, it runs again.
    await svc.deps.database.db.update(modelExports).set({ status: 'running', error: null }).where(eq(modelExports.id, exportId));
    expect(await api.models.export.mutate({ modelId: model.id, format: 'gguf' })).toEqual({ exportId, status: 'queued' });
    expect((await settled(model.id, exportId)).status).toBe('failed');

    // Repaired, asked again: the same export, now ready.
    await writeFile(storagePath(weights.key), original);
    const retried = await api.models.export.mutate({ modelId: model.id, format: 'gguf' });
    expect(retried).toEqual({ exportId, status: 'queued' });
    expect((await settled(model.id, exportId)).status).toBe('ready');
  }, 90_000);

  test('purging a model with an export in flight leaves no row and no object behind', async () => {
    const model = await ingest((d) => writeLoraOutput(d, { rank: 8, layers: 24 }), { family: 'doomed' });
    const prefix = await storagePrefix(model.id);
    const { exportId } = await api.models.export.mutate({ modelId: model.id, format: 'gguf' });
    await api.models.delete.mutate({ modelIds: [model.id] });
    await api.models.purge.mutate({ modelIds: [model.id] });
    // The export job and the purge both settle, in whichever order they ran.
    await svc.deps.boss
      .getSpy('export-gguf')
      .waitForJobWithId(
        (
          await svc.deps.database.db.execute<{ id: string }>(
            sql`select id from pgboss.job where name = 'export-gguf' and singleton_key = ${exportId}`,
          )
        )[0]!.id,
        'completed',
      );
    const folder = join(svc.dataDir, 'storage', ...prefix.replace(/\/$/, '').split('/'));
    const deadline = Date.now() + 20_000;
    while ((await Bun.file(join(folder, `x-${exportId}`)).exists()) || (await dirExists(folder))) {
      if (Date.now() > deadline) throw new Error('objects left behind after the purge');
      await Bun.sleep(50);
    }
    expect(await exportRows(model.id)).toHaveLength(0);
  }, 90_000);
});

async function dirExists(path: string): Promise<boolean> {
  try {
    const { stat } = await import('node:fs/promises');
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
