/**
 * The arithmetic of weight health, over bytes already read: decoding F32/F16/BF16, counting NaN and
 * infinities, the r×r Gram matrices that give ‖s·B·A‖_F without forming B·A (out×in, up to 14336×4096 for
 * an 8B base), and the warnings. No I/O: health-stream.ts feeds it a file chunk by chunk on a worker.
 *
 * ‖B·A‖²_F = tr(AᵀBᵀB·A) = tr(BᵀB · A·Aᵀ) = Σ_ij (BᵀB)_ij (A·Aᵀ)_ij, both Grams symmetric r×r: r²/2 multiply-adds
 * per element of A and of B, accumulated in doubles. mlx stores the transposes (A' = Aᵀ [in, r], B' = Bᵀ [r, out]),
 * so the same two Grams are A'ᵀA' (gramOfColumns of A') and B'·B'ᵀ (gramOfRows of B').
 *
 * Typed-array views read the host's byte order; safetensors is little-endian and so is every platform
 * Bun runs on (x64, arm64).
 */
import { ADAPTER_WEIGHT_FILES, checkpointOf } from '../ingest/inspect/classify.ts';
import { type LoraLayout, loraTensorName } from '../ingest/inspect/adapter-config.ts';
import { compileModulePatterns, findModulePattern, type ModulePattern } from '../ingest/inspect/module-patterns.ts';
import type { WeightWarning } from './types.ts';

/** The adapter_config.json fields the scale s = α/r (or α/√r) of each module comes from. */
export type WeightConfig = {
  rank: number | null;
  alpha: number | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRslora: boolean;
};

/** Dtypes decoded to floats for the norm. */
export type DecodedDtype = 'F32' | 'F16' | 'BF16';
/** Float dtypes scanned for NaN/Inf. Others (integers, BOOL) cannot hold either. */
type FloatDtype = DecodedDtype | 'F64' | 'F8_E4M3' | 'F8_E5M2';

const ELEMENT_BYTES: Readonly<Record<FloatDtype, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1 };

export function isDecoded(dtype: string): dtype is DecodedDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Bytes per element of a float dtype, or null for a dtype that cannot hold NaN/Inf. */
export function floatElementBytes(dtype: string): number | null {
  return Object.hasOwn(ELEMENT_BYTES, dtype) ? ELEMENT_BYTES[dtype as FloatDtype] : null;
}

// ---------------------------------------------------------------------------------------------------
// Decoding and scanning (whole elements only; the caller carries a split element over)

let f16Table: Float32Array | undefined;
/** Every F16 bit pattern as a float32 (256 KiB), built on first use: a lookup beats bit twiddling per element. */
function f16ToFloat(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) table[h] = mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  f16Table = table;
  return table;
}

/** `bytes` as its own buffer when its offset does not suit a typed-array view of `align`-byte elements. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/** Decodes whole `dtype` elements from `bytes` into `target` from element `at`. */
export function decodeInto(target: Float32Array, at: number, bytes: Uint8Array, dtype: DecodedDtype): void {
  if (dtype === 'F32') {
    const src = aligned(bytes, 4);
    target.set(new Float32Array(src.buffer, src.byteOffset, src.length >> 2), at);
    return;
  }
  const src = aligned(bytes, 2);
  const halves = new Uint16Array(src.buffer, src.byteOffset, src.length >> 1);
  if (dtype === 'BF16') {
    // A bfloat16 is the top half of a float32. Int32 so the shifted value, negative for a set sign bit, stores as is.
    const words = new Int32Array(target.buffer, target.byteOffset + at * 4, halves.length);
    for (let i = 0; i < halves.length; i++) words[i] = halves[i]! << 16;
  } else {
    const table = f16ToFloat();
    for (let i = 0; i < halves.length; i++) target[at + i] = table[halves[i]!]!;
  }
}

