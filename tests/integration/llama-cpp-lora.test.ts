/**
 * llama.cpp itself (node-llama-cpp 3.21.1, CPU) checks the GGUF export: a tiny base plus the exported
 * adapter must behave like the base with the adapter merged in TypeScript (W + s·B·A), and unlike the
 * plain base. An F32 export must match to F32 precision (an alpha off by 0.1 % already moves probabilities
 * by about 1e-3); the product's F16 export to F16 precision, since llama.cpp also rounds the activations
 * entering F16 weights.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { type BaseHeads, ExportError, type ExportOptions, exportGguf } from '../../server/adapters/gguf/convert.ts';
import { parseAdapterConfig } from '../../server/ingest/inspect/adapter-config.ts';
import { fileRangeReader } from '../../server/ingest/inspect/safetensors.ts';
import { compareRuns, type PromptRun, runPrompts, startLlamaCpp } from '../helpers/llama-cpp.ts';
import { client, newUser, startTestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';
import {
  buildTinyModel,
  type TinyAdapterOptions,
  type TinyModel,
  writeTinyLlamaOutput,
  writeTinyMlxOutput,
  writeTinyModelGguf,
} from '../helpers/tiny-llama.ts';

/** An F32 export against the F32 merged model: arithmetic-order noise only (measured: about 3e-7). */
const F32_TOLERANCE = 1e-5;
/** The F16 export: F16 weights and F16-rounded activations (measured: 2e-4 to 7e-4). */
const F16_TOLERANCE = 2e-3;
/** Plain base vs adapter: the adapter changes each weight by half its RMS, so probabilities move far. */
const CHANGED = 0.05;

// Token ids fed as they are (1 is <s>); the vocabulary has 288 tokens.
const PROMPTS = [
  [1, 40, 70, 100, 200, 260],
  [1, 270, 5, 9, 33],
  [1, 280, 281, 282],
];
const VOCAB = 288;

let dir: string;
let llama: Llama;
let logs: string[];
const models: LlamaModel[] = [];
/** Every figure measured, printed once at the end for the record. */
const figures: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llama-cpp-lora-'));
  ({ llama, logs } = await startLlamaCpp());
});
afterAll(async () => {
  // Contexts are disposed by runPrompts; then models, then llama (the research note's order).
  for (const m of models.splice(0).reverse()) await m.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
  if (figures.length > 0) console.info(`llama.cpp equivalence:\n  ${figures.join('\n  ')}`);
});

async function load(path: string): Promise<LlamaModel> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  models.push(model);
  return model;
}
async function unload(model: LlamaModel): Promise<void> {
  models.splice(models.indexOf(model), 1);
  await model.dispose();
}

/**
 * Writes the output folder (PEFT's, or mlx-lm's adapters/ folder) and exports its adapter as the product would:
 * config parsed by the ingest parser.
 */
async function exportCase(name: string, base: TinyModel, adapter: TinyAdapterOptions, heads: BaseHeads, form: 'peft' | 'mlx' = 'peft') {
  const out = join(dir, name);
  const written = await (form === 'mlx' ? writeTinyMlxOutput : writeTinyLlamaOutput)(out, { model: base, adapter });
  const config = parseAdapterConfig(await Bun.file(join(out, 'adapter_config.json')).text());
  const weights = join(out, form === 'mlx' ? 'adapters.safetensors' : 'adapter_model.safetensors');
  const exportTo = async (file: string, opts: ExportOptions, cfg = config, h = heads) => {
    const { size, stream } = await exportGguf(fileRangeReader(weights), Bun.file(weights).size, cfg, base.dims.arch, name, h, opts);
    await Bun.write(file, new Response(stream));
    expect(Bun.file(file).size).toBe(size);
    return file;
  };
  const mergedPath = join(dir, `${name}-merged.gguf`);
  await writeTinyModelGguf(mergedPath, written.merged);
  return { config, exportTo, mergedPath };
}

async function withLora(model: LlamaModel, lora: string): Promise<PromptRun[]> {
  const before = logs.length;
  try {
    return await runPrompts(model, PROMPTS, { vocab: VOCAB, lora });
  } catch (error) {
    // llama.cpp gives the reason a LoRA failed to load only in its log.
    throw new Error(`${(error as Error).message}\n${logs.slice(before).join('\n')}`);
  }
}

