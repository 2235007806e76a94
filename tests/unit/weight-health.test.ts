import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  countNonFiniteBytes,
  decodeInto,
  duplicateCheckpoints,
  gramOfColumns,
  gramOfRows,
  moduleLayer,
  moduleName,
  type WeightConfig,
} from '../../server/adapters/health.ts';
import { analyseWeightHealth } from '../../server/adapters/health-runner.ts';
import { WeightStream } from '../../server/adapters/health-stream.ts';
import type { WeightHealth } from '../../server/adapters/types.ts';
import { parseAdapterConfig } from '../../server/ingest/inspect/adapter-config.ts';
import { InspectionError } from '../../server/ingest/inspect/safetensors.ts';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.ts';
import { StorageNotFoundError } from '../../server/storage/storage.ts';
import { mulberry32, randomWeights, writeLoraOutput, writeSafetensors } from '../fixtures/lora.ts';
import { buildTinyModel, writeTinyLlamaOutput, writeTinyMlxOutput } from '../helpers/tiny-llama.ts';

let dir: string;
let storage: FsStorage;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weight-health-'));
  storage = createFsStorage({ root: join(dir, 'storage'), publicUrl: 'http://127.0.0.1:1', secret: 'test-secret-0123456789' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------
// Values exactly representable in each dtype, with their little-endian bytes, from a seeded PRNG

type Dtype = 'F32' | 'F16' | 'BF16';
type Matrix = { rows: number; cols: number; values: Float64Array };
type Tensor = { name: string; dtype: string; shape: number[]; bytes: Uint8Array };

/** Random values in ±[2^-8, 2^2) that `dtype` holds exactly, and their encoding. */
function randomMatrix(seed: number, rows: number, cols: number, dtype: Dtype): { matrix: Matrix; bytes: Uint8Array } {
  const next = mulberry32(seed);
  const n = rows * cols;
  const values = new Float64Array(n);
  const size = dtype === 'F32' ? 4 : 2;
  const bytes = new Uint8Array(n * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const sign = next() < 0.5 ? -1 : 1;
    const exponent = Math.floor(next() * 10) - 8;
    if (dtype === 'F16') {
      const mantissa = Math.floor(next() * 1024);
      values[i] = sign * (1 + mantissa / 1024) * 2 ** exponent;
      view.setUint16(i * 2, (sign < 0 ? 0x8000 : 0) | ((exponent + 15) << 10) | mantissa, true);
    } else if (dtype === 'BF16') {
      const mantissa = Math.floor(next() * 128);
      values[i] = sign * (1 + mantissa / 128) * 2 ** exponent;
      view.setUint16(i * 2, (sign < 0 ? 0x8000 : 0) | ((exponent + 127) << 7) | mantissa, true);
    } else {
      const mantissa = Math.floor(next() * 2 ** 23);
      values[i] = sign * (1 + mantissa / 2 ** 23) * 2 ** exponent;
      view.setFloat32(i * 4, values[i]!, true);
    }
  }
  return { matrix: { rows, cols, values }, bytes };
}

/** ‖s·B·A‖_F by forming B·A (out × in) in doubles. */
function bruteForceNorm(a: Matrix, b: Matrix, scale: number): number {
  let sum = 0;
  for (let o = 0; o < b.rows; o++) {
    for (let i = 0; i < a.cols; i++) {
      let v = 0;
      for (let k = 0; k < a.rows; k++) v += b.values[o * b.cols + k]! * a.values[k * a.cols + i]!;
      sum += (scale * v) ** 2;
    }
  }
  return Math.sqrt(sum);
}

/** A safetensors file in memory, tensors in the order given (any dtype, any alignment). */
function safetensors(tensors: readonly Tensor[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

const PREFIX = 'base_model.model.model.layers';
/** lora_A [r, in] and lora_B [out, r] of one module, with their values. */
function loraModule(path: string, seed: number, r: number, inDim: number, outDim: number, dtype: Dtype) {
  const a = randomMatrix(seed, r, inDim, dtype);
  const b = randomMatrix(seed + 1, outDim, r, dtype);
  const tensors: Tensor[] = [
    { name: `${path}.lora_A.weight`, dtype, shape: [r, inDim], bytes: a.bytes },
    { name: `${path}.lora_B.weight`, dtype, shape: [outDim, r], bytes: b.bytes },
  ];
  return { a: a.matrix, b: b.matrix, tensors };
}

/** Feeds `bytes` to a WeightStream in pieces of the given sizes (cycled). */
function walk(bytes: Uint8Array, config: WeightConfig | null, pieces: number[] = [bytes.length], name = 'adapter_model.safetensors'): WeightHealth {
  const stream = new WeightStream(name, bytes.length, config);
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, pieces[i % pieces.length]!);
    // A copy per piece, as the worker receives them: each in a buffer of its own.
    stream.push(bytes.slice(at, at + n));
    at += n;
  }
  return stream.finish();
}

const config = (over: Partial<WeightConfig> = {}): WeightConfig => ({
  rank: 8,
  alpha: 16,
  rankPattern: {},
  alphaPattern: {},
  useRslora: false,
  ...over,
});

function expectNorm(actual: number | null | undefined, expected: number) {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(1e-9 * expected);
}

// ---------------------------------------------------------------------------------------------------

describe('Gram matrices', () => {
  test.each([
    [1, 3],
    [4, 5],
    [5, 7],
    [9, 2],
    [13, 33],
  ])('A·Aᵀ and Bᵀ·B of %i × %i match the definition on the upper triangle', (rows, cols) => {
    const { matrix } = randomMatrix(rows * 100 + cols, rows, cols, 'F32');
    const x = Float32Array.from(matrix.values);
    const byRows = gramOfRows(x, rows, cols);
    const byCols = gramOfColumns(x, rows, cols);
    for (let i = 0; i < rows; i++) {
      for (let j = i; j < rows; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += matrix.values[i * cols + k]! * matrix.values[j * cols + k]!;
        expect(byRows[i * rows + j]).toBeCloseTo(s, 12);
      }
    }
    for (let i = 0; i < cols; i++) {
      for (let j = i; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < rows; k++) s += matrix.values[k * cols + i]! * matrix.values[k * cols + j]!;
        expect(byCols[i * cols + j]).toBeCloseTo(s, 12);
      }
    }
  });
});

describe('decoding and scanning', () => {
  test('F16 special values, subnormals and signed zero', () => {
    const bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0xfc00, 0x7e00];
    const bytes = new Uint8Array(new Uint16Array(bits).buffer);
    const out = new Float32Array(bits.length);
    decodeInto(out, 0, bytes, 'F16');
    expect([...out]).toEqual([0, -0, 2 ** -24, 1023 * 2 ** -24, 1, -2, 65504, Infinity, -Infinity, Number.NaN]);
    expect(Object.is(out[1], -0)).toBe(true);
  });

  test('BF16 is the top half of a float32; a misaligned source decodes the same', () => {
    const { matrix, bytes } = randomMatrix(3, 1, 9, 'BF16');
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const out = new Float32Array(10);
    decodeInto(out, 1, shifted.subarray(1), 'BF16');
    expect([...out.subarray(1)]).toEqual([...matrix.values]);
  });

  test.each([
    ['F32', 4, [0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001], 0x3f800000],
    ['F16', 2, [0x7c00, 0xfc00, 0x7e00, 0x7c01], 0x3c00],
    ['BF16', 2, [0x7f80, 0xff80, 0x7fc0, 0x7f81], 0x3f80],
    ['F8_E5M2', 1, [0x7c, 0xfc, 0x7e, 0x7f], 0x3c],
    ['F8_E4M3', 1, [0x7f, 0xff], 0x7e],
  ] as const)('%s: NaN and infinities counted anywhere, across probe blocks and misaligned', (dtype, size, specials, finite) => {
    const n = 10_000;
    const positions = [0, 1, 2047, 2048, 4095, 4096, 4097, 9_999];
    const bytes = new Uint8Array(n * size + 1).subarray(1); // byteOffset 1: no typed view fits
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const put = (i: number, v: number) =>
      size === 4 ? view.setUint32(i * 4, v, true) : size === 2 ? view.setUint16(i * 2, v, true) : view.setUint8(i, v);
    for (let i = 0; i < n; i++) put(i, finite);
    for (const [k, p] of positions.entries()) put(p, specials[k % specials.length]!);
    expect(countNonFiniteBytes(bytes, dtype)).toBe(positions.length);
    expect(countNonFiniteBytes(bytes.slice(size), dtype)).toBe(positions.length - 1);
  });

  test('F64 and integer dtypes', () => {
    const f64 = new Float64Array([1, Number.NaN, -Infinity, 2.5]);
    expect(countNonFiniteBytes(new Uint8Array(f64.buffer), 'F64')).toBe(2);
    expect(countNonFiniteBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 'I32')).toBe(0);
  });
});

