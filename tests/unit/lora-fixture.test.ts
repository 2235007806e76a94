import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyFile } from '../../server/ingest/inspect/classify.ts';
import { fileRangeReader, readSafetensorsHeader } from '../../server/ingest/inspect/safetensors.ts';
import { lossCurve, randomWeights, sha256File, writeLoraOutput, writeRandomFile, writeSafetensors } from '../fixtures/lora.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lora-fixture-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lossCurve', () => {
  test('one point per step, validation every evalEvery, deterministic per seed', () => {
    const a = lossCurve({ steps: 1000, evalEvery: 100, seed: 7 });
    expect(a.length).toBe(1000);
    expect(a.map((p) => p.step)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(a.filter((p) => p.validationLoss !== null).map((p) => p.step)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(lossCurve({ steps: 1000, evalEvery: 100, seed: 7 })).toEqual(a);
    expect(lossCurve({ steps: 1000, evalEvery: 100, seed: 8 })).not.toEqual(a);
    expect(a.at(-1)!.epoch).toBe(3);
  });

  test('decays from about initial to about final, with noise', () => {
    const c = lossCurve({ steps: 5000, initial: 3, final: 1, seed: 1 });
    const mean = (from: number, to: number) => c.slice(from, to).reduce((s, p) => s + p.trainingLoss, 0) / (to - from);
    expect(mean(0, 20)).toBeGreaterThan(2.7);
    expect(mean(4900, 5000)).toBeCloseTo(1, 1);
    expect(new Set(c.slice(4900).map((p) => p.trainingLoss)).size).toBe(100);
  });

  test('learning rate warms up linearly, then follows a cosine to zero', () => {
    const c = lossCurve({ steps: 1000, peakLearningRate: 1e-3, warmupRatio: 0.1 });
    expect(c[49]!.learningRate).toBeCloseTo(5e-4, 12);
    expect(c[99]!.learningRate).toBeCloseTo(1e-3, 12);
    expect(c[549]!.learningRate).toBeCloseTo(5e-4, 6);
    expect(c[999]!.learningRate).toBeCloseTo(0, 12);
  });

  test('overfit: validation ends more than 0.5 above training', () => {
    const c = lossCurve({ steps: 2000, evalEvery: 100, overfit: true });
    const last = c.at(-1)!;
    expect(last.validationLoss! - last.trainingLoss).toBeGreaterThan(0.5);
  });

  test('diverge: ends far above where it started, still finite', () => {
    const c = lossCurve({ steps: 2000, diverge: true });
    expect(c.at(-1)!.trainingLoss).toBeGreaterThan(10);
    expect(c.every((p) => Number.isFinite(p.trainingLoss))).toBe(true);
  });
});

describe('writeRandomFile and sha256File', () => {
  test.each([0, 1, 1024 * 1024, 3 * 1024 * 1024 + 123])('%i bytes: exact size, hash matches a second read', async (bytes) => {
    const path = join(dir, `random-${bytes}.bin`);
    const written = await writeRandomFile(path, bytes, 42);
    expect(written.size).toBe(bytes);
    expect((await stat(path)).size).toBe(bytes);
    expect(await sha256File(path)).toBe(written.sha256);
  });

  test('deterministic per seed, different across seeds, not trivially compressible', async () => {
    const a = await writeRandomFile(join(dir, 'a.bin'), 100_000, 'x');
    const b = await writeRandomFile(join(dir, 'b.bin'), 100_000, 'x');
    const c = await writeRandomFile(join(dir, 'c.bin'), 100_000, 'y');
    expect(a.sha256).toBe(b.sha256);
    expect(c.sha256).not.toBe(a.sha256);
    const bytes = new Uint8Array(await Bun.file(join(dir, 'a.bin')).arrayBuffer());
    expect(Bun.gzipSync(bytes).length).toBeGreaterThan(bytes.length * 0.99);
  });
});

describe('writeSafetensors', () => {
  test('mixed dtypes with unaligned offsets: a valid file with finite, small weights', async () => {
    const path = join(dir, 'mixed.safetensors');
    const written = await writeSafetensors(
      path,
      [
        { name: 'odd_bf16', dtype: 'BF16', shape: [3], fill: randomWeights('m1', 'BF16', -6) },
        { name: 'f32', dtype: 'F32', shape: [300_000], fill: randomWeights('m2', 'F32', -10) },
      ],
      null,
    );
    expect(written.sha256).toBe(await sha256File(path));
    const info = await readSafetensorsHeader(fileRangeReader(path), written.size, 'mixed.safetensors');
    expect(info).toMatchObject({ tensorCount: 2, dtypes: ['BF16', 'F32'], parameterCount: 300_003, metadata: null });
    // The header is space-padded to a multiple of 8, so data starts at a known offset.
    const headerLength = Number(new DataView(await Bun.file(path).slice(0, 8).arrayBuffer()).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const data = new Uint8Array(
      await Bun.file(path)
        .slice(8 + headerLength)
        .arrayBuffer(),
    );
    const f32 = new DataView(data.buffer, 6);
    for (let i = 0; i < 300_000; i += 997) {
      const v = Math.abs(f32.getFloat32(i * 4, true));
      expect(v).toBeGreaterThanOrEqual(2 ** -10);
      expect(v).toBeLessThan(2 ** -9);
    }
  });
});

describe('writeLoraOutput', () => {
  test('a PEFT layout with checkpoints, every reported hash and size true', async () => {
    const out = join(dir, 'run');
    const { files } = await writeLoraOutput(out, { checkpoints: [500, 1000], seed: 3 });
    expect(files.map((f) => f.path)).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'checkpoint-1000/adapter_config.json',
      'checkpoint-1000/adapter_model.safetensors',
      'checkpoint-1000/trainer_state.json',
      'checkpoint-500/adapter_config.json',
      'checkpoint-500/adapter_model.safetensors',
      'checkpoint-500/trainer_state.json',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'trainer_state.json',
      'training_args.json',
    ]);
    for (const f of files) {
      expect((await stat(join(out, f.path))).size).toBe(f.size);
      expect(await sha256File(join(out, f.path))).toBe(f.sha256);
    }
    expect(files.filter((f) => classifyFile(f.path) === 'checkpoint').length).toBe(6);
    const weights = files.filter((f) => f.path.endsWith('.safetensors')).map((f) => f.sha256);
    expect(new Set(weights).size).toBe(3); // each checkpoint holds its own weights

    const config = await Bun.file(join(out, 'adapter_config.json')).json();
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 8,
      lora_alpha: 16,
      target_modules: ['q_proj', 'v_proj'],
      base_model_name_or_path: 'Qwen/Qwen2.5-0.5B',
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
    });
    const state = await Bun.file(join(out, 'trainer_state.json')).json();
    expect(state.global_step).toBe(1000);
    expect(state.best_model_checkpoint).toMatch(/^outputs\/checkpoint-(500|1000)$/);
    const tokenizer = await Bun.file(join(out, 'tokenizer.json')).json();
    expect(tokenizer.model.type).toBe('BPE');
  });

  test('deterministic for a seed', async () => {
    const a = await writeLoraOutput(join(dir, 'det-a'), { layers: 2, seed: 9 });
    const b = await writeLoraOutput(join(dir, 'det-b'), { layers: 2, seed: 9 });
    expect(b.files).toEqual(a.files);
  });

  test('padToBytes grows the main adapter to about that size, BF16 too', async () => {
    const out = join(dir, 'padded');
    const { files } = await writeLoraOutput(out, { padToBytes: 20_000_000, dtype: 'BF16', checkpoints: [100] });
    const main = files.find((f) => f.path === 'adapter_model.safetensors')!;
    expect(Math.abs(main.size - 20_000_000)).toBeLessThan(20_000);
    expect(files.find((f) => f.path === 'checkpoint-100/adapter_model.safetensors')!.size).toBeLessThan(2_000_000);
    const config = await Bun.file(join(out, 'adapter_config.json')).json();
    expect(config.modules_to_save).toEqual(['lm_head']);
  });
});