/** NaN and infinities among whole `dtype` elements of raw `bytes` (a float dtype: see floatElementBytes). */
export function countNonFiniteBytes(bytes: Uint8Array, dtype: string): number {
  switch (dtype) {
    case 'F64': {
      const src = aligned(bytes, 8);
      const x = new Float64Array(src.buffer, src.byteOffset, src.length >> 3);
      let count = 0;
      for (let i = 0; i < x.length; i++) if (x[i]! - x[i]! !== 0) count++; // NaN exactly for NaN and ±Inf
      return count;
    }
    case 'F32': {
      const src = aligned(bytes, 4);
      return countAllOnesExponent32(new Uint32Array(src.buffer, src.byteOffset, src.length >> 2));
    }
    case 'BF16':
      return countAllOnesExponent16(bytes, 0x7f80);
    case 'F16':
      return countAllOnesExponent16(bytes, 0x7c00);
    case 'F8_E5M2':
      return countBytes(bytes, (b) => (b & 0x7c) === 0x7c);
    case 'F8_E4M3':
      // E4M3FN (the one safetensors means) has no infinities; S.1111.111 is its only NaN.
      return countBytes(bytes, (b) => (b & 0x7f) === 0x7f);
    default:
      return 0;
  }
}

/** Elements of a decoded tensor that are NaN or ±Inf. */
export function countNonFinite(x: Float32Array): number {
  return countAllOnesExponent32(new Uint32Array(x.buffer, x.byteOffset, x.length));
}

/**
 * Float32 bit patterns whose exponent is all ones (NaN, ±Inf). Adding the exponent's lowest bit carries
 * into the sign bit exactly for those, so a block is probed with an OR and counted one by one only when
 * the probe has that bit: 2.1 G elements/s here, against 1.2 for `x - x !== 0` on the floats.
 */
function countAllOnesExponent32(words: Uint32Array): number {
  let count = 0;
  const block = 4096;
  for (let start = 0; start < words.length; start += block) {
    const end = Math.min(words.length, start + block);
    let probe = 0;
    for (let w = start; w < end; w++) probe |= (words[w]! & 0x7f800000) + 0x00800000;
    if ((probe & 0x80000000) === 0) continue;
    for (let w = start; w < end; w++) if ((words[w]! & 0x7f800000) === 0x7f800000) count++;
  }
  return count;
}

/** True when every element is ±0. */
export function isAllZero(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return false;
  return true;
}

/**
 * 16-bit floats whose exponent bits (`mask`) are all set, by the same carry trick, two halves per 32-bit
 * word (5.7 GB/s here, against 2.8 one half at a time).
 */
function countAllOnesExponent16(bytes: Uint8Array, mask: number): number {
  const src = aligned(bytes, 2);
  const halves = new Uint16Array(src.buffer, src.byteOffset, src.length >> 1);
  const low = mask & -mask;
  let count = 0;
  let i = 0;
  if (halves.byteOffset % 4 !== 0 && halves.length > 0) {
    if ((halves[0]! & mask) === mask) count++;
    i = 1;
  }
  const words = new Uint32Array(halves.buffer, halves.byteOffset + i * 2, (halves.length - i) >> 1);
  const wordMask = mask * 0x10001;
  const wordLow = low * 0x10001;
  const block = 2048;
  for (let start = 0; start < words.length; start += block) {
    const end = Math.min(words.length, start + block);
    let probe = 0;
    for (let w = start; w < end; w++) probe |= (words[w]! & wordMask) + wordLow;
    if ((probe & 0x80008000) === 0) continue;
    for (let w = start; w < end; w++) {
      if ((words[w]! & mask) === mask) count++;
      if (((words[w]! >>> 16) & mask) === mask) count++;
    }
  }
  for (let h = i + words.length * 2; h < halves.length; h++) if ((halves[h]! & mask) === mask) count++;
  return count;
}

function countBytes(bytes: Uint8Array, test: (b: number) => boolean): number {
  let count = 0;
  for (let i = 0; i < bytes.length; i++) if (test(bytes[i]!)) count++;
  return count;
}

// ---------------------------------------------------------------------------------------------------
// Gram matrices. Both fill the upper triangle (i ≤ j) of an r×r Float64Array; below it is unspecified.
// 4×4 register blocks: 16 accumulators, each load used 4 times. Measured here for r = 64 (Bun 1.4, one
// core): 3.8 GMAC/s against 1.8 for one 4-way-unrolled dot product per pair and 2.6 for 2×2 blocks. For
// BᵀB the same blocks walk B's rows with a stride of r (4.0 GMAC/s): as fast as transposing B first and
// taking row dot products, without the copy.

