import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fileRangeReader,
  InspectionError,
  MAX_HEADER_BYTES,
  type RangeReader,
  readSafetensorsHeader,
} from '../../server/ingest/inspect/safetensors.ts';
import { randomWeights, writeLoraOutput, writeSafetensors } from '../fixtures/lora.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An in-memory file: the header as given (object or raw text), then `dataSize` zero bytes. */
function memoryFile(header: unknown, dataSize: number, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  return withHeaderBytes(json, dataSize, lengthOverride);
}
function withHeaderBytes(json: Uint8Array, dataSize: number, lengthOverride?: bigint): Uint8Array {
  const bytes = new Uint8Array(8 + json.length + dataSize);
  new DataView(bytes.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}
const memoryReader =
  (bytes: Uint8Array): RangeReader =>
  async (offset, length) =>
    bytes.subarray(offset, offset + length);
const inspect = (bytes: Uint8Array, name = 'adapter_model.safetensors') => readSafetensorsHeader(memoryReader(bytes), bytes.length, name);

async function expectProblem(promise: Promise<unknown>, message: string | RegExp) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InspectionError);
  expect((error as Error).message).toMatch(message);
}

const tensor = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('readSafetensorsHeader on real files', () => {
  test('a LoRA adapter written by the fixture generator', async () => {
    const out = join(dir, 'lora');
    await writeLoraOutput(out, { rank: 8, layers: 24, targetModules: ['q_proj', 'v_proj'] });
    const path = join(out, 'adapter_model.safetensors');
    const info = await readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'adapter_model.safetensors');
    expect(info.tensorCount).toBe(96);
    expect(info.dtypes).toEqual(['F32']);
    // Per layer: q A [8,896] + B [896,8], v A [8,896] + B [128,8].
    expect(info.parameterCount).toBe(24 * (8 * 896 + 896 * 8 + 8 * 896 + 128 * 8));
    expect(info.metadata).toEqual({ format: 'pt' });
    expect(info.tensors[0]).toMatchObject({ name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F32', shape: [8, 896] });
    expect(info.tensors[3]).toMatchObject({ name: 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight', dtype: 'F32', shape: [128, 8] });
  });

  test('reads only the length and the header, never the data', async () => {
    const path = join(dir, 'big.safetensors');
    await writeSafetensors(path, [{ name: 'w', dtype: 'BF16', shape: [1024, 1024], fill: randomWeights(1, 'BF16', -6) }]);
    const reads: [number, number][] = [];
    const base = fileRangeReader(path);
    const size = Bun.file(path).size;
    const recording = (offset: number, length: number) => {
      reads.push([offset, length]);
      return base(offset, length);
    };
    const info = await readSafetensorsHeader(recording, size, 'big.safetensors');
    expect(info).toMatchObject({ tensorCount: 1, dtypes: ['BF16'], parameterCount: 1024 * 1024 });
    expect(reads.length).toBe(2);
    expect(reads[0]).toEqual([0, 8]);
    expect(8 + reads[1]![1]).toBe(size - 2 * 1024 * 1024);
  });

  test('a file truncated in its data area', async () => {
    const path = join(dir, 'truncated.safetensors');
    await writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [64, 64], fill: randomWeights(2, 'F32', -6) }]);
    await truncate(path, Bun.file(path).size - 100);
    await expectProblem(
      readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'truncated.safetensors'),
      /^truncated\.safetensors: tensor "w" data_offsets \[0, 16384\] run past the 16284-byte data area$/,
    );
  });

  test('a file truncated inside its header', async () => {
    const path = join(dir, 'cut.safetensors');
    await writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], fill: randomWeights(3, 'F32', -6) }]);
    await truncate(path, 20);
    await expectProblem(readSafetensorsHeader(fileRangeReader(path), 20, 'cut.safetensors'), /header length \d+ exceeds file size 20/);
  });
});