describe('module names', () => {
  test('prefixes dropped, layer index read', () => {
    expect(moduleName(`${PREFIX}.3.self_attn.q_proj`)).toBe('layers.3.self_attn.q_proj');
    expect(moduleName('base_model.model.lm_head')).toBe('lm_head');
    expect(moduleName('transformer.h.0.attn.c_attn')).toBe('transformer.h.0.attn.c_attn');
    expect(moduleLayer('layers.31.mlp.down_proj')).toBe(31);
    expect(moduleLayer('lm_head')).toBeNull();
    expect(moduleLayer('mylayers.3.q')).toBeNull();
  });
});

describe('update norms against B·A formed in full', () => {
  test.each(['F32', 'F16', 'BF16'] as const)('%s, ranks with and without a whole 4×4 block', (dtype) => {
    const modules = [
      loraModule(`${PREFIX}.0.self_attn.q_proj`, 10, 8, 24, 24, dtype),
      loraModule(`${PREFIX}.0.self_attn.v_proj`, 20, 8, 24, 6, dtype),
      loraModule(`${PREFIX}.1.mlp.down_proj`, 30, 8, 40, 24, dtype),
    ];
    const health = walk(safetensors(modules.flatMap((m) => m.tensors)), config());
    expect(health.modules.map((m) => [m.name, m.layer])).toEqual([
      ['layers.0.self_attn.q_proj', 0],
      ['layers.0.self_attn.v_proj', 0],
      ['layers.1.mlp.down_proj', 1],
    ]);
    for (const [i, m] of modules.entries()) expectNorm(health.modules[i]!.updateNorm, bruteForceNorm(m.a, m.b, 16 / 8));
    expect(health).toMatchObject({ file: 'adapter_model.safetensors', warnings: [], untrained: false });
  });

  test.each([1, 3, 5, 6, 7])('rank %i', (r) => {
    const m = loraModule(`${PREFIX}.0.self_attn.q_proj`, r, r, 11, 13, 'F32');
    const health = walk(safetensors(m.tensors), config({ rank: r, alpha: 3 }));
    expectNorm(health.modules[0]!.updateNorm, bruteForceNorm(m.a, m.b, 3 / r));
  });

  test('rank_pattern and alpha_pattern set the scale per module, as PEFT matches them', () => {
    const q = loraModule(`${PREFIX}.0.self_attn.q_proj`, 40, 8, 16, 16, 'F32');
    const v = loraModule(`${PREFIX}.0.self_attn.v_proj`, 50, 4, 16, 16, 'F32');
    const vOther = loraModule(`${PREFIX}.1.self_attn.v_proj`, 60, 8, 16, 16, 'F32');
    const bytes = safetensors([...q.tensors, ...v.tensors, ...vOther.tensors]);
    const health = walk(bytes, config({ rankPattern: { 'layers.0.self_attn.v_proj': 4 }, alphaPattern: { v_proj: 32, 'q_pr.j': 2 } }));
    expectNorm(health.modules[0]!.updateNorm, bruteForceNorm(q.a, q.b, 2 / 8));
    expectNorm(health.modules[1]!.updateNorm, bruteForceNorm(v.a, v.b, 32 / 4));
    expectNorm(health.modules[2]!.updateNorm, bruteForceNorm(vOther.a, vOther.b, 32 / 8));
  });

  test('use_rslora scales by alpha / sqrt(r)', () => {
    const m = loraModule(`${PREFIX}.0.self_attn.q_proj`, 70, 16, 20, 20, 'BF16');
    const health = walk(safetensors(m.tensors), config({ rank: 16, alpha: 8, useRslora: true }));
    expectNorm(health.modules[0]!.updateNorm, bruteForceNorm(m.a, m.b, 8 / 4));
  });

  test('no config: s = 1; a config without lora_alpha: PEFT default 8', () => {
    const m = loraModule(`${PREFIX}.0.self_attn.q_proj`, 80, 4, 8, 8, 'F32');
    const bytes = safetensors(m.tensors);
    expectNorm(walk(bytes, null).modules[0]!.updateNorm, bruteForceNorm(m.a, m.b, 1));
    expectNorm(walk(bytes, config({ rank: 4, alpha: null })).modules[0]!.updateNorm, bruteForceNorm(m.a, m.b, 8 / 4));
  });

  test('embedding LoRA and a saved non-LoRA tensor; the latter is no module', () => {
    const a = randomMatrix(90, 4, 50, 'F32'); // lora_embedding_A [r, vocab]
    const b = randomMatrix(91, 12, 4, 'F32'); // lora_embedding_B [hidden, r]
    const head = randomMatrix(92, 50, 12, 'BF16');
    const bytes = safetensors([
      { name: 'base_model.model.lm_head.weight', dtype: 'BF16', shape: [50, 12], bytes: head.bytes },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_A', dtype: 'F32', shape: [4, 50], bytes: a.bytes },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_B', dtype: 'F32', shape: [12, 4], bytes: b.bytes },
    ]);
    const health = walk(bytes, config({ rank: 4, alpha: 4 }));
    expect(health.modules).toHaveLength(1);
    expect(health.modules[0]).toMatchObject({ name: 'embed_tokens', layer: null });
    expectNorm(health.modules[0]!.updateNorm, bruteForceNorm(a.matrix, b.matrix, 1));
  });

  test('mixed dtypes at misaligned offsets, in any chunking, give the same answer', () => {
    // 3 BF16 values put the next tensor at an offset ≡ 2 (mod 4): its F32 bytes never fit a typed view in place.
    const odd = randomMatrix(100, 1, 3, 'BF16');
    const q = loraModule(`${PREFIX}.0.self_attn.q_proj`, 110, 5, 9, 7, 'F32');
    const k = loraModule(`${PREFIX}.0.self_attn.k_proj`, 120, 5, 9, 3, 'F16');
    const v = loraModule(`${PREFIX}.0.self_attn.v_proj`, 130, 5, 9, 3, 'BF16');
    const bytes = safetensors([
      { name: 'base_model.model.model.norm.weight', dtype: 'BF16', shape: [3], bytes: odd.bytes },
      ...q.tensors,
      ...k.tensors,
      ...v.tensors,
    ]);
    const c = config({ rank: 5, alpha: 10 });
    const whole = walk(bytes, c);
    for (const [i, m] of [q, k, v].entries()) expectNorm(whole.modules[i]!.updateNorm, bruteForceNorm(m.a, m.b, 2));
    for (const pieces of [[1], [3], [7], [2, 5, 11], [4093], [bytes.length - 1, 1]]) {
      expect(walk(bytes, c, pieces)).toEqual(whole);
    }
  });
});