function record(label: string, r: { maxProbDiff: number; sameGreedy: boolean }) {
  figures.push(`${label}: max |Δp| ${r.maxProbDiff.toExponential(2)}, greedy ${r.sameGreedy ? 'same' : 'different'}`);
  return r;
}

describe('llama.cpp runs the exported adapter like the merged model', () => {
  for (const arch of ['llama', 'qwen2'] as const) {
    test(`${arch}: every module kind (embedding and lm_head included), F32 adapter`, async () => {
      const base = buildTinyModel({ seed: arch === 'llama' ? 1 : 11, dims: { arch } });
      const basePath = join(dir, `${arch}-base.gguf`);
      await writeTinyModelGguf(basePath, base);
      const heads = { attentionHeads: base.dims.heads, kvHeads: base.dims.kvHeads };
      const c = await exportCase(`${arch}-plain`, base, { rank: 8, alpha: 16, dtype: 'F32', seed: 2 }, heads);
      const f32 = await c.exportTo(join(dir, `${arch}-plain-f32.gguf`), { outType: 'F32' });
      const f16 = await c.exportTo(join(dir, `${arch}-plain-f16.gguf`), {});

      const baseModel = await load(basePath);
      const mergedModel = await load(c.mergedPath);
      const merged = await runPrompts(mergedModel, PROMPTS, { vocab: VOCAB });
      const plain = await runPrompts(baseModel, PROMPTS, { vocab: VOCAB });

      const exact = record(`${arch} F32 export vs merged`, compareRuns(await withLora(baseModel, f32), merged));
      expect(exact.sameGreedy).toBe(true);
      expect(exact.maxProbDiff).toBeLessThanOrEqual(F32_TOLERANCE);
      const half = record(`${arch} F16 export vs merged`, compareRuns(await withLora(baseModel, f16), merged));
      expect(half.sameGreedy).toBe(true);
      expect(half.maxProbDiff).toBeLessThanOrEqual(F16_TOLERANCE);
      const untouched = record(`${arch} plain base vs merged`, compareRuns(plain, merged));
      expect(untouched.sameGreedy).toBe(false);
      expect(untouched.maxProbDiff).toBeGreaterThan(CHANGED);

      if (arch === 'llama') {
        // The check can fail: lora_B's Q/K rows permuted for other head counts break the equivalence.
        const wrong = await c.exportTo(join(dir, 'llama-wrong-heads.gguf'), { outType: 'F32' }, c.config, { attentionHeads: 2, kvHeads: 1 });
        const off = record('llama F32 export, Q/K permuted for 2/1 heads, vs merged', compareRuns(await withLora(baseModel, wrong), merged));
        expect(off.maxProbDiff).toBeGreaterThan(100 * F32_TOLERANCE);
      }
      await unload(mergedModel);
      await unload(baseModel);
    }, 60_000);
  }

  test('llama: BF16 adapter with use_rslora, alpha_pattern and rank_pattern (folded into lora_b)', async () => {
    const base = buildTinyModel({ seed: 1 });
    const basePath = join(dir, 'llama-base-2.gguf');
    await writeTinyModelGguf(basePath, base);
    const heads = { attentionHeads: base.dims.heads, kvHeads: base.dims.kvHeads };
    const c = await exportCase(
      'llama-rslora',
      base,
      {
        rank: 4,
        alpha: 8,
        dtype: 'BF16',
        seed: 3,
        useRslora: true,
        rankPattern: { down_proj: 16 },
        alphaPattern: { v_proj: 20, 'layers\\.1\\.mlp\\.up_proj': 3 },
      },
      heads,
    );
    expect(c.config.useRslora).toBe(true);
    const f32 = await c.exportTo(join(dir, 'llama-rslora-f32.gguf'), { outType: 'F32' });
    const f16 = await c.exportTo(join(dir, 'llama-rslora-f16.gguf'), {});
    // What convert_lora_to_gguf.py would produce: lora_alpha only, rslora and alpha_pattern ignored.
    const unfolded = await c.exportTo(
      join(dir, 'llama-rslora-unfolded.gguf'),
      { outType: 'F32' },
      { ...c.config, useRslora: false, alphaPattern: {} },
    );

    const baseModel = await load(basePath);
    const mergedModel = await load(c.mergedPath);
    const merged = await runPrompts(mergedModel, PROMPTS, { vocab: VOCAB });

    const exact = record('rslora F32 export vs merged', compareRuns(await withLora(baseModel, f32), merged));
    expect(exact.sameGreedy).toBe(true);
    expect(exact.maxProbDiff).toBeLessThanOrEqual(F32_TOLERANCE);
    const half = record('rslora F16 export vs merged', compareRuns(await withLora(baseModel, f16), merged));
    expect(half.sameGreedy).toBe(true);
    expect(half.maxProbDiff).toBeLessThanOrEqual(F16_TOLERANCE);
    const upstream = record('rslora export without folding (upstream behaviour) vs merged', compareRuns(await withLora(baseModel, unfolded), merged));
    expect(upstream.maxProbDiff).toBeGreaterThan(CHANGED);
    await unload(mergedModel);
    await unload(baseModel);
  }, 60_000);
});

