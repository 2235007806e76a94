import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import {
  type BaseHeads,
  ExportError,
  type ExportOptions,
  exportGguf,
  f32BitsToF16Bits,
  type GgufExportConfig,
  type LlamaCppArch,
  peftToGgufPlan,
} from '../../server/adapters/gguf/convert.ts';
import { exportPath } from '../../server/adapters/export.ts';
import { GGUF_ALIGNMENT, type GgufMetadata, ggufLayout, ggufPad } from '../../server/adapters/gguf/writer.ts';
import { parseAdapterConfig } from '../../server/ingest/inspect/adapter-config.ts';
import { fileRangeReader, type RangeReader } from '../../server/ingest/inspect/safetensors.ts';
import { type TensorSource, writeSafetensors } from '../fixtures/lora.ts';
import {
  buildTinyAdapter,
  buildTinyModel,
  type TinyAdapter,
  writeGgufFile,
  writeTinyAdapterSafetensors,
  writeTinyLlamaOutput,
  writeTinyMlxOutput,
} from '../helpers/tiny-llama.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-export-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEADS: BaseHeads = { attentionHeads: 4, kvHeads: 2 };
const config = (over: Partial<GgufExportConfig> = {}): GgufExportConfig => ({
  alpha: 16,
  rank: null,
  rankPattern: {},
  alphaPattern: {},
  useRslora: false,
  ...over,
});

/** An F32 tensor whose values are given (row-major). */
const f32 = (name: string, shape: number[], values: ArrayLike<number>): TensorSource => {
  const bytes = new Uint8Array(Float32Array.from(values).buffer);
  return { name, dtype: 'F32', shape, fill: (chunk, at) => chunk.set(bytes.subarray(at, at + chunk.length)) };
};
const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));

/** Exports `path` to `<path>.gguf` and parses the result with @huggingface/gguf (an independent reader). */
async function exportFile(
  path: string,
  cfg: GgufExportConfig = config(),
  arch: LlamaCppArch = 'llama',
  heads: BaseHeads = HEADS,
  options: ExportOptions = {},
) {
  const { size, stream } = await exportGguf(fileRangeReader(path), Bun.file(path).size, cfg, arch, 'tiny adapter', heads, options);
  const out = `${path}.gguf`;
  await Bun.write(out, new Response(stream));
  const parsed = await gguf(out, { allowLocalFile: true });
  const file = new Uint8Array(await Bun.file(out).arrayBuffer());
  /** A tensor's data decoded to numbers (F16 or F32). */
  const data = (name: string): number[] => {
    const info = parsed.tensorInfos.find((t) => t.name === name);
    if (!info) throw new Error(`no tensor ${name}`);
    const count = info.shape.reduce((a, d) => a * Number(d), 1);
    const at = Number(parsed.tensorDataOffset + info.offset);
    const view = new DataView(file.buffer, at);
    return range(count, (i) => (info.dtype === 0 ? view.getFloat32(i * 4, true) : f16ToNumber(view.getUint16(i * 2, true))));
  };
  return { size, fileSize: file.length, parsed, data };
}

/** IEEE half → number, written out independently of the converter. */
function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const f16round = (Math as unknown as { f16round(x: number): number }).f16round;

async function expectExportError(promise: Promise<unknown>, message: RegExp) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExportError);
  expect((error as Error).message).toMatch(message);
}

/** Runs the whole export, stream included, of a file written from `tensors`. */
async function exportTensors(name: string, tensors: TensorSource[], cfg = config(), arch: LlamaCppArch = 'llama', heads = HEADS) {
  const path = join(dir, `${name}.safetensors`);
  await writeSafetensors(path, tensors);
  return exportFile(path, cfg, arch, heads);
}