/**
 * Columns per pass of gramOfRows: the r rows' slices of one pass stay in a 256 KiB cache. Measured for a
 * 64 × 22235 lora_A (down_proj of an 8B base): 3.6 GMAC/s in passes of 2048 columns, 2.6 in one pass.
 */
const ROW_PASS_BYTES = 256 * 1024;

/** A·Aᵀ of `x` read as `rows` × `cols` row-major (A is r×in: rows = r). */
export function gramOfRows(x: Float32Array, rows: number, cols: number): Float64Array {
  const r = rows;
  const g = new Float64Array(r * r);
  const blocked = r - (r % 4);
  const pass = Math.max(256, Math.floor(ROW_PASS_BYTES / 4 / Math.max(1, r)));
  for (let k0 = 0; k0 < cols; k0 += pass) {
    const k1 = Math.min(cols, k0 + pass);
    for (let i = 0; i < blocked; i += 4) {
      const a0 = i * cols;
      const a1 = a0 + cols;
      const a2 = a1 + cols;
      const a3 = a2 + cols;
      for (let j = i; j < blocked; j += 4) {
        const b0 = j * cols;
        const b1 = b0 + cols;
        const b2 = b1 + cols;
        const b3 = b2 + cols;
        // biome-ignore format: the 4×4 block's accumulators, two of its rows per line
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        // biome-ignore format: the 4×4 block's accumulators, two of its rows per line
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = k0; k < k1; k++) {
          const v0 = x[b0 + k]!;
          const v1 = x[b1 + k]!;
          const v2 = x[b2 + k]!;
          const v3 = x[b3 + k]!;
          let u = x[a0 + k]!;
          s00 += u * v0;
          s01 += u * v1;
          s02 += u * v2;
          s03 += u * v3;
          u = x[a1 + k]!;
          s10 += u * v0;
          s11 += u * v1;
          s12 += u * v2;
          s13 += u * v3;
          u = x[a2 + k]!;
          s20 += u * v0;
          s21 += u * v1;
          s22 += u * v2;
          s23 += u * v3;
          u = x[a3 + k]!;
          s30 += u * v0;
          s31 += u * v1;
          s32 += u * v2;
          s33 += u * v3;
        }
        add4x4(g, i * r + j, r, s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33);
      }
    }
  }
  // The columns past the last whole block, for every row above them.
  for (let i = 0; i < r; i++) {
    const a = i * cols;
    for (let j = Math.max(i, blocked); j < r; j++) {
      const b = j * cols;
      let s = 0;
      for (let k = 0; k < cols; k++) s += x[a + k]! * x[b + k]!;
      g[i * r + j] = s;
    }
  }
  return g;
}

/** Bᵀ·B of `x` read as `rows` × `cols` row-major (B is out×r: cols = r). */
export function gramOfColumns(x: Float32Array, rows: number, cols: number): Float64Array {
  const r = cols;
  const g = new Float64Array(r * r);
  const end = rows * r;
  const blocked = r - (r % 4);
  for (let i = 0; i < blocked; i += 4) {
    for (let j = i; j < blocked; j += 4) {
      // biome-ignore format: the 4×4 block's accumulators, two of its rows per line
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      // biome-ignore format: the 4×4 block's accumulators, two of its rows per line
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let o = 0; o < end; o += r) {
        const v0 = x[o + j]!;
        const v1 = x[o + j + 1]!;
        const v2 = x[o + j + 2]!;
        const v3 = x[o + j + 3]!;
        let u = x[o + i]!;
        s00 += u * v0;
        s01 += u * v1;
        s02 += u * v2;
        s03 += u * v3;
        u = x[o + i + 1]!;
        s10 += u * v0;
        s11 += u * v1;
        s12 += u * v2;
        s13 += u * v3;
        u = x[o + i + 2]!;
        s20 += u * v0;
        s21 += u * v1;
        s22 += u * v2;
        s23 += u * v3;
        u = x[o + i + 3]!;
        s30 += u * v0;
        s31 += u * v1;
        s32 += u * v2;
        s33 += u * v3;
      }
      add4x4(g, i * r + j, r, s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33);
    }
  }
  for (let i = 0; i < r; i++) {
    for (let j = Math.max(i, blocked); j < r; j++) {
      let s = 0;
      for (let o = 0; o < end; o += r) s += x[o + i]! * x[o + j]!;
      g[i * r + j] = s;
    }
  }
  return g;
}