describe('warnings', () => {
  const zeros = (n: number) => new Uint8Array(n);

  test('every lora_B zero: untrained, norms 0', () => {
    const modules = [0, 1].map((layer) => loraModule(`${PREFIX}.${layer}.self_attn.q_proj`, 200 + layer, 4, 8, 8, 'BF16'));
    for (const m of modules) m.tensors[1]!.bytes = zeros(m.tensors[1]!.bytes.length);
    modules[1]!.tensors.reverse(); // lora_B before lora_A: the order must not matter
    const health = walk(safetensors(modules.flatMap((m) => m.tensors)), config({ rank: 4 }));
    expect(health.untrained).toBe(true);
    expect(health.modules.map((m) => m.updateNorm)).toEqual([0, 0]);
    expect(health.warnings).toEqual([
      {
        code: 'untrained',
        message: 'every lora_B is zero: the adapter was never trained and changes nothing (PEFT initialises B to zero)',
        subjects: [],
      },
    ]);
  });

  test('some lora_B zero (negative zero too): those modules named', () => {
    const modules = [0, 1, 2].map((layer) => loraModule(`${PREFIX}.${layer}.mlp.up_proj`, 300 + layer, 4, 8, 8, 'F32'));
    modules[1]!.tensors[1]!.bytes = new Uint8Array(new Float32Array(32).fill(-0).buffer);
    const health = walk(safetensors(modules.flatMap((m) => m.tensors)), config({ rank: 4 }));
    expect(health.untrained).toBe(false);
    expect(health.modules[1]!.updateNorm).toBe(0);
    expect(health.modules[0]!.updateNorm).toBeGreaterThan(0);
    expect(health.warnings).toEqual([
      { code: 'untrained_modules', message: expect.stringMatching(/^1 of 3 modules have an all-zero lora_B/), subjects: ['layers.1.mlp.up_proj'] },
    ]);
  });

  test('NaN and Inf: counted per tensor, LoRA or not, across chunk boundaries; the module norm is null', () => {
    const q = loraModule(`${PREFIX}.0.self_attn.q_proj`, 400, 4, 8, 8, 'BF16');
    const v = loraModule(`${PREFIX}.0.self_attn.v_proj`, 410, 4, 8, 8, 'F16');
    new DataView(q.tensors[1]!.bytes.buffer).setUint16(6, 0x7fc0, true); // BF16 NaN in lora_B
    new DataView(v.tensors[0]!.bytes.buffer).setUint16(0, 0xfc00, true); // F16 -Inf in lora_A
    const head = new Float32Array(1000).fill(0.5);
    head[0] = Number.POSITIVE_INFINITY;
    head[500] = Number.NaN;
    head[999] = Number.NaN;
    const bytes = safetensors([
      ...q.tensors,
      ...v.tensors,
      { name: 'base_model.model.lm_head.weight', dtype: 'F32', shape: [100, 10], bytes: new Uint8Array(head.buffer) },
    ]);
    for (const pieces of [[bytes.length], [1], [3]]) {
      const health = walk(bytes, config({ rank: 4 }), pieces);
      expect(health.modules.map((m) => m.updateNorm)).toEqual([null, null]);
      expect(health.untrained).toBe(false);
      expect(health.warnings).toEqual([
        {
          code: 'non_finite',
          message: "5 NaN or infinite values in 3 tensors: the adapter would turn the model's outputs into NaN",
          subjects: [`${PREFIX}.0.self_attn.q_proj.lora_B.weight`, `${PREFIX}.0.self_attn.v_proj.lora_A.weight`, 'base_model.model.lm_head.weight'],
        },
      ]);
    }
  });

  test('a lone lora_A, an unpaired rank and an undecodable dtype: null norms, no error', () => {
    const lone = randomMatrix(500, 4, 8, 'F32');
    const a = randomMatrix(510, 4, 8, 'F32');
    const b = randomMatrix(520, 8, 3, 'F32');
    const f64 = new Uint8Array(new Float64Array(32).fill(0.25).buffer);
    const bytes = safetensors([
      { name: `${PREFIX}.0.self_attn.q_proj.lora_A.weight`, dtype: 'F32', shape: [4, 8], bytes: lone.bytes },
      { name: `${PREFIX}.0.self_attn.v_proj.lora_A.weight`, dtype: 'F32', shape: [4, 8], bytes: a.bytes },
      { name: `${PREFIX}.0.self_attn.v_proj.lora_B.weight`, dtype: 'F32', shape: [8, 3], bytes: b.bytes },
      { name: `${PREFIX}.0.self_attn.k_proj.lora_A.weight`, dtype: 'F64', shape: [4, 8], bytes: f64 },
      { name: `${PREFIX}.0.self_attn.k_proj.lora_B.weight`, dtype: 'F64', shape: [8, 4], bytes: f64 },
    ]);
    const health = walk(bytes, null);
    expect(health.modules.map((m) => [m.name, m.updateNorm])).toEqual([
      ['layers.0.self_attn.q_proj', null],
      ['layers.0.self_attn.v_proj', null],
      ['layers.0.self_attn.k_proj', null],
    ]);
    expect(health.warnings).toEqual([]);
  });

  test('duplicate checkpoints: one warning per group of equal adapter weights, the final adapter first', () => {
    const files = [
      { path: 'adapter_model.safetensors', sha256: 'f', kind: 'adapter_weights' },
      { path: 'checkpoint-500/adapter_model.safetensors', sha256: 'a', kind: 'checkpoint' },
      { path: 'checkpoint-1000/adapter_model.safetensors', sha256: 'f', kind: 'checkpoint' },
      { path: 'checkpoint-750/adapter_model.safetensors', sha256: 'a', kind: 'checkpoint' },
      { path: 'checkpoint-250/adapter_model.safetensors', sha256: 'b', kind: 'checkpoint' },
      // Equal hashes that are not adapter weights say nothing.
      { path: 'checkpoint-500/tokenizer.json', sha256: 't', kind: 'checkpoint' },
      { path: 'checkpoint-750/tokenizer.json', sha256: 't', kind: 'checkpoint' },
      { path: 'checkpoint-250/optimizer.pt', sha256: 'b', kind: 'checkpoint' },
    ];
    expect(duplicateCheckpoints(files, 'adapter_model.safetensors')).toEqual([
      {
        code: 'duplicate_checkpoint',
        message: 'a checkpoint holds the same adapter weights as the final adapter (same SHA-256)',
        subjects: ['adapter_model.safetensors', 'checkpoint-1000/adapter_model.safetensors'],
      },
      {
        code: 'duplicate_checkpoint',
        message: '2 checkpoints hold identical adapter weights (same SHA-256): training did not change them in between',
        subjects: ['checkpoint-500/adapter_model.safetensors', 'checkpoint-750/adapter_model.safetensors'],
      },
    ]);
    expect(duplicateCheckpoints(files.slice(0, 2), 'adapter_model.safetensors')).toEqual([]);
    // The final adapter equal to the trainer's best checkpoint is load_best_model_at_end at work, and said so.
    const [atEnd] = duplicateCheckpoints(files, 'adapter_model.safetensors', 'checkpoint-1000');
    expect(atEnd?.message).toBe(
      "the final adapter is checkpoint-1000's, the trainer's best checkpoint (same SHA-256): load_best_model_at_end saved it as the final adapter",
    );
    expect(duplicateCheckpoints(files, 'adapter_model.safetensors', 'checkpoint-500')[0]?.message).toBe(
      'a checkpoint holds the same adapter weights as the final adapter (same SHA-256)',
    );
    // MLX names its weights adapters.safetensors; the main file counts whatever its name.
    const mlx = [
      { path: 'weights.safetensors', sha256: 'x', kind: 'other' },
      { path: 'checkpoint-100/adapters.safetensors', sha256: 'x', kind: 'checkpoint' },
    ];
    expect(duplicateCheckpoints(mlx, 'weights.safetensors').map((w) => w.subjects)).toEqual([
      ['weights.safetensors', 'checkpoint-100/adapters.safetensors'],
    ]);
    // mlx-lm's checkpoints are single files beside the adapter (0000100_adapters.safetensors).
    const mlxFiles = [
      { path: 'adapters.safetensors', sha256: 'z', kind: 'adapter_weights' },
      { path: '0000100_adapters.safetensors', sha256: 'y', kind: 'checkpoint' },
      { path: '0000200_adapters.safetensors', sha256: 'z', kind: 'checkpoint' },
    ];
    expect(duplicateCheckpoints(mlxFiles, 'adapters.safetensors').map((w) => w.subjects)).toEqual([
      ['adapters.safetensors', '0000200_adapters.safetensors'],
    ]);
  });
});