describe('ggufLayout', () => {
  test('every value type, tensor infos and offsets read back with @huggingface/gguf', async () => {
    const meta: GgufMetadata = {
      'general.architecture': { type: 'string', value: 'llama' },
      'test.u32': { type: 'u32', value: 4_000_000_000 },
      'test.i32': { type: 'i32', value: -7 },
      'test.f32': { type: 'f32', value: 0.25 },
      'test.bool': { type: 'bool', value: true },
      'test.strings': { type: 'string[]', value: ['a', 'ünï', ''] },
      'test.floats': { type: 'f32[]', value: [1.5, -2] },
      'test.ints': { type: 'i32[]', value: [1, -1, 6] },
    };
    const tensors = [
      { name: 'a.weight', shape: [3, 5], data: Float32Array.from(range(15)) }, // 60 bytes: padded to 64
      { name: 'b', shape: [7], data: Float32Array.from(range(7, (i) => -i)) },
    ];
    const path = join(dir, 'layout.gguf');
    await writeGgufFile(path, meta, tensors);
    const layout = ggufLayout(
      meta,
      tensors.map((t) => ({ name: t.name, dims: [...t.shape].reverse(), type: 'F32' })),
    );
    expect(layout.offsets).toEqual([0, 64]);
    expect(layout.sizes).toEqual([60, 28]);
    expect(layout.header.length % GGUF_ALIGNMENT).toBe(0);
    expect(layout.totalBytes).toBe(layout.header.length + 64 + 32);
    expect(Bun.file(path).size).toBe(layout.totalBytes);

    const parsed = await gguf(path, { allowLocalFile: true });
    expect(parsed.metadata.version).toBe(3);
    expect(Number(parsed.metadata.tensor_count)).toBe(2);
    expect(Number(parsed.metadata.kv_count)).toBe(8);
    const m = parsed.metadata as unknown as Record<string, unknown>;
    expect(m['general.architecture']).toBe('llama');
    expect(m['test.u32']).toBe(4_000_000_000);
    expect(m['test.i32']).toBe(-7);
    expect(m['test.f32']).toBe(0.25);
    expect(m['test.bool']).toBe(true);
    expect(m['test.strings']).toEqual(['a', 'ünï', '']);
    expect(m['test.floats']).toEqual([1.5, -2]);
    expect(m['test.ints']).toEqual([1, -1, 6]);
    expect(Number(parsed.tensorDataOffset)).toBe(layout.header.length);
    expect(parsed.tensorInfos.map((t) => [t.name, t.n_dims, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual([
      ['a.weight', 2, [5, 3], 0, 0],
      ['b', 1, [7], 0, 64],
    ]);
    const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
    const view = new DataView(bytes.buffer, layout.header.length);
    expect(range(15, (i) => view.getFloat32(i * 4, true))).toEqual(range(15));
    expect(range(7, (i) => view.getFloat32(64 + i * 4, true))).toEqual(range(7, (i) => -i));
  });

  test('general.alignment changes the padding; bad specs are refused', () => {
    const meta: GgufMetadata = { 'general.alignment': { type: 'u32', value: 64 } };
    const layout = ggufLayout(meta, [
      { name: 'x', dims: [3], type: 'F16' },
      { name: 'y', dims: [1], type: 'F32' },
    ]);
    expect(layout.offsets).toEqual([0, 64]);
    expect(layout.header.length % 64).toBe(0);
    expect(ggufPad(65, 64)).toBe(128);
    expect(() => ggufLayout({}, [{ name: 'x'.repeat(64), dims: [1], type: 'F32' }])).toThrow(/too long/);
    expect(() =>
      ggufLayout({}, [
        { name: 'x', dims: [1], type: 'F32' },
        { name: 'x', dims: [1], type: 'F32' },
      ]),
    ).toThrow(/twice/);
    expect(() => ggufLayout({}, [{ name: 'x', dims: [0], type: 'F32' }])).toThrow(/dims/);
    expect(() => ggufLayout({ 'k.u': { type: 'u32', value: -1 } }, [])).toThrow(/out of range/);
  });
});

describe('F32 → F16 rounding', () => {
  const toF16 = (x: number) => {
    const h = f32BitsToF16Bits(f32Bits(x));
    return h < 0 ? null : f16ToNumber(h);
  };

  test('edge cases: ties to even, subnormals, the largest value, overflow, non-finite', () => {
    expect(toF16(1 + 2 ** -11)).toBe(1); // tie between 1 and 1 + 2^-10: even mantissa wins
    expect(toF16(1 + 3 * 2 ** -11)).toBe(1 + 2 * 2 ** -10); // tie rounds up to the even neighbour
    expect(toF16(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10); // just above the tie
    expect(toF16(65504)).toBe(65504);
    expect(toF16(65519.99)).toBe(65504); // below the midpoint to 2^16
    expect(toF16(65520)).toBeNull(); // rounds to 2^16: beyond F16
    expect(toF16(-1e6)).toBeNull();
    expect(toF16(2 ** -24)).toBe(2 ** -24); // smallest subnormal
    expect(toF16(2 ** -25)).toBe(0); // tie between 0 and 2^-24: even (0)
    expect(toF16(1.5 * 2 ** -25)).toBe(2 ** -24);
    expect(toF16(3 * 2 ** -25)).toBe(2 * 2 ** -24); // subnormal tie to even
    expect(toF16(2 ** -14 - 2 ** -26)).toBe(2 ** -14); // rounds up into the smallest normal
    expect(toF16(1e-30)).toBe(0);
    expect(f32BitsToF16Bits(f32Bits(-0))).toBe(0x8000);
    expect(f32BitsToF16Bits(f32Bits(Number.NaN))).toBe(-1);
    expect(f32BitsToF16Bits(f32Bits(Number.NEGATIVE_INFINITY))).toBe(-1);
  });

  test('agrees with Math.f16round on 200 000 random F32 values of every magnitude', () => {
    const bits = new Uint32Array(200_000);
    crypto.getRandomValues(bits);
    const floats = new Float32Array(bits.buffer);
    let compared = 0;
    for (let i = 0; i < bits.length; i++) {
      // Random exponents would mostly overflow or vanish: fold them into F16's neighbourhood (2^-28 … 2^17).
      bits[i] = (bits[i]! & 0x807fffff) | ((99 + ((bits[i]! >>> 23) % 46)) << 23);
      const x = floats[i]!;
      const expected = f16round(x);
      const got = toF16(x);
      if (!Number.isFinite(expected)) expect(got).toBeNull();
      else expect(got).toBe(expected);
      compared++;
    }
    expect(compared).toBe(200_000);
  });
});

describe('peftToGgufPlan and exportGguf', () => {
  const model = buildTinyModel();

  async function exportAdapter(adapter: TinyAdapter, name: string, options: ExportOptions = {}) {
    const path = join(dir, `${name}.safetensors`);
    await writeTinyAdapterSafetensors(path, adapter);
    const cfg = config({
      alpha: adapter.alpha,
      rank: adapter.rank,
      rankPattern: adapter.rankPattern,
      alphaPattern: adapter.alphaPattern,
      useRslora: adapter.useRslora,
    });
    return exportFile(path, cfg, 'llama', HEADS, options);
  }
  const tensorOf = (adapter: TinyAdapter, name: string) => adapter.tensors.find((t) => t.name === name)!.tensor;

  test('metadata, names, dims, types and offsets as convert_lora_to_gguf.py writes them', async () => {
    const adapter = buildTinyAdapter(model, { rank: 8, alpha: 16 });
    const { size, fileSize, parsed } = await exportAdapter(adapter, 'all-targets');
    expect(size).toBe(fileSize);
    const m = parsed.metadata as unknown as Record<string, unknown>;
    const keys = Object.keys(m).filter((k) => !['version', 'tensor_count', 'kv_count'].includes(k));
    expect(keys).toEqual([
      'general.architecture',
      'general.type',
      'adapter.type',
      'general.name',
      'adapter.lora.alpha',
      'general.quantization_version',
    ]);
    expect(m['general.architecture']).toBe('llama');
    expect(m['general.type']).toBe('adapter');
    expect(m['adapter.type']).toBe('lora');
    expect(m['general.name']).toBe('tiny adapter');
    expect(m['adapter.lora.alpha']).toBe(16);
    expect(m['general.quantization_version']).toBe(2);

    const H = 64;
    const kv = 32;
    const I = 128;
    const V = 288;
    const r = 8;
    const expected: [string, number[]][] = [['token_embd.weight', [r, V]]];
    const linear: [string, number, number][] = [];
    for (let i = 0; i < 2; i++) {
      linear.push(
        [`blk.${i}.attn_q.weight`, H, H],
        [`blk.${i}.attn_k.weight`, H, kv],
        [`blk.${i}.attn_v.weight`, H, kv],
        [`blk.${i}.attn_output.weight`, H, H],
        [`blk.${i}.ffn_gate.weight`, H, I],
        [`blk.${i}.ffn_up.weight`, H, I],
        [`blk.${i}.ffn_down.weight`, I, H],
      );
    }
    linear.push(['output.weight', H, V]);
    const names: string[] = ['token_embd.weight.lora_a', 'token_embd.weight.lora_b'];
    const dims = new Map<string, number[]>([
      ['token_embd.weight.lora_a', expected[0]![1]],
      ['token_embd.weight.lora_b', [r, H]],
    ]);
    for (const [base, inDim, out] of linear) {
      names.push(`${base}.lora_a`, `${base}.lora_b`);
      dims.set(`${base}.lora_a`, [inDim, r]);
      dims.set(`${base}.lora_b`, [r, out]);
    }
    expect(parsed.tensorInfos.map((t) => t.name)).toEqual(names);
    let offset = 0;
    for (const t of parsed.tensorInfos) {
      expect([t.name, t.shape.map(Number)]).toEqual([t.name, dims.get(t.name)!]);
      expect(t.dtype).toBe(1); // GGML_TYPE_F16
      expect(Number(t.offset)).toBe(offset);
      offset += ggufPad(t.shape.reduce((a, d) => a * Number(d), 2));
    }
    expect(Number(parsed.tensorDataOffset) + offset).toBe(fileSize);
  });

  test('data: A as is, B as is, the embedding A transposed, llama Q/K rows of B permuted', async () => {
    const adapter = buildTinyAdapter(model, { rank: 4, alpha: 8, dtype: 'BF16' });
    const { data } = await exportAdapter(adapter, 'data-f16');
    const p = 'base_model.model.model.layers.1';
    // BF16 has 8 significant bits, F16 11: the F16 values equal the BF16 ones exactly.
    expect(data('blk.1.attn_v.weight.lora_a')).toEqual([...tensorOf(adapter, `${p}.self_attn.v_proj.lora_A.weight`).data]);
    expect(data('blk.1.attn_v.weight.lora_b')).toEqual([...tensorOf(adapter, `${p}.self_attn.v_proj.lora_B.weight`).data]);
    expect(data('blk.1.ffn_down.weight.lora_b')).toEqual([...tensorOf(adapter, `${p}.mlp.down_proj.lora_B.weight`).data]);

    const embA = tensorOf(adapter, 'base_model.model.model.embed_tokens.lora_embedding_A'); // [r, V]
    const [r, V] = embA.shape as [number, number];
    expect(data('token_embd.weight.lora_a')).toEqual(range(r * V, (i) => embA.data[(i % r) * V + Math.floor(i / r)]!));
    expect(data('token_embd.weight.lora_b')).toEqual([...tensorOf(adapter, 'base_model.model.model.embed_tokens.lora_embedding_B').data]);

    // q_proj: 4 heads of 16 rows; within a head, output row 2i + j is input row 8j + i.
    const qB = tensorOf(adapter, `${p}.self_attn.q_proj.lora_B.weight`);
    const perm = (heads: number, rows: number) =>
      range(rows, (row) => {
        const per = rows / heads;
        const h = Math.floor(row / per);
        const q = row % per;
        return h * per + (q % 2) * (per / 2) + Math.floor(q / 2);
      });
    const qExpected = perm(4, 64).flatMap((row) => [...qB.data.subarray(row * r, row * r + r)]);
    expect(data('blk.1.attn_q.weight.lora_b')).toEqual(qExpected);
    const kB = tensorOf(adapter, `${p}.self_attn.k_proj.lora_B.weight`);
    expect(data('blk.1.attn_k.weight.lora_b')).toEqual(perm(2, 32).flatMap((row) => [...kB.data.subarray(row * r, row * r + r)]));
  });

  test('the Q/K permutation is upstream’s reshape(n_head, 2, d/2, r).swapaxes(1, 2); qwen2 permutes nothing', async () => {
    // 2 heads of 4 rows: [[0,1],[2,3]] per head, swapped to [[0,2],[1,3]] → 0 2 1 3 | 4 6 5 7.
    const tensors = [
      f32('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [1, 2], [1, 1]),
      f32('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [8, 1], range(8)),
      f32('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight', [1, 2], [1, 1]),
      f32('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight', [4, 1], range(4)),
    ];
    const llama = await exportTensors('perm-llama', tensors, config(), 'llama', { attentionHeads: 2, kvHeads: 1 });
    expect(llama.data('blk.0.attn_q.weight.lora_b')).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(llama.data('blk.0.attn_k.weight.lora_b')).toEqual([0, 2, 1, 3]);
    const qwen = await exportTensors('perm-qwen', tensors, config(), 'qwen2', { attentionHeads: 2, kvHeads: 1 });
    expect(qwen.data('blk.0.attn_q.weight.lora_b')).toEqual(range(8));
    expect((qwen.parsed.metadata as unknown as Record<string, unknown>)['general.architecture']).toBe('qwen2');
    // Heads that do not divide the rows into even halves: the adapter cannot fit that base.
    await expectExportError(exportTensors('perm-bad', tensors, config(), 'llama', { attentionHeads: 3, kvHeads: 1 }), /q_proj.*do not split into 3/);
  });

  test('alpha_pattern and use_rslora are folded into lora_b (in F32), adapter.lora.alpha stays lora_alpha', async () => {
    const tensors = [
      f32(
        'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight',
        [4, 2],
        range(8, (i) => i / 8),
      ),
      f32(
        'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight',
        [2, 4],
        range(8, (i) => 0.1 * (i + 1)),
      ),
      f32('base_model.model.model.layers.0.mlp.up_proj.lora_A.weight', [2, 2], [1, 2, 3, 4]),
      f32(
        'base_model.model.model.layers.0.mlp.up_proj.lora_B.weight',
        [3, 2],
        range(6, (i) => -0.3 * i),
      ),
    ];
    const path = join(dir, 'fold.safetensors');
    await writeSafetensors(path, tensors);
    const B = range(8, (i) => Math.fround(0.1 * (i + 1)));
    const upB = range(6, (i) => Math.fround(-0.3 * i));
    const scaled = (values: number[], f: number) => values.map((x) => Math.fround(x * Math.fround(f)));
    const run = (cfg: Partial<GgufExportConfig>) => exportFile(path, config(cfg), 'llama', HEADS, { outType: 'F32' });

    // Plain: nothing folded. llama.cpp scales by alpha / r = 16 / 4 (v) and 16 / 2 (up), as PEFT.
    let out = await run({ rank: 4, rankPattern: { up_proj: 2 } });
    expect(out.data('blk.0.attn_v.weight.lora_b')).toEqual(B);
    expect(out.data('blk.0.ffn_up.weight.lora_b')).toEqual(upB);
    expect(out.data('blk.0.attn_v.weight.lora_a')).toEqual(range(8, (i) => i / 8));

    // alpha_pattern v_proj = 40: PEFT scales v by 40/4, llama.cpp by 16/4 → B × 2.5.
    out = await run({ alphaPattern: { v_proj: 40 } });
    expect(out.data('blk.0.attn_v.weight.lora_b')).toEqual(scaled(B, 2.5));
    expect(out.data('blk.0.ffn_up.weight.lora_b')).toEqual(upB);
    expect((out.parsed.metadata as unknown as Record<string, unknown>)['adapter.lora.alpha']).toBe(16);

    // rslora: PEFT scales by alpha / √r; llama.cpp by alpha / r → B × √r (2 for v, √2 for up).
    out = await run({ useRslora: true, alphaPattern: { 'layers\\.0\\.mlp\\.up_proj': 8 } });
    expect(out.data('blk.0.attn_v.weight.lora_b')).toEqual(scaled(B, 2));
    expect(out.data('blk.0.ffn_up.weight.lora_b')).toEqual(scaled(upB, (8 / 16) * Math.SQRT2));
    expect(out.data('blk.0.ffn_up.weight.lora_a')).toEqual([1, 2, 3, 4]);
  });

  test('F16 range: 65504 passes, a larger value fails naming the tensor, folding included', async () => {
    const a = f32('base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight', [1, 2], [1, 1]);
    const ok = await exportTensors('range-ok', [a, f32('base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight', [2, 1], [65504, -65504])]);
    expect(ok.data('blk.0.attn_output.weight.lora_b')).toEqual([65504, -65504]);
    await expectExportError(
      exportTensors('range-big', [a, f32('base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight', [2, 1], [1, 70000])]),
      /o_proj\.lora_B\.weight holds 70000, beyond the F16 range/,
    );
    await expectExportError(
      exportTensors(
        'range-folded',
        [a, f32('base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight', [2, 1], [40000, 1])],
        config({ alphaPattern: { o_proj: 32 } }),
      ),
      /holds 80000 after folding the module's scale factor 2, beyond the F16 range/,
    );
    await expectExportError(
      exportTensors('range-nan', [a, f32('base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight', [2, 1], [Number.NaN, 1])]),
      /o_proj\.lora_B\.weight holds a non-finite value \(NaN\)/,
    );
  });

  test('mapping refusals name the tensor', async () => {
    const pair = (module: string, aName = 'lora_A.weight', bName = 'lora_B.weight') => [
      f32(`base_model.model.${module}.${aName}`, [1, 2], [1, 1]),
      f32(`base_model.model.${module}.${bName}`, [2, 1], [1, 1]),
    ];
    const plan = (tensors: TensorSource[], cfg = config()) => {
      let offset = 0;
      const sources = tensors.map((t) => {
        const bytes = t.shape.reduce((x, d) => x * d, 4);
        offset += bytes;
        return { name: t.name, dtype: t.dtype as string, shape: t.shape, begin: offset - bytes, end: offset };
      });
      return () => peftToGgufPlan(sources, cfg, 'llama', HEADS, 'x');
    };
    const refuse = (tensors: TensorSource[], message: RegExp, cfg = config()) => {
      expect(plan(tensors, cfg)).toThrow(ExportError);
      expect(plan(tensors, cfg)).toThrow(message);
    };

    refuse(
      pair('model.layers.0.self_attn.qkv_proj'),
      /qkv_proj\.lora_A\.weight: module model\.layers\.0\.self_attn\.qkv_proj has no llama\.cpp counterpart in the llama/,
    );
    refuse(pair('model.vision_tower.proj'), /vision_tower\.proj\.lora_A\.weight: module/);
    refuse(
      [...pair('model.layers.0.self_attn.q_proj'), f32('base_model.model.lm_head.weight', [2, 2], [1, 2, 3, 4])],
      /lm_head\.weight is not a LoRA weight.*modules_to_save/,
    );
    refuse([f32('base_model.model.model.layers.0.input_layernorm.weight', [2], [1, 1])], /input_layernorm\.weight is not a LoRA weight/);
    refuse([pair('model.layers.0.self_attn.q_proj')[0]!], /q_proj\.lora_A\.weight: its lora_B counterpart is missing/);
    refuse(pair('model.layers.0.self_attn.q_proj'), /no lora_alpha/, config({ alpha: null }));
    refuse(pair('model.layers.0.self_attn.q_proj'), /rank 1 but adapter_config\.json says 8/, config({ rank: 8 }));
    refuse(
      [
        ...pair('model.layers.0.self_attn.q_proj', 'lora_A.a.weight', 'lora_B.a.weight'),
        ...pair('model.layers.0.self_attn.v_proj', 'lora_A.b.weight', 'lora_B.b.weight'),
      ],
      /several adapters \(a, b\)/,
    );
    refuse(pair('model.layers.0.self_attn.q_proj', 'lora_embedding_A', 'lora_embedding_B'), /embedding LoRA on a linear module/);
    refuse([f32('base_model.model.model.layers.0.mlp.up_proj.lora_B.bias', [2], [1, 1])], /lora_B\.bias is not a LoRA weight/);
    refuse(
      [...pair('model.layers.0.self_attn.v_proj'), f32('base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector', [2], [1, 1])],
      /lora_magnitude_vector is not a LoRA weight .*DoRA/,
    );
    refuse([], /holds no LoRA weights/);
    refuse(pair('model.layers.0.self_attn.q_proj'), /alpha_pattern key .* is not a regular expression/, config({ alphaPattern: { '(?=x)': 2 } }));

    // Accepted: the frozen base_layer weight is skipped (as upstream), an adapter-name segment is read.
    const accepted = plan([
      ...pair('model.layers.0.self_attn.v_proj', 'lora_A.default.weight', 'lora_B.default.weight'),
      f32('base_model.model.model.layers.0.self_attn.v_proj.base_layer.weight', [2, 2], [1, 2, 3, 4]),
    ])();
    expect(accepted.tensors.map((t) => t.name)).toEqual(['blk.0.attn_v.weight.lora_a', 'blk.0.attn_v.weight.lora_b']);
  });

  test('a LoRA on lm_head is refused, before any tensor is read, when the base ties its embeddings; exported otherwise', async () => {
    const adapter = buildTinyAdapter(model, { rank: 2, targets: ['q_proj', 'lm_head'] });
    const path = join(dir, 'lm-head.safetensors');
    await writeTinyAdapterSafetensors(path, adapter);
    const size = Bun.file(path).size;
    const file = fileRangeReader(path);
    // safetensors: an 8-byte header length, the JSON header, then the tensor data.
    const dataStart = 8 + Number(new DataView((await file(0, 8)).buffer).getBigUint64(0, true));
    let furthest = 0;
    const reader: RangeReader = (offset, length) => {
      furthest = Math.max(furthest, offset + length);
      return file(offset, length);
    };
    await expectExportError(
      exportGguf(reader, size, config(), 'llama', 'x', { ...HEADS, tieWordEmbeddings: true }),
      /lm_head\.lora_A\.weight: this adapter has a LoRA on lm_head, but its base ties its input and output embeddings \(tie_word_embeddings\), so llama\.cpp has no output\.weight to apply it to.*retrain without lm_head in target_modules/,
    );
    expect(furthest).toBeLessThanOrEqual(dataStart);

    // Not tied, or not known (facts stored before the field existed): exported as before, output.weight included.
    for (const tieWordEmbeddings of [false, undefined]) {
      const { stream } = await exportGguf(file, size, config(), 'llama', 'x', { ...HEADS, tieWordEmbeddings });
      const out = join(dir, `lm-head-${tieWordEmbeddings}.gguf`);
      await Bun.write(out, new Response(stream));
      const names = (await gguf(out, { allowLocalFile: true })).tensorInfos.map((t) => t.name);
      expect(names).toContain('output.weight.lora_a');
      expect(names).toContain('output.weight.lora_b');
    }
    // A tied base without lm_head among the targets exports too.
    const noHead = buildTinyAdapter(model, { rank: 2, targets: ['q_proj', 'embed_tokens'] });
    const noHeadPath = join(dir, 'no-lm-head.safetensors');
    await writeTinyAdapterSafetensors(noHeadPath, noHead);
    const tied = await exportGguf(fileRangeReader(noHeadPath), Bun.file(noHeadPath).size, config(), 'llama', 'x', {
      ...HEADS,
      tieWordEmbeddings: true,
    });
    expect((await new Response(tied.stream).arrayBuffer()).byteLength).toBe(tied.size);
  });

  test('a corrupt or truncated file is an ExportError, before any byte or while streaming', async () => {
    const adapter = buildTinyAdapter(model, { rank: 2, targets: ['q_proj', 'v_proj'] });
    const path = join(dir, 'truncated.safetensors');
    await writeTinyAdapterSafetensors(path, adapter);
    const full = Bun.file(path).size;
    const reader = fileRangeReader(path);
    await truncate(path, full - 100);
    // The true size: the header's offsets run past the data area.
    await expectExportError(
      exportGguf(reader, full - 100, config(), 'llama', 'x', HEADS),
      /cannot be read: adapter_model\.safetensors: tensor .* run past/,
    );
    // A size that lies (the file shrank after it was measured): the stream fails on the short read.
    const { stream } = await exportGguf(reader, full, config(), 'llama', 'x', HEADS);
    await expectExportError(
      new Response(stream).arrayBuffer(),
      /adapter_model\.safetensors is truncated: .*v_proj\.lora_B\.weight ends past the end/,
    );

    const garbage: RangeReader = async (offset, length) => new Uint8Array(length).fill(offset === 0 ? 0x7b : 0x20);
    await expectExportError(exportGguf(garbage, 4096, config(), 'llama', 'x', HEADS), /cannot be read: .*header length/);
    await expectExportError(exportGguf(fileRangeReader(path), 7, config(), 'llama', 'x', HEADS), /too short/);
  });

  test('streams in bounded pieces: reads ≤ 4 MiB, chunks ≤ 2 MiB, exact size; a chunked transpose stays right', async () => {
    // A 12 MiB lora_B and an embedding A spanning two transpose chunks (r 4 × V 300 000).
    const rows = 786_432;
    const V = 300_000;
    const tensors: TensorSource[] = [
      f32(
        'base_model.model.model.embed_tokens.lora_embedding_A',
        [4, V],
        range(4 * V, (i) => (i % 2048) - 1024),
      ),
      f32('base_model.model.model.embed_tokens.lora_embedding_B', [8, 4], range(32)),
      f32('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight', [4, 8], range(32)),
      f32(
        'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight',
        [rows, 4],
        range(rows * 4, (i) => i % 1000),
      ),
    ];
    const path = join(dir, 'big.safetensors');
    await writeSafetensors(path, tensors);
    const file = fileRangeReader(path);
    let largestRead = 0;
    const reader: RangeReader = (offset, length) => {
      largestRead = Math.max(largestRead, length);
      return file(offset, length);
    };
    const { size, stream } = await exportGguf(reader, Bun.file(path).size, config(), 'llama', 'big', HEADS);
    let total = 0;
    let largestChunk = 0;
    const whole = new Uint8Array(size);
    const chunks = stream.getReader();
    for (let r = await chunks.read(); !r.done; r = await chunks.read()) {
      whole.set(r.value, total);
      total += r.value.length;
      largestChunk = Math.max(largestChunk, r.value.length);
    }
    expect(total).toBe(size);
    expect(largestRead).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(largestChunk).toBeLessThanOrEqual(2 * 1024 * 1024);

    const out = join(dir, 'big.gguf');
    await Bun.write(out, whole);
    const parsed = await gguf(out, { allowLocalFile: true });
    const info = parsed.tensorInfos.find((t) => t.name === 'token_embd.weight.lora_a')!;
    expect(info.shape.map(Number)).toEqual([4, V]);
    const bytes = new Uint8Array(await Bun.file(out).arrayBuffer());
    const view = new DataView(bytes.buffer, Number(parsed.tensorDataOffset + info.offset));
    // Output row t (a token) holds A[:, t]; check across the chunk boundary at column 262 144.
    for (const t of [0, 1, 262_143, 262_144, 262_145, V - 1]) {
      expect(range(4, (k) => f16ToNumber(view.getUint16((t * 4 + k) * 2, true)))).toEqual(range(4, (k) => ((k * V + t) % 2048) - 1024));
    }
  });
});

describe('mlx-lm adapters (adapters.safetensors, lora_a [in, r] / lora_b [r, out])', () => {
  const model = buildTinyModel({ seed: 1 });

  test('the same adapter in PEFT and in mlx form exports to the same GGUF, byte for byte (names, dims, data, alpha)', async () => {
    for (const [dtype, outType] of [
      ['F32', 'F32'],
      ['F32', 'F16'],
      ['BF16', 'F16'],
    ] as const) {
      const options = { rank: 8, alpha: 16, seed: 7, dtype };
      const peftDir = join(dir, `same-peft-${dtype}-${outType}`);
      const mlxDir = join(dir, `same-mlx-${dtype}-${outType}`);
      await writeTinyLlamaOutput(peftDir, { model, adapter: options });
      await writeTinyMlxOutput(mlxDir, { model, adapter: options });
      const peftConfig = parseAdapterConfig(await Bun.file(join(peftDir, 'adapter_config.json')).text());
      const mlxConfig = parseAdapterConfig(await Bun.file(join(mlxDir, 'adapter_config.json')).text());
      expect([mlxConfig.format, mlxConfig.alpha, mlxConfig.rank]).toEqual(['mlx', 16, 8]);
      const peft = await exportFile(join(peftDir, 'adapter_model.safetensors'), peftConfig, 'llama', HEADS, { outType });
      const mlx = await exportFile(join(mlxDir, 'adapters.safetensors'), mlxConfig, 'llama', HEADS, { outType });
      expect((mlx.parsed.metadata as unknown as Record<string, unknown>)['adapter.lora.alpha']).toBe(16);
      expect(mlx.parsed.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype])).toEqual(
        peft.parsed.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype]),
      );
      expect(mlx.parsed.tensorInfos.length).toBe(2 * (2 * 7 + 2));
      const bytes = async (dirName: string, file: string) => Bun.file(join(dirName, `${file}.gguf`)).bytes();
      expect(Buffer.compare(await bytes(mlxDir, 'adapters.safetensors'), await bytes(peftDir, 'adapter_model.safetensors'))).toBe(0);
    }
  });

  test('a chunked transpose of lora_b with the Q rows permuted stays right (heads not a power of two, three chunks)', async () => {
    // q_proj with 6 heads of 200 000 rows, r = 2: 2.4 M elements, transposed in chunks of two whole heads.
    const out = 1_200_000;
    const r = 2;
    const heads = { attentionHeads: 6, kvHeads: 6 };
    const b = range(out * r, (i) => (i % 2048) - 1024); // PEFT's lora_B [out, r], row-major
    const bT = new Float32Array(out * r);
    for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) bT[k * out + o] = b[o * r + k]!;
    const peft = [
      f32('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [r, 3], range(6)),
      f32('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [out, r], b),
    ];
    const mlx = [
      f32('model.layers.0.self_attn.q_proj.lora_a', [3, r], [0, 3, 1, 4, 2, 5]),
      f32('model.layers.0.self_attn.q_proj.lora_b', [r, out], bT),
    ];
    await exportTensors('chunked-peft', peft, config({ rank: r, alpha: 2 }), 'llama', heads);
    const m = await exportTensors('chunked-mlx', mlx, config({ rank: r, alpha: 2, format: 'mlx' }), 'llama', heads);
    expect(m.data('blk.0.attn_q.weight.lora_a')).toEqual(range(6));
    const got = m.data('blk.0.attn_q.weight.lora_b');
    expect(got.length).toBe(out * r);
    expect(
      Buffer.compare(
        await Bun.file(join(dir, 'chunked-mlx.safetensors.gguf')).bytes(),
        await Bun.file(join(dir, 'chunked-peft.safetensors.gguf')).bytes(),
      ),
    ).toBe(0);
    // Spot check against the definition: output row p of head h is PEFT's row h·per + (p & 1)·per/2 + (p >> 1).
    const per = out / 6;
    for (const row of [0, 1, 2, per - 1, per, 2 * per + 3, 3 * per - 1, 3 * per, out - 1]) {
      const h = Math.floor(row / per);
      const p = row % per;
      const src = h * per + (p & 1) * (per / 2) + (p >> 1);
      expect(got.slice(row * r, row * r + r)).toEqual([b[src * r]!, b[src * r + 1]!]);
    }
  });

  test('refusals: DoRA, a full fine-tune, mixed forms, a lone lora_a, an MoE expert stack; messages name adapters.safetensors', async () => {
    const pair = (module: string) => [f32(`${module}.lora_a`, [2, 1], [1, 1]), f32(`${module}.lora_b`, [1, 2], [1, 1])];
    const mlxConfig = config({ format: 'mlx', fineTuneType: 'lora' });
    await expectExportError(
      exportTensors('mlx-dora', pair('model.layers.0.self_attn.q_proj'), config({ format: 'mlx', fineTuneType: 'dora' })),
      /DoRA adapter \(mlx fine_tune_type "dora"\)/,
    );
    await expectExportError(
      exportTensors('mlx-dora-m', [...pair('model.layers.0.self_attn.q_proj'), f32('model.layers.0.self_attn.q_proj.m', [2], [1, 1])], mlxConfig),
      /q_proj\.m is not a LoRA weight.*DoRA magnitude vector/,
    );
    await expectExportError(
      exportTensors(
        'mlx-full',
        [f32('model.layers.0.self_attn.q_proj.weight', [2, 2], [1, 2, 3, 4])],
        config({ format: 'mlx', fineTuneType: 'full' }),
      ),
      /mlx full fine-tune.*adapters\.safetensors holds whole weights/,
    );
    await expectExportError(
      exportTensors(
        'mlx-mixed',
        [
          f32('model.layers.0.self_attn.q_proj.lora_a', [2, 1], [1, 1]),
          f32('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [2, 1], [1, 1]),
        ],
        mlxConfig,
      ),
      /mixes PEFT \(lora_A\/lora_B\) and mlx \(lora_a\/lora_b\) weights/,
    );
    await expectExportError(
      exportTensors('mlx-lone', [pair('model.layers.0.self_attn.v_proj')[0]!], mlxConfig),
      /v_proj\.lora_a: its lora_b counterpart is missing/,
    );
    await expectExportError(
      exportTensors(
        'mlx-experts',
        [f32('model.layers.0.mlp.gate_proj.lora_a', [2, 1, 2], [1, 1, 1, 1]), f32('model.layers.0.mlp.gate_proj.lora_b', [2, 2, 1], [1, 1, 1, 1])],
        mlxConfig,
      ),
      /gate_proj\.lora_a: shape \[2,1,2\] is not 2-D/,
    );
    await expectExportError(exportTensors('mlx-empty', [], mlxConfig), /^adapters\.safetensors holds no LoRA weights/);
    await expectExportError(
      exportTensors('mlx-rank', pair('model.layers.0.self_attn.q_proj'), config({ format: 'mlx', rank: 4 })),
      /q_proj\.lora_a: rank 1 but adapter_config\.json says 4/,
    );
  });
});

describe('where an export is kept', () => {
  test('the model adapter’s at the top, a checkpoint’s in its folder, an mlx one-file checkpoint’s beside it; never over a file', () => {
    const none = new Set<string>();
    expect(exportPath('bot', 3, null, none)).toBe('bot-v3-F16-LoRA.gguf');
    expect(exportPath('bot', 3, 'checkpoint-500', none)).toBe('checkpoint-500/bot-v3-checkpoint-500-F16-LoRA.gguf');
    expect(exportPath('bot', 3, 'run-1/checkpoint-20', none)).toBe('run-1/checkpoint-20/bot-v3-checkpoint-20-F16-LoRA.gguf');
    expect(exportPath('bot', 3, '0000100_adapters.safetensors', none)).toBe('bot-v3-0000100_adapters-F16-LoRA.gguf');
    expect(exportPath('bot', 3, 'adapters/0000200_adapters.safetensors', none)).toBe('adapters/bot-v3-0000200_adapters-F16-LoRA.gguf');
    expect(exportPath('bot', 3, null, new Set(['bot-v3-F16-LoRA.gguf']))).toBe('bot-v3-F16-LoRA-2.gguf');
  });
});