// biome-ignore format: a 4×4 block reads best as four rows
function add4x4(
  g: Float64Array, at: number, r: number,
  s00: number, s01: number, s02: number, s03: number, s10: number, s11: number, s12: number, s13: number,
  s20: number, s21: number, s22: number, s23: number, s30: number, s31: number, s32: number, s33: number,
): void {
  g[at]! += s00; g[at + 1]! += s01; g[at + 2]! += s02; g[at + 3]! += s03;
  at += r;
  g[at]! += s10; g[at + 1]! += s11; g[at + 2]! += s12; g[at + 3]! += s13;
  at += r;
  g[at]! += s20; g[at + 1]! += s21; g[at + 2]! += s22; g[at + 3]! += s23;
  at += r;
  g[at]! += s30; g[at + 1]! += s31; g[at + 2]! += s32; g[at + 3]! += s33;
}

/**
 * ‖s·B·A‖_F from the upper triangles of A·Aᵀ and Bᵀ·B (both r×r); null when it is not a finite number.
 * Rounding can take the sum a hair below zero for a near-zero update: clamped, it is 0.
 */
export function updateNorm(gramA: Float64Array, gramB: Float64Array, r: number, scale: number): number | null {
  let diagonal = 0;
  let off = 0;
  for (let i = 0; i < r; i++) {
    const row = i * r;
    diagonal += gramA[row + i]! * gramB[row + i]!;
    for (let j = i + 1; j < r; j++) off += gramA[row + j]! * gramB[row + j]!;
  }
  const norm = Math.abs(scale) * Math.sqrt(Math.max(0, diagonal + 2 * off));
  return Number.isFinite(norm) ? norm : null;
}

// ---------------------------------------------------------------------------------------------------
// Modules: names, layers, scales

/** A LoRA tensor's module path, side and layout, or null for any other tensor (PEFT's and mlx's names: adapter-config.ts). */
export function loraTensor(name: string): { modulePath: string; side: 'A' | 'B'; adapterName: string | null; layout: LoraLayout } | null {
  const lora = loraTensorName(name);
  return lora === null ? null : { modulePath: lora.modulePath, side: lora.side, adapterName: lora.adapterName, layout: lora.layout };
}

/** The module path as users know it: `base_model.model.model.layers.3.self_attn.q_proj` → `layers.3.self_attn.q_proj`. */
export function moduleName(modulePath: string): string {
  let name = modulePath;
  if (name.startsWith('base_model.model.')) name = name.slice('base_model.model.'.length);
  if (name.startsWith('model.')) name = name.slice('model.'.length);
  return name;
}