describe('corrupt input', () => {
  test.each([
    ['cut inside the data', (b: Uint8Array) => b.subarray(0, b.length - 5), /file is truncated: read \d+ of \d+ bytes/],
    ['cut inside the header', (b: Uint8Array) => b.subarray(0, 20), /file is truncated/],
  ])('%s: rejected with InspectionError', (_name, cut, message) => {
    const m = loraModule(`${PREFIX}.0.self_attn.q_proj`, 600, 4, 8, 8, 'F32');
    const bytes = safetensors(m.tensors);
    const stream = new WeightStream('adapter_model.safetensors', bytes.length, null);
    stream.push(cut(bytes).slice());
    expect(() => stream.finish()).toThrow(InspectionError);
    expect(() => stream.finish()).toThrow(message);
  });

  test('a header longer than the file, invalid JSON, more bytes than recorded', () => {
    const bytes = safetensors(loraModule(`${PREFIX}.0.self_attn.q_proj`, 610, 4, 8, 8, 'F32').tensors);
    const long = bytes.slice();
    new DataView(long.buffer).setBigUint64(0, BigInt(bytes.length), true);
    expect(() => walk(long, null)).toThrow(/header length \d+ exceeds file size/);
    const broken = bytes.slice();
    broken[8] = 0x5b; // '[': not a JSON object
    expect(() => walk(broken, null)).toThrow(InspectionError);
    const stream = new WeightStream('adapter_model.safetensors', bytes.length - 1, null);
    expect(() => stream.push(bytes.slice())).toThrow(/longer than its recorded/);
  });
});

