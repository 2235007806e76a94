/**
 * Reads and validates the header of a .safetensors file without reading its tensor data: the caller
 * supplies a ranged `read`, so the same code inspects a local file, an S3 object or an HTTP range.
 *
 * Layout (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N, N bytes of UTF-8 JSON
 * `{ "__metadata__"?: {string: string} | null, "<tensor>": { dtype, shape, data_offsets: [begin, end] } }`,
 * then the data area, with offsets relative to its start.
 */

/** A file that is not what it claims to be. The message names the file and the problem. */
export class InspectionError extends Error {
  override readonly name: string = 'InspectionError';
  constructor(
    /** The file's path within the output, as given by the caller. */
    readonly fileName: string,
    /** What is wrong, without the file name. */
    readonly problem: string,
  ) {
    super(`${fileName}: ${problem}`);
  }
}

/** Bytes per element of every dtype accepted, by safetensors' names (the pickle reader names torch's dtypes the same way). */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
};

/** The reference implementation's bound; anything larger is a corrupt length, not a real header. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor of the header; `begin`/`end` are its data_offsets, relative to the data area (after the header). */
type SafetensorsTensor = { name: string; dtype: string; shape: number[]; begin: number; end: number };

/** What the header says about a safetensors file. */
export type SafetensorsInfo = {
  tensorCount: number;
  /** Sorted, unique. */
  dtypes: string[];
  /** Sum over tensors of the product of their shape. */
  parameterCount: number;
  /** In data-offset order, i.e. the order the bytes appear in the file. */
  tensors: SafetensorsTensor[];
  metadata: Record<string, string> | null;
};

/** Reads exactly `length` bytes at `offset` (a shorter result is treated as a truncated file). */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * Reads the 8-byte length, then the header, and validates both against `fileSize`; two reads in all.
 * Throws InspectionError on any violation.
 */
export async function readSafetensorsHeader(read: RangeReader, fileSize: number, fileName = 'model.safetensors'): Promise<SafetensorsInfo> {
  const { bytes, dataSize } = await readSafetensorsHeaderBytes(read, fileSize, fileName);
  return parseSafetensorsHeader(bytes, dataSize, fileName);
}

/**
 * The I/O half of readSafetensorsHeader: the header's bytes (checked against the size limits, not yet
 * parsed) and the size of the data area after it, for a caller that parses elsewhere (a worker thread).
 */
export async function readSafetensorsHeaderBytes(
  read: RangeReader,
  fileSize: number,
  fileName = 'model.safetensors',
): Promise<{ bytes: Uint8Array; dataSize: number }> {
  const fail = (problem: string): never => {
    throw new InspectionError(fileName, problem);
  };
  if (!Number.isSafeInteger(fileSize) || fileSize < 8) {
    fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);
  }

  const prefix = await read(0, 8);
  if (prefix.byteLength < 8) fail(`file is truncated: read ${prefix.byteLength} of the 8 header-length bytes`);
  const headerLen = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(fileSize - 8)) fail(`header length ${headerLen} exceeds file size ${fileSize}`);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const length = Number(headerLen);

  const header = await read(8, length);
  if (header.byteLength < length) fail(`file is truncated: read ${header.byteLength} of ${length} header bytes`);
  return { bytes: header.byteLength === length ? header : header.slice(0, length), dataSize: fileSize - 8 - length };
}

/**
 * Validates the JSON header bytes against a data area of `dataSize` bytes. Exported for callers that
 * already hold the header; `readSafetensorsHeader` is the usual entry point.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataSize: number, fileName = 'model.safetensors'): SafetensorsInfo {
  const fail = (problem: string): never => {
    throw new InspectionError(fileName, problem);
  };

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) fail('header is not a JSON object');
  const entries = json as Record<string, unknown>;

  let metadata: Record<string, string> | null = null;
  const tensors: (SafetensorsTensor & { begin: number; end: number })[] = [];
  const dtypes = new Set<string>();
  let parameterCount = 0;

  for (const [name, value] of Object.entries(entries)) {
    if (name === '__metadata__') {
      // The reference reader's `Option<HashMap<String, String>>` takes null as no metadata, and mlx writes exactly
      // that (mlx/io/safetensors.cpp: `parent["__metadata__"] = _metadata`, a null json when none was given).
      if (value === null) continue;
      if (!isPlainObject(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(value)) fail(`${where} is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
      fail(`${where} has unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where} has an invalid shape ${JSON.stringify(shape)} (expected non-negative integers)`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }

    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    // BigInt: a hostile shape can overflow a double long before the comparison would catch it.
    const elements = dims.reduce((acc, d) => acc * BigInt(d), 1n);
    const expected = elements * BigInt(DTYPE_SIZES[dtype as string]!);
    if (expected !== BigInt(end - begin)) {
      fail(`${where} spans ${end - begin} bytes but shape ${JSON.stringify(dims)} of ${dtype} needs ${expected}`);
    }
    if (end > dataSize) fail(`${where} data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data area`);

    tensors.push({ name, dtype: dtype as string, shape: dims, begin, end });
    dtypes.add(dtype as string);
    parameterCount += Number(elements);
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous: (typeof tensors)[number] | undefined;
  for (const t of tensors) {
    if (t.begin === t.end) continue; // an empty tensor occupies no bytes and cannot overlap
    if (previous !== undefined && t.begin < previous.end) {
      fail(
        `tensors ${JSON.stringify(previous.name)} [${previous.begin}, ${previous.end}] and ` +
          `${JSON.stringify(t.name)} [${t.begin}, ${t.end}] overlap`,
      );
    }
    previous = t;
  }

  return {
    tensorCount: tensors.length,
    dtypes: [...dtypes].sort(),
    parameterCount,
    tensors,
    metadata,
  };
}

/** A RangeReader over a local file; reads only the requested slice. */
export function fileRangeReader(path: string): RangeReader {
  const file = Bun.file(path);
  return async (offset, length) => new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