describe('an mlx-lm adapter (adapters.safetensors: lora_a [in, r], lora_b [r, out], scale in lora_parameters)', () => {
  test('llama: its GGUF export, every module kind (Q/K permutation, embedding, lm_head), runs like the merged model', async () => {
    const base = buildTinyModel({ seed: 1 });
    const basePath = join(dir, 'llama-base-mlx.gguf');
    await writeTinyModelGguf(basePath, base);
    const heads = { attentionHeads: base.dims.heads, kvHeads: base.dims.kvHeads };
    // scale = alpha / rank = 3: the same update as the PEFT adapter of these options, merged as PEFT merges it.
    const c = await exportCase('llama-mlx', base, { rank: 4, alpha: 12, dtype: 'BF16', seed: 6 }, heads, 'mlx');
    expect(c.config).toMatchObject({ format: 'mlx', rank: 4, alpha: 12, fineTuneType: 'lora' });
    const f32 = await c.exportTo(join(dir, 'llama-mlx-f32.gguf'), { outType: 'F32' });
    const f16 = await c.exportTo(join(dir, 'llama-mlx-f16.gguf'), {});
    // What Ollama's own Safetensors import makes of it (no lora_alpha in mlx's config: scale 1), for contrast.
    const unscaled = await c.exportTo(join(dir, 'llama-mlx-unscaled.gguf'), { outType: 'F32' }, { ...c.config, alpha: c.config.rank });

    const baseModel = await load(basePath);
    const mergedModel = await load(c.mergedPath);
    const merged = await runPrompts(mergedModel, PROMPTS, { vocab: VOCAB });
    const plain = await runPrompts(baseModel, PROMPTS, { vocab: VOCAB });

    const exact = record('mlx F32 export vs merged', compareRuns(await withLora(baseModel, f32), merged));
    expect(exact.sameGreedy).toBe(true);
    expect(exact.maxProbDiff).toBeLessThanOrEqual(F32_TOLERANCE);
    const half = record('mlx F16 export vs merged', compareRuns(await withLora(baseModel, f16), merged));
    expect(half.sameGreedy).toBe(true);
    expect(half.maxProbDiff).toBeLessThanOrEqual(F16_TOLERANCE);
    const off = record('mlx export at scale 1 (no alpha) vs merged', compareRuns(await withLora(baseModel, unscaled), merged));
    expect(off.maxProbDiff).toBeGreaterThan(CHANGED);
    const untouched = record('mlx: plain base vs merged', compareRuns(plain, merged));
    expect(untouched.maxProbDiff).toBeGreaterThan(CHANGED);
    await unload(mergedModel);
    await unload(baseModel);
  }, 60_000);
});