describe('readSafetensorsHeader rejects corrupt files', () => {
  test('header length beyond the file, named in the message', async () => {
    await expectProblem(inspect(memoryFile({}, 0, 9_999_999_999n)), 'adapter_model.safetensors: header length 9999999999 exceeds file size 10');
  });

  test('header length above the 100 MB bound even when the file is bigger', async () => {
    const prefix = memoryFile({}, 0, BigInt(MAX_HEADER_BYTES + 1));
    const read: RangeReader = async (offset, length) => prefix.subarray(offset, offset + length);
    await expectProblem(readSafetensorsHeader(read, 500_000_000, 'x.safetensors'), /exceeds the 100000000-byte limit/);
  });

  test('a file shorter than 8 bytes', async () => {
    await expectProblem(inspect(new Uint8Array(5)), /5 bytes, too short/);
  });

  test('a reader that returns fewer bytes than asked', async () => {
    const bytes = memoryFile({ w: tensor('F32', [1], 0, 4) }, 4);
    const short: RangeReader = async (offset, length) => bytes.subarray(offset, offset + Math.min(length, 10));
    await expectProblem(readSafetensorsHeader(short, bytes.length, 'x'), /truncated: read 10 of \d+ header bytes/);
  });

  const cases: [string, unknown, number, RegExp][] = [
    ['bad JSON', '{"w": {', 0, /header is not valid JSON/],
    ['a JSON array', '[1, 2]', 0, /header is not a JSON object/],
    ['JSON null', 'null', 0, /header is not a JSON object/],
    ['unknown dtype', { w: tensor('F12', [2], 0, 4) }, 4, /tensor "w" has unknown dtype "F12"/],
    ['missing dtype', { w: { shape: [2], data_offsets: [0, 8] } }, 8, /unknown dtype undefined/],
    ['negative shape', { w: tensor('F32', [-1, 2], 0, 8) }, 8, /invalid shape \[-1,2\]/],
    ['fractional shape', { w: tensor('F32', [1.5], 0, 8) }, 8, /invalid shape/],
    ['offsets not a pair', { w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4, /invalid data_offsets \[0\]/],
    ['offsets reversed', { w: tensor('F32', [1], 8, 4) }, 8, /invalid data_offsets \[8,4\]/],
    ['size not matching the shape', { w: tensor('F32', [2, 3], 0, 20) }, 24, /spans 20 bytes but shape \[2,3\] of F32 needs 24/],
    ['offsets out of range', { w: tensor('F16', [4], 8, 16) }, 12, /data_offsets \[8, 16\] run past the 12-byte data area/],
    ['overlapping tensors', { a: tensor('F32', [4], 0, 16), b: tensor('F32', [2], 12, 20) }, 20, /tensors "a" \[0, 16\] and "b" \[12, 20\] overlap/],
    ['a shape overflowing a double', { w: tensor('U8', [2 ** 40, 2 ** 40], 0, 8) }, 8, /needs 1208925819614629174706176/],
    ['metadata not an object', { __metadata__: 'pt' }, 0, /__metadata__ is not an object/],
    ['metadata with a non-string value', { __metadata__: { format: 1 } }, 0, /__metadata__.format is not a string/],
    ['a tensor entry that is not an object', { w: 5 }, 0, /tensor "w" is not an object/],
  ];
  test.each(cases)('%s', async (_name, header, dataSize, message) => {
    await expectProblem(inspect(memoryFile(header, dataSize)), message);
  });

  test('invalid UTF-8 in the header', async () => {
    const json = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":"\u00e9"}');
    json[json.length - 3] = 0xff;
    await expectProblem(inspect(withHeaderBytes(json, 4)), /header is not valid UTF-8/);
  });
});

describe('readSafetensorsHeader accepts what the format allows', () => {
  test('space padding, empty tensors, gaps, every dtype, metadata absent', async () => {
    const header = {
      b: tensor('BF16', [2, 2], 16, 24),
      a: tensor('F64', [2], 0, 16),
      empty: tensor('F32', [0, 5], 16, 16),
      scalar: tensor('BOOL', [], 30, 31),
      e4: tensor('F8_E4M3', [3], 40, 43),
    };
    const json = `${JSON.stringify(header)}      `;
    const info = await inspect(memoryFile(json, 64));
    expect(info.metadata).toBeNull();
    expect(info.tensorCount).toBe(5);
    expect(info.dtypes).toEqual(['BF16', 'BOOL', 'F32', 'F64', 'F8_E4M3']);
    expect(info.parameterCount).toBe(4 + 2 + 0 + 1 + 3);
    expect(info.tensors.map((t) => t.name)).toEqual(['a', 'empty', 'b', 'scalar', 'e4']);
  });

  test('"__metadata__": null, as mlx writes it (compact, sorted, unpadded), is no metadata', async () => {
    const json = '{"__metadata__":null,"model.layers.8.self_attn.q_proj.lora_a":{"data_offsets":[0,16],"dtype":"F32","shape":[2,2]}}';
    const info = await inspect(memoryFile(json, 16), 'adapters.safetensors');
    expect(info.metadata).toBeNull();
    expect(info.tensors.map((t) => [t.name, t.shape])).toEqual([['model.layers.8.self_attn.q_proj.lora_a', [2, 2]]]);
  });

  test('a header-only file with no tensors', async () => {
    expect(await inspect(memoryFile({ __metadata__: { format: 'pt' } }, 0))).toEqual({
      tensorCount: 0,
      dtypes: [],
      parameterCount: 0,
      tensors: [],
      metadata: { format: 'pt' },
    });
  });
});