/** The `layers.N` index in a module path, else null. */
export function moduleLayer(name: string): number | null {
  const m = /(?:^|\.)layers\.(\d{1,9})(?:\.|$)/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * PEFT's LoraConfig defaults (peft/tuners/lora/config.py): what loading a config without `lora_alpha`
 * uses. A config without `r` cannot load other shapes than r = 8, so the tensors' rank stands in for it.
 */
const PEFT_DEFAULT_ALPHA = 8;

/** The per-module scale s = α/r (α/√r with rslora), with rank_pattern / alpha_pattern matched like PEFT. */
export function scaleFor(config: WeightConfig | null, patterns: CompiledPatterns | null, modulePath: string, tensorRank: number): number {
  // No adapter_config.json: nothing says α, so the norm is of B·A itself (α = r, s = 1).
  if (config === null || patterns === null) return 1;
  const r = findModulePattern(patterns.rank, modulePath)?.value ?? config.rank ?? tensorRank;
  const alpha = findModulePattern(patterns.alpha, modulePath)?.value ?? config.alpha ?? PEFT_DEFAULT_ALPHA;
  return config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

export type CompiledPatterns = { rank: ModulePattern[]; alpha: ModulePattern[] };

/** The config's patterns, compiled once per file (throws InspectionError on a key RE2 refuses). */
export function compilePatterns(config: WeightConfig): CompiledPatterns {
  return {
    rank: compileModulePatterns(config.rankPattern, 'rank_pattern'),
    alpha: compileModulePatterns(config.alphaPattern, 'alpha_pattern'),
  };
}

// ---------------------------------------------------------------------------------------------------
// Warnings

/** Subjects listed per warning. */
const MAX_SUBJECTS = 20;

/** What the walk over a file found, per module and per tensor. */
export interface WeightFindings {
  modules: { name: string; layer: number | null; updateNorm: number | null; zeroB: boolean | null }[];
  /** Tensors holding NaN/Inf, in file order, with how many such values. */
  nonFinite: { tensor: string; count: number }[];
}

/** The warnings of one analysed file, and whether every lora_B is zero. */
export function weightWarnings(findings: WeightFindings): { warnings: WeightWarning[]; untrained: boolean } {
  const warnings: WeightWarning[] = [];
  const withB = findings.modules.filter((m) => m.zeroB !== null);
  const zero = withB.filter((m) => m.zeroB);
  const untrained = withB.length > 0 && zero.length === withB.length;
  if (untrained) {
    warnings.push({
      code: 'untrained',
      message: 'every lora_B is zero: the adapter was never trained and changes nothing (PEFT initialises B to zero)',
      subjects: [],
    });
  } else if (zero.length > 0) {
    warnings.push({
      code: 'untrained_modules',
      message: `${zero.length} of ${withB.length} modules have an all-zero lora_B: those were never trained and change nothing`,
      subjects: zero.slice(0, MAX_SUBJECTS).map((m) => m.name),
    });
  }
  if (findings.nonFinite.length > 0) {
    const values = findings.nonFinite.reduce((sum, t) => sum + t.count, 0);
    const tensors = findings.nonFinite.length;
    warnings.push({
      code: 'non_finite',
      message:
        `${values.toLocaleString('en-US')} NaN or infinite ${values === 1 ? 'value' : 'values'} in ${tensors} ` +
        `${tensors === 1 ? 'tensor' : 'tensors'}: the adapter would turn the model's outputs into NaN`,
      subjects: findings.nonFinite.slice(0, MAX_SUBJECTS).map((t) => t.tensor),
    });
  }
  return { warnings, untrained };
}

/**
 * Checkpoints whose adapter weights are byte-identical (same SHA-256) to the final adapter or to each
 * other: one warning per group of equal files, its subjects the paths (the final adapter first). When the one
 * checkpoint equal to the final adapter is the trainer's own best (`trainerBest`, its folder), that is
 * `load_best_model_at_end` at work, and the message says so.
 */
export function duplicateCheckpoints(
  files: readonly { path: string; sha256: string; kind: string }[],
  mainPath: string | null,
  trainerBest: string | null = null,
): WeightWarning[] {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const base = f.path.slice(f.path.lastIndexOf('/') + 1).toLowerCase();
    // PEFT's and mlx's adapter files, and mlx's checkpoints, each one file (0000100_adapters.safetensors).
    const named = ADAPTER_WEIGHT_FILES.has(base) || checkpointOf(f.path)?.file === true;
    const weights = f.path === mainPath || ((f.kind === 'checkpoint' || f.kind === 'adapter_weights') && named);
    if (!weights) continue;
    const group = groups.get(f.sha256);
    if (group) group.push(f.path);
    else groups.set(f.sha256, [f.path]);
  }
  const warnings: WeightWarning[] = [];
  for (const paths of groups.values()) {
    if (paths.length < 2) continue;
    paths.sort((a, b) => (a === mainPath ? -1 : b === mainPath ? 1 : a < b ? -1 : a > b ? 1 : 0));
    const copies = mainPath !== null && paths[0] === mainPath ? paths.length - 1 : paths.length;
    const bestAtEnd = paths[0] === mainPath && copies === 1 && trainerBest !== null && paths[1]!.startsWith(`${trainerBest}/`);
    const message = bestAtEnd
      ? `the final adapter is ${trainerBest}'s, the trainer's best checkpoint (same SHA-256): load_best_model_at_end saved it as the final adapter`
      : paths[0] === mainPath
        ? `${copies === 1 ? 'a checkpoint holds' : `${copies} checkpoints hold`} the same adapter weights as the final adapter (same SHA-256)`
        : `${copies} checkpoints hold identical adapter weights (same SHA-256): training did not change them in between`;
    warnings.push({ code: 'duplicate_checkpoint', message, subjects: paths.slice(0, MAX_SUBJECTS) });
  }
  return warnings;
}
