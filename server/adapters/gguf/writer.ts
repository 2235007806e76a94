/**
 * A GGUF v3 writer that computes the whole header from tensor shapes, before any tensor data exists, so a
 * caller can stream the data afterwards one tensor at a time and know the file's exact size up front.
 *
 * Layout, as gguf-py/gguf/gguf_writer.py writes it (write_header_to_file, write_kv_data_to_file,
 * write_ti_data_to_file, write_tensors_to_file; llama.cpp at the tag node-llama-cpp 3.21.1 bundles), all
 * little-endian:
 *   magic "GGUF" (u32 0x46554747), version u32 = 3, tensor count u64, KV count u64;
 *   each KV: key (u64 length + UTF-8), value type u32, value (strings as u64 length + UTF-8; arrays as
 *   element type u32 + u64 count + elements);
 *   each tensor info: name (string), n_dims u32, dims u64 × n_dims (the contiguous dimension first, i.e. a
 *   PyTorch shape reversed), ggml type u32, offset u64 relative to the data section (a multiple of the
 *   alignment);
 *   zero padding to the alignment (`general.alignment`, default GGUF_DEFAULT_ALIGNMENT = 32), then the data
 *   section: each tensor's bytes followed by zero padding to the alignment.
 */

/** gguf-py/gguf/constants.py GGUF_MAGIC ("GGUF" read as a little-endian u32). */
const GGUF_MAGIC = 0x46554747;
/** gguf-py/gguf/constants.py GGUF_VERSION. */
const GGUF_VERSION = 3;
/** gguf-py/gguf/constants.py GGUF_DEFAULT_ALIGNMENT; used when `general.alignment` is absent. */
export const GGUF_ALIGNMENT = 32;
/** ggml.h GGML_MAX_NAME is 64 including the terminating NUL; llama.cpp's loader rejects longer names. */
const MAX_TENSOR_NAME_BYTES = 63;
/** ggml.h GGML_MAX_DIMS. */
const MAX_DIMS = 4;

/** gguf-py/gguf/constants.py GGUFValueType (the subset written here). */
const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;

/** ggml type ids (gguf-py/gguf/constants.py GGMLQuantizationType) and bytes per element. */
const GGML_TYPES = { F32: { id: 0, bytes: 4 }, F16: { id: 1, bytes: 2 } } as const;
type GgmlType = keyof typeof GGML_TYPES;

/** One metadata value, tagged with the GGUF type it is written as. */
type GgufValue =
  | { type: 'string'; value: string }
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: ArrayLike<number> }
  | { type: 'i32[]'; value: ArrayLike<number> };

/** Metadata in the order it is written (insertion order of the object's keys). */
export type GgufMetadata = Readonly<Record<string, GgufValue>>;

/** A tensor as the header describes it: `dims` contiguous dimension first (a PyTorch shape reversed). */
export interface GgufTensorSpec {
  name: string;
  dims: readonly number[];
  type: GgmlType;
}

interface GgufLayout {
  /** Everything before the data section, padding included: write it first. */
  header: Uint8Array;
  /** Per tensor, its data's offset from the start of the data section (= header.length). */
  offsets: number[];
  /** Per tensor, the bytes of its data (without padding). */
  sizes: number[];
  /** The file's exact size: header, every tensor and its padding. */
  totalBytes: number;
}

/** Rounds `n` up to a multiple of `align` (gguf_writer.py ggml_pad). */
export function ggufPad(n: number, align: number = GGUF_ALIGNMENT): number {
  return Math.ceil(n / align) * align;
}

/**
 * The header of a GGUF file holding `tensors` in the given order, and where each tensor's data goes.
 * Throws Error on a spec GGUF cannot hold (a caller's bug, not a user's input): a name too long, bad dims,
 * an integer out of range.
 */
export function ggufLayout(meta: GgufMetadata, tensors: readonly GgufTensorSpec[]): GgufLayout {
  const align = meta['general.alignment']?.type === 'u32' ? meta['general.alignment'].value : GGUF_ALIGNMENT;
  if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) throw new Error(`general.alignment ${align} is not a power of two`);

  const out = new ByteSink();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(Object.keys(meta).length);
  for (const [key, value] of Object.entries(meta)) {
    out.string(key);
    writeValue(out, key, value);
  }

  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    const nameBytes = new TextEncoder().encode(t.name);
    if (nameBytes.length === 0 || nameBytes.length > MAX_TENSOR_NAME_BYTES)
      throw new Error(`tensor name ${JSON.stringify(t.name)} is empty or too long`);
    if (names.has(t.name)) throw new Error(`tensor ${JSON.stringify(t.name)} is listed twice`);
    names.add(t.name);
    if (t.dims.length === 0 || t.dims.length > MAX_DIMS || !t.dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new Error(`tensor ${t.name} has invalid dims ${JSON.stringify(t.dims)}`);
    }
    const type = GGML_TYPES[t.type];
    const size = t.dims.reduce((a, d) => a * d, type.bytes);
    if (!Number.isSafeInteger(size)) throw new Error(`tensor ${t.name} is too large`);
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(type.id);
    out.u64(offset);
    offsets.push(offset);
    sizes.push(size);
    offset += ggufPad(size, align);
  }

  const header = out.bytes(ggufPad(out.length, align));
  return { header, offsets, sizes, totalBytes: header.length + offset };
}

function writeValue(out: ByteSink, key: string, v: GgufValue): void {
  const ints = (values: ArrayLike<number>, min: number, max: number) => {
    for (let i = 0; i < values.length; i++) {
      const n = values[i]!;
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`metadata ${key}: ${n} is out of range`);
    }
  };
  switch (v.type) {
    case 'string':
      out.u32(VALUE_TYPE.string);
      out.string(v.value);
      return;
    case 'u32':
      ints([v.value], 0, 0xffffffff);
      out.u32(VALUE_TYPE.u32);
      out.u32(v.value);
      return;
    case 'i32':
      ints([v.value], -0x80000000, 0x7fffffff);
      out.u32(VALUE_TYPE.i32);
      out.i32(v.value);
      return;
    case 'f32':
      out.u32(VALUE_TYPE.f32);
      out.f32(v.value);
      return;
    case 'bool':
      out.u32(VALUE_TYPE.bool);
      out.u8(v.value ? 1 : 0);
      return;
    case 'string[]':
      out.u32(VALUE_TYPE.array);
      out.u32(VALUE_TYPE.string);
      out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      return;
    case 'f32[]':
      out.u32(VALUE_TYPE.array);
      out.u32(VALUE_TYPE.f32);
      out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) out.f32(v.value[i]!);
      return;
    case 'i32[]':
      ints(v.value, -0x80000000, 0x7fffffff);
      out.u32(VALUE_TYPE.array);
      out.u32(VALUE_TYPE.i32);
      out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) out.i32(v.value[i]!);
      return;
  }
}

/** A growable little-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // reserve() first: it may replace the buffer and its view.
  u8(n: number): void {
    const at = this.reserve(1);
    this.buf[at] = n;
  }
  u32(n: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, n, true);
  }
  i32(n: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, n, true);
  }
  f32(n: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, n, true);
  }
  u64(n: number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(n), true);
  }
  string(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u64(bytes.length);
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }
  /** A copy of the bytes written, zero-padded to `size`. */
  bytes(size: number): Uint8Array {
    const out = new Uint8Array(size);
    out.set(this.buf.subarray(0, this.length));
    return out;
  }
}