describe('a base with tied embeddings (no output.weight): why the export refuses a LoRA on lm_head', () => {
  test('llama.cpp refuses to load such an adapter, loads one without lm_head, and the export now refuses first', async () => {
    const base = buildTinyModel({ seed: 1 });
    const tiedPath = join(dir, 'llama-tied-base.gguf');
    await writeTinyModelGguf(tiedPath, base, { tiedEmbeddings: true });
    const heads = { attentionHeads: base.dims.heads, kvHeads: base.dims.kvHeads };
    const withHead = await exportCase(
      'tied-lm-head',
      base,
      { rank: 4, alpha: 8, dtype: 'F32', seed: 4, targets: ['q_proj', 'v_proj', 'lm_head'] },
      heads,
    );
    const withoutHead = await exportCase('tied-no-head', base, { rank: 4, alpha: 8, dtype: 'F32', seed: 4, targets: ['q_proj', 'v_proj'] }, heads);
    // What the service wrote before it knew the base ties its embeddings.
    const unrefused = await withHead.exportTo(join(dir, 'tied-lm-head.gguf'), {});
    const fine = await withoutHead.exportTo(join(dir, 'tied-no-head.gguf'), {});

    const tiedModel = await load(tiedPath);
    const before = logs.length;
    const failure = await runPrompts(tiedModel, PROMPTS, { vocab: VOCAB, lora: unrefused }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(logs.slice(before).join('\n')).toContain("LoRA tensor 'output.weight' does not exist in base model");
    // The same base takes an adapter without lm_head: the refusal is about lm_head, not the tied base.
    expect((await withLora(tiedModel, fine)).length).toBe(PROMPTS.length);
    await unload(tiedModel);

    const refused = await withHead.exportTo(join(dir, 'tied-lm-head-refused.gguf'), {}, withHead.config, { ...heads, tieWordEmbeddings: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ExportError);
    expect((refused as Error).message).toContain(
      'base ties its input and output embeddings (tie_word_embeddings), so llama.cpp has no output.weight',
    );
  }, 60_000);
});

describe('through the product: ingest, models.export, a signed download, then llama.cpp', () => {
  test('the GGUF a user downloads runs in llama.cpp like the merged model, and unlike the base', async () => {
    const svc = await startTestService({ label: 'llama-cpp-product' });
    try {
      const owner = await newUser(svc, 'owner');
      const api = client(svc.url, { cookie: owner.cookie });
      const base = buildTinyModel({ seed: 5 });
      let merged: TinyModel | undefined;
      // The output as a trainer writes it: adapter_config.json naming a local base, the weights, and the base's config.json.
      const run = await runTrainingJob(svc, api, {
        family: 'tiny',
        writeOutput: async (out) => {
          ({ merged } = await writeTinyLlamaOutput(out, { model: base, adapter: { rank: 8, alpha: 16, dtype: 'BF16', seed: 9 } }));
        },
      });
      const job = await waitForIngest(api, run.jobId);
      const modelId = job.artifactId!;
      const model = await api.models.get.query({ modelId });
      expect(model.compatibility).toMatchObject({ verdict: 'fits', base: { name: '/models/tiny-llama', facts: { modelType: 'llama' } } });

      const { exportId } = await api.models.export.mutate({ modelId, format: 'gguf' });
      const deadline = Date.now() + 30_000;
      const readyExport = async () => (await api.models.exports.query({ modelId })).find((e) => e.id === exportId && e.status === 'ready');
      let ready = await readyExport();
      while (!ready) {
        if (Date.now() > deadline) throw new Error(`export not ready: ${JSON.stringify(await api.models.exports.query({ modelId }))}`);
        await Bun.sleep(50);
        ready = await readyExport();
      }
      const { files } = await api.models.download.mutate({ modelId, fileIds: [ready.fileId!] });
      const downloaded = join(dir, 'downloaded.gguf');
      await Bun.write(downloaded, await fetch(files[0]!.url));
      expect(new Bun.CryptoHasher('sha256').update(await Bun.file(downloaded).bytes()).digest('hex')).toBe(files[0]!.sha256);

      const basePath = join(dir, 'product-base.gguf');
      const mergedPath = join(dir, 'product-merged.gguf');
      await writeTinyModelGguf(basePath, base);
      await writeTinyModelGguf(mergedPath, merged!);
      const baseModel = await load(basePath);
      const mergedModel = await load(mergedPath);
      const expected = await runPrompts(mergedModel, PROMPTS, { vocab: VOCAB });
      const plain = await runPrompts(baseModel, PROMPTS, { vocab: VOCAB });
      const got = record('product F16 export (downloaded) vs merged', compareRuns(await withLora(baseModel, downloaded), expected));
      expect(got.sameGreedy).toBe(true);
      expect(got.maxProbDiff).toBeLessThanOrEqual(F16_TOLERANCE);
      const untouched = compareRuns(plain, expected);
      expect(untouched.sameGreedy).toBe(false);
      expect(untouched.maxProbDiff).toBeGreaterThan(CHANGED);
      await unload(mergedModel);
      await unload(baseModel);
    } finally {
      await svc.stop();
    }
  }, 90_000);
});