describe('analyseWeightHealth (fs storage, worker)', () => {
  async function store(key: string, path: string): Promise<number> {
    await storage.put(key, Bun.file(path).stream() as ReadableStream<Uint8Array>);
    return Bun.file(path).size;
  }

  test('a generated PEFT adapter with a saved lm_head: same answer as the walk in place', async () => {
    const out = join(dir, 'padded');
    const { files } = await writeLoraOutput(out, { rank: 16, alpha: 32, layers: 2, hidden: 256, dtype: 'BF16', padToBytes: 9_000_000 });
    const main = files.find((f) => f.path === 'adapter_model.safetensors')!;
    const size = await store('u/padded/0', join(out, main.path));
    const c = config({ rank: 16, alpha: 32 });
    const health = await analyseWeightHealth(storage, { key: 'u/padded/0', size, path: main.path }, c);
    expect(health.modules.map((m) => m.name)).toEqual([
      'layers.0.self_attn.q_proj',
      'layers.0.self_attn.v_proj',
      'layers.1.self_attn.q_proj',
      'layers.1.self_attn.v_proj',
    ]);
    expect(health.modules.every((m) => m.updateNorm !== null && m.updateNorm > 0)).toBe(true);
    expect(health).toEqual(walk(new Uint8Array(await Bun.file(join(out, main.path)).arrayBuffer()), c, [65_537]));
  });

  test('NaN in a multi-megabyte saved tensor is found through the runner', async () => {
    const path = join(dir, 'nan.safetensors');
    const fill = randomWeights('nan-head', 'F32', -6);
    const rows = 1024;
    await writeSafetensors(path, [
      { name: `${PREFIX}.0.self_attn.q_proj.lora_A.weight`, dtype: 'F32', shape: [8, 64], fill: randomWeights('a', 'F32', -6) },
      { name: `${PREFIX}.0.self_attn.q_proj.lora_B.weight`, dtype: 'F32', shape: [64, 8], fill: randomWeights('b', 'F32', -10) },
      {
        name: 'base_model.model.lm_head.weight',
        dtype: 'F32',
        shape: [rows, 2048],
        fill: (chunk, offset) => {
          fill(chunk, offset);
          // One NaN at the very last element, 8 MiB in: past several batches.
          const last = rows * 2048 * 4 - 4;
          if (offset <= last && last < offset + chunk.length) new DataView(chunk.buffer, chunk.byteOffset).setUint32(last - offset, 0x7fc00000, true);
        },
      },
    ]);
    const size = await store('u/nan/0', path);
    const health = await analyseWeightHealth(storage, { key: 'u/nan/0', size, path: 'adapter_model.safetensors' }, null);
    expect(health.warnings.map((w) => [w.code, w.subjects])).toEqual([['non_finite', ['base_model.model.lm_head.weight']]]);
    expect(health.modules[0]!.updateNorm).toBeGreaterThan(0);
  });

  test('a truncated stored file, a missing object, an abort and a deadline all reject', async () => {
    const out = join(dir, 'small');
    const { files } = await writeLoraOutput(out, { layers: 2, hidden: 64 });
    const main = join(out, 'adapter_model.safetensors');
    const full = files.find((f) => f.path === 'adapter_model.safetensors')!.size;
    await truncate(main, full - 100);
    await store('u/cut/0', main);
    const file = { key: 'u/cut/0', size: full, path: 'adapter_model.safetensors' };
    const error = await analyseWeightHealth(storage, file, null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectionError);
    expect((error as InspectionError).message).toBe(`adapter_model.safetensors: file is truncated: read ${full - 100} of ${full} bytes`);

    const missing = await analyseWeightHealth(storage, { ...file, key: 'u/none/0' }, null).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StorageNotFoundError);

    const controller = new AbortController();
    const reason = new Error('ingest cancelled');
    const aborted = analyseWeightHealth(storage, file, null, { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(reason);
    expect(await aborted).toBe(reason);

    // A worker cannot even start in 1 ms: the deadline ends it.
    const late = await analyseWeightHealth(storage, { ...file, size: full - 100 }, null, { timeoutMs: 1 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(InspectionError);
    expect((late as InspectionError).problem).toMatch(/took longer than/);
  });
});

describe('mlx-lm adapters: lora_a [in, r], lora_b [r, out]', () => {
  /** `bytes` of a rows × cols matrix of `size`-byte elements, transposed. */
  function transposeBytes(bytes: Uint8Array, rows: number, cols: number, size: number): Uint8Array {
    const out = new Uint8Array(bytes.length);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out.set(bytes.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
    }
    return out;
  }
  /** One module in mlx's form: PEFT's A and B (kept for the brute-force norm), stored transposed under mlx's names. */
  function mlxModule(path: string, seed: number, r: number, inDim: number, outDim: number, dtype: Dtype) {
    const peft = loraModule(path, seed, r, inDim, outDim, dtype);
    const size = dtype === 'F32' ? 4 : 2;
    const tensors: Tensor[] = [
      { name: `${path}.lora_a`, dtype, shape: [inDim, r], bytes: transposeBytes(peft.tensors[0]!.bytes, r, inDim, size) },
      { name: `${path}.lora_b`, dtype, shape: [r, outDim], bytes: transposeBytes(peft.tensors[1]!.bytes, outDim, r, size) },
    ];
    return { a: peft.a, b: peft.b, tensors };
  }

  test.each(['F32', 'F16', 'BF16'] as const)('%s: ‖scale·A·B‖ matches B·A formed in full, in any chunking', (dtype) => {
    const modules = [
      mlxModule('model.layers.0.self_attn.q_proj', 40, 8, 24, 24, dtype),
      mlxModule('model.layers.0.self_attn.v_proj', 50, 5, 24, 6, dtype),
      mlxModule('model.layers.1.mlp.down_proj', 60, 7, 40, 24, dtype),
    ];
    const bytes = safetensors(modules.flatMap((m) => m.tensors));
    // mlx's scale 20 (its default) is alpha / r = 20 with alpha = scale · rank, as parseAdapterConfig gives it.
    const mlxConfig = parseAdapterConfig('{"fine_tune_type": "lora", "lora_parameters": {"rank": 8, "scale": 20}}');
    for (const pieces of [[bytes.length], [7, 13], [4096]]) {
      const health = walk(bytes, mlxConfig, pieces, 'adapters.safetensors');
      expect(health.modules.map((m) => [m.name, m.layer])).toEqual([
        ['layers.0.self_attn.q_proj', 0],
        ['layers.0.self_attn.v_proj', 0],
        ['layers.1.mlp.down_proj', 1],
      ]);
      for (const [i, m] of modules.entries()) expectNorm(health.modules[i]!.updateNorm, bruteForceNorm(m.a, m.b, 20));
      expect(health).toMatchObject({ file: 'adapters.safetensors', warnings: [], untrained: false });
    }
  });

  test('an all-zero lora_b is untrained; MoE expert stacks [E, r, in] and DoRA magnitudes get no norm, and no error', () => {
    const trained = mlxModule('model.layers.0.self_attn.q_proj', 70, 4, 16, 16, 'F32');
    const zeroB: Tensor = { name: 'model.layers.0.self_attn.v_proj.lora_b', dtype: 'F32', shape: [4, 8], bytes: new Uint8Array(4 * 8 * 4) };
    const a = randomMatrix(71, 16, 4, 'F32');
    const experts: Tensor[] = [
      { name: 'model.layers.0.mlp.switch_mlp.up_proj.lora_a', dtype: 'F32', shape: [2, 4, 16], bytes: randomMatrix(72, 8, 16, 'F32').bytes },
      { name: 'model.layers.0.mlp.switch_mlp.up_proj.lora_b', dtype: 'F32', shape: [2, 16, 4], bytes: randomMatrix(73, 32, 4, 'F32').bytes },
    ];
    const magnitude: Tensor = { name: 'model.layers.0.self_attn.q_proj.m', dtype: 'F32', shape: [16], bytes: randomMatrix(74, 1, 16, 'F32').bytes };
    const health = walk(
      safetensors([
        ...trained.tensors,
        { name: 'model.layers.0.self_attn.v_proj.lora_a', dtype: 'F32', shape: [16, 4], bytes: a.bytes },
        zeroB,
        ...experts,
        magnitude,
      ]),
      null,
    );
    expect(health.modules.map((m) => [m.name, m.updateNorm === null ? null : m.updateNorm > 0])).toEqual([
      ['layers.0.self_attn.q_proj', true],
      ['layers.0.self_attn.v_proj', false],
      ['layers.0.mlp.switch_mlp.up_proj', null],
    ]);
    expect(health.warnings.map((w) => [w.code, w.subjects])).toEqual([['untrained_modules', ['layers.0.self_attn.v_proj']]]);
  });

  test('the same adapter in PEFT and in mlx form: the same norms (through the worker), names and warnings', async () => {
    const model = buildTinyModel({ seed: 1 });
    for (const dtype of ['F32', 'BF16'] as const) {
      const options = { rank: 8, alpha: 16, seed: 5, dtype };
      const peftDir = join(dir, `health-peft-${dtype}`);
      const mlxDir = join(dir, `health-mlx-${dtype}`);
      await writeTinyLlamaOutput(peftDir, { model, adapter: options });
      await writeTinyMlxOutput(mlxDir, { model, adapter: options });
      const run = async (folder: string, file: string) => {
        const path = join(folder, file);
        await storage.put(`u/${folder.slice(dir.length + 1)}/0`, Bun.file(path).stream() as ReadableStream<Uint8Array>);
        const config = parseAdapterConfig(await Bun.file(join(folder, 'adapter_config.json')).text());
        return analyseWeightHealth(storage, { key: `u/${folder.slice(dir.length + 1)}/0`, size: Bun.file(path).size, path: file }, config);
      };
      const peft = await run(peftDir, 'adapter_model.safetensors');
      const mlx = await run(mlxDir, 'adapters.safetensors');
      expect(mlx.modules.map((m) => m.name)).toEqual(peft.modules.map((m) => m.name));
      expect(mlx.modules.length).toBe(2 * 7 + 2);
      for (const [i, m] of peft.modules.entries()) {
        expect(m.updateNorm).toBeGreaterThan(0);
        expectNorm(mlx.modules[i]!.updateNorm, m.updateNorm!);
      }
      expect({ warnings: mlx.warnings, untrained: mlx.untrained }).toEqual({ warnings: peft.warnings, untrained: peft.untrained });
    }
  });
});
