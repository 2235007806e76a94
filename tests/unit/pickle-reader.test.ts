import { describe, expect, test } from 'bun:test';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RangeReader } from '../../server/ingest/inspect/safetensors.ts';
import { PickleError, readTorchStateDict } from '../../server/outputs/pickle.ts';
import { hostilePickle, picklePayload, type TensorSpec, torchSave, torchSaveLegacy, torchSaveVirtual, torchZip } from '../fixtures/torch-save.ts';

/** A reader over bytes that counts what it is asked for. */
function counted(bytes: Uint8Array | { size: number; read: RangeReader }) {
  const source = bytes instanceof Uint8Array ? { size: bytes.length, read: async (o: number, n: number) => bytes.subarray(o, o + n) } : bytes;
  const stats = { reads: 0, bytes: 0 };
  const read: RangeReader = async (offset, length) => {
    stats.reads++;
    stats.bytes += length;
    return source.read(offset, length);
  };
  return { read, size: source.size, stats };
}

const readBytes = (bytes: Uint8Array, path = 'adapter_model.bin') => {
  const { read, size } = counted(bytes);
  return readTorchStateDict(read, size, path);
};

/** The PickleError a read ends in, and how long it took (a correctness deadline, not a benchmark). */
async function refusal(promise: Promise<unknown>): Promise<{ error: PickleError; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  const ms = performance.now() - started;
  if (!(error instanceof PickleError)) throw new Error(`expected a PickleError, got ${error === null ? 'a result' : String(error)}`);
  return { error, ms };
}

async function expectRefused(bytes: Uint8Array, message: RegExp, path = 'adapter_model.bin'): Promise<PickleError> {
  const { error, ms } = await refusal(readBytes(bytes, path));
  expect(error.message).toMatch(message);
  expect(error.path).toBe(path);
  expect(error.message).not.toContain('\n');
  expect(ms).toBeLessThan(2_000);
  return error;
}

/** Bytes from pieces: opcodes as numbers, text as ASCII, arrays spliced. */
function pickle(...pieces: (number | string | Uint8Array | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const piece of pieces) {
    if (typeof piece === 'number') out.push(piece);
    else if (typeof piece === 'string') out.push(...new TextEncoder().encode(piece));
    else for (const b of piece) out.push(b);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const binunicode = (text: string) => {
  const body = new TextEncoder().encode(text);
  return pickle(0x58, u32(body.length), body);
};

/** Same-length substitution of ASCII text wherever it occurs (names in local and central headers alike). */
function replaceText(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = Buffer.from(bytes);
  for (let at = out.indexOf(from); at >= 0; at = out.indexOf(from, at + 1)) out.write(to, at, 'latin1');
  return new Uint8Array(out);
}

/**
 * Pickles written by CPython 3.11's own pickler (protocols 0–5) of objects shaped like torch's, made with a
 * stand-in `torch` module so no torch code ran: an OrderedDict of `a.weight` (FloatStorage '0', numel 6, (2, 3)),
 * `b.scale` (`_rebuild_tensor_v3` on torch.storage.UntypedStorage '1', 4 bytes, dtype torch.float8_e4m3fn) and
 * `c.bias` (`_rebuild_parameter` of HalfStorage '2', numel 3). protocol0_*: text opcodes (persistent ids are strings
 * there, so no tensor can be expressed). evil_size: the size argument is `os.system('touch /tmp/never-run')`.
 * past_storage: shape (2, 3) on a storage of 5 elements.
 */
const CPYTHON: Record<string, string> = {
  protocol1: [
    'Y2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnEAKVJxAShYCAAAAGEud2VpZ2h0cQJjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpxAy',
    'goWAcAAABzdG9yYWdlcQRjdG9yY2gKRmxvYXRTdG9yYWdlCnEFWAEAAAAwcQZYAwAAAGNwdXEHSwZ0cQhRSwAoSwJLA3RxCShLA0sBdHEKSTAw',
    'CmgAKVJxC3RxDFJxDVgHAAAAYi5zY2FsZXEOY3RvcmNoLl91dGlscwpfcmVidWlsZF90ZW5zb3JfdjMKcQ8oKGgEY3RvcmNoLnN0b3JhZ2UKVW',
    '50eXBlZFN0b3JhZ2UKcRBYAQAAADFxEWgHSwR0cRJRSwAoSwR0cRMoSwF0cRRJMDAKaAApUnEVY3RvcmNoCmZsb2F0OF9lNG0zZm4KcRZ0cRdS',
    'cRhYBgAAAGMuYmlhc3EZY3RvcmNoLl91dGlscwpfcmVidWlsZF9wYXJhbWV0ZXIKcRooaAMoKGgEY3RvcmNoCkhhbGZTdG9yYWdlCnEbWAEAAA',
    'AycRxoB0sDdHEdUUsAKEsDdHEeaBRJMDAKaAApUnEfdHEgUnEhSTAxCmgAKVJxInRxI1JxJHUu',
  ].join(''),
  protocol2: [
    'gAJjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgIAAAAYS53ZWlnaHRxAmN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCn',
    'EDKChYBwAAAHN0b3JhZ2VxBGN0b3JjaApGbG9hdFN0b3JhZ2UKcQVYAQAAADBxBlgDAAAAY3B1cQdLBnRxCFFLAEsCSwOGcQlLA0sBhnEKiWgA',
    'KVJxC3RxDFJxDVgHAAAAYi5zY2FsZXEOY3RvcmNoLl91dGlscwpfcmVidWlsZF90ZW5zb3JfdjMKcQ8oKGgEY3RvcmNoLnN0b3JhZ2UKVW50eX',
    'BlZFN0b3JhZ2UKcRBYAQAAADFxEWgHSwR0cRJRSwBLBIVxE0sBhXEUiWgAKVJxFWN0b3JjaApmbG9hdDhfZTRtM2ZuCnEWdHEXUnEYWAYAAABj',
    'LmJpYXNxGWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfcGFyYW1ldGVyCnEaaAMoKGgEY3RvcmNoCkhhbGZTdG9yYWdlCnEbWAEAAAAycRxoB0sDdH',
    'EdUUsASwOFcR5oFIloAClScR90cSBScSGIaAApUnEih3EjUnEkdS4=',
  ].join(''),
  protocol3: [
    'gANjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgIAAAAYS53ZWlnaHRxAmN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCn',
    'EDKChYBwAAAHN0b3JhZ2VxBGN0b3JjaApGbG9hdFN0b3JhZ2UKcQVYAQAAADBxBlgDAAAAY3B1cQdLBnRxCFFLAEsCSwOGcQlLA0sBhnEKiWgA',
    'KVJxC3RxDFJxDVgHAAAAYi5zY2FsZXEOY3RvcmNoLl91dGlscwpfcmVidWlsZF90ZW5zb3JfdjMKcQ8oKGgEY3RvcmNoLnN0b3JhZ2UKVW50eX',
    'BlZFN0b3JhZ2UKcRBYAQAAADFxEWgHSwR0cRJRSwBLBIVxE0sBhXEUiWgAKVJxFWN0b3JjaApmbG9hdDhfZTRtM2ZuCnEWdHEXUnEYWAYAAABj',
    'LmJpYXNxGWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfcGFyYW1ldGVyCnEaaAMoKGgEY3RvcmNoCkhhbGZTdG9yYWdlCnEbWAEAAAAycRxoB0sDdH',
    'EdUUsASwOFcR5oFIloAClScR90cSBScSGIaAApUnEih3EjUnEkdS4=',
  ].join(''),
  protocol4: [
    'gASVfwEAAAAAAACMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpQojAhhLndlaWdodJSMDHRvcmNoLl91dGlsc5SMEl9yZWJ1aWxkX3',
    'RlbnNvcl92MpSTlCgojAdzdG9yYWdllIwFdG9yY2iUjAxGbG9hdFN0b3JhZ2WUk5SMATCUjANjcHWUSwZ0lFFLAEsCSwOGlEsDSwGGlIloAilS',
    'lHSUUpSMB2Iuc2NhbGWUaAWMEl9yZWJ1aWxkX3RlbnNvcl92M5STlCgoaAiMDXRvcmNoLnN0b3JhZ2WUjA5VbnR5cGVkU3RvcmFnZZSTlIwBMZ',
    'RoDUsEdJRRSwBLBIWUSwGFlIloAilSlGgJjA1mbG9hdDhfZTRtM2ZulJOUdJRSlIwGYy5iaWFzlGgFjBJfcmVidWlsZF9wYXJhbWV0ZXKUk5Ro',
    'BygoaAhoCYwLSGFsZlN0b3JhZ2WUk5SMATKUaA1LA3SUUUsASwOFlGgdiWgCKVKUdJRSlIhoAilSlIeUUpR1Lg==',
  ].join(''),
  protocol5: [
    'gAWVfwEAAAAAAACMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpQojAhhLndlaWdodJSMDHRvcmNoLl91dGlsc5SMEl9yZWJ1aWxkX3',
    'RlbnNvcl92MpSTlCgojAdzdG9yYWdllIwFdG9yY2iUjAxGbG9hdFN0b3JhZ2WUk5SMATCUjANjcHWUSwZ0lFFLAEsCSwOGlEsDSwGGlIloAilS',
    'lHSUUpSMB2Iuc2NhbGWUaAWMEl9yZWJ1aWxkX3RlbnNvcl92M5STlCgoaAiMDXRvcmNoLnN0b3JhZ2WUjA5VbnR5cGVkU3RvcmFnZZSTlIwBMZ',
    'RoDUsEdJRRSwBLBIWUSwGFlIloAilSlGgJjA1mbG9hdDhfZTRtM2ZulJOUdJRSlIwGYy5iaWFzlGgFjBJfcmVidWlsZF9wYXJhbWV0ZXKUk5Ro',
    'BygoaAhoCYwLSGFsZlN0b3JhZ2WUk5SMATKUaA1LA3SUUUsASwOFlGgdiWgCKVKUdJRSlIhoAilSlIeUUpR1Lg==',
  ].join(''),
  protocol0_text: [
    'KGRwMApWdwpwMQpjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpwMgooUHN0b3JhZ2UwCkkwCihJMgpJMwp0cDMKKEkzCkkxCnRwNA',
    'pJMDAKY2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnA1Cih0UnA2CnRwNwpScDgKcy4=',
  ].join(''),
  protocol0_values: [
    'KGRwMApWbHIKcDEKRjAuMDAwMgpzVnN0ZXBzCnAyCihscDMKSTEKYUkyCmFJMwphc1ZuYW1lCnA0Clb8bu9cdTAwMGEKcDUKc1ZiaWcKcDYKTD',
    'ExODA1OTE2MjA3MTc0MTEzMDM0MjRMCnNWbmVnCnA3CkktNQpzVmZsYWcKcDgKSTAxCnNWbm9uZQpwOQpOc1Z0CnAxMAooSTEKSTIKdHAxMQpz',
    'Lg==',
  ].join(''),
  evil_size: [
    'gAJ9cQBYAQAAAHdxAWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCnECKChYBwAAAHN0b3JhZ2VxA2N0b3JjaApGbG9hdFN0b3JhZ2',
    'UKcQRYAQAAADBxBVgDAAAAY3B1cQZLBnRxB1FLAGNwb3NpeApzeXN0ZW0KcQhYFAAAAHRvdWNoIC90bXAvbmV2ZXItcnVucQmFcQpScQtLA0sB',
    'hnEMiWNjb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxDSlScQ50cQ9ScRBzLg==',
  ].join(''),
  past_storage: [
    'gAJ9cQBYAQAAAHdxAWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCnECKChYBwAAAHN0b3JhZ2VxA2N0b3JjaApGbG9hdFN0b3JhZ2',
    'UKcQRYAQAAADBxBVgDAAAAY3B1cQZLBXRxB1FLAEsCSwOGcQhLA0sBhnEJiWNjb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxCilScQt0cQxScQ1z',
    'Lg==',
  ].join(''),
};
const cpython = (name: string) => Uint8Array.from(Buffer.from(CPYTHON[name]!, 'base64'));
const CPYTHON_STORAGES = [
  { key: '0', data: new Uint8Array(24) },
  { key: '1', data: new Uint8Array(4) },
  { key: '2', data: new Uint8Array(6) },
];

const LORA: TensorSpec[] = [
  { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F32', shape: [16, 4096] },
  { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'F32', shape: [4096, 16] },
  { name: 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight', dtype: 'BF16', shape: [16, 14336] },
  { name: 'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight', dtype: 'BF16', shape: [4096, 16] },
  { name: 'base_model.model.lm_head.lora_embedding_A', dtype: 'F16', shape: [16, 128256] },
  { name: 'scalar', dtype: 'F16', shape: [] },
];
const asRead = (specs: TensorSpec[]) => specs.map(({ name, dtype, shape }) => ({ name, dtype, shape }));

describe('readTorchStateDict: tensor names, dtypes and shapes', () => {
  test('a plain dict (PEFT adapter_model.bin) of F32, BF16 and F16 tensors, in order', async () => {
    expect(await readBytes(torchSave(LORA))).toEqual(asRead(LORA));
  });

  test("an OrderedDict with state_dict()'s _metadata, of nn.Parameters (_rebuild_parameter), under any archive name", async () => {
    const bytes = torchSave(LORA, { ordered: true, parameters: true, archiveName: 'adapter_model' });
    expect(await readBytes(bytes)).toEqual(asRead(LORA));
  });

  test('tensor data as given does not change what is read', async () => {
    const specs: TensorSpec[] = [{ name: 'w', dtype: 'F32', shape: [2, 3], data: new Uint8Array(24).fill(7) }];
    expect(await readBytes(torchSave(specs))).toEqual(asRead(specs));
  });

  test('1,200 tensors: SETITEMS batches of 1,000 and LONG_BINPUT/LONG_BINGET memo indices past 255', async () => {
    const specs: TensorSpec[] = Array.from({ length: 1_200 }, (_, i) => ({ name: `layers.${i}.lora_A.weight`, dtype: 'BF16', shape: [8, i + 1] }));
    expect(await readBytes(torchSave(specs))).toEqual(asRead(specs));
  });

  test("CPython's pickles of protocols 1 to 5, with _rebuild_tensor_v3 on an UntypedStorage and a float8 dtype", async () => {
    const expected = [
      { name: 'a.weight', dtype: 'F32', shape: [2, 3] },
      { name: 'b.scale', dtype: 'F8_E4M3', shape: [4] },
      { name: 'c.bias', dtype: 'F16', shape: [3] },
    ];
    for (const protocol of [1, 2, 3, 4, 5]) {
      expect(await readBytes(torchZip(cpython(`protocol${protocol}`), {}, CPYTHON_STORAGES))).toEqual(expected);
    }
  });

  test('the legacy (pre-1.6) raw-pickle format, its storages never read', async () => {
    expect(await readBytes(torchSaveLegacy(LORA), 'adapter_model.pt')).toEqual(asRead(LORA));
    // A pickle of about 400 KB: read through a growing prefix (256 KiB, then 1 MiB), not the 100 MB of storages behind it.
    const specs: TensorSpec[] = Array.from({ length: 1_500 }, (_, i) => ({
      name: `base_model.model.layers.${i}.lora_A.weight`,
      dtype: 'F32',
      shape: [16, 1024],
    }));
    const file = counted(torchSaveLegacy(specs));
    expect(file.size).toBeGreaterThan(90 * 2 ** 20);
    expect(await readTorchStateDict(file.read, file.size, 'adapter_model.pt')).toEqual(asRead(specs));
    expect(file.stats.bytes).toBeLessThan(2 * 2 ** 20);
  });

  test('a deflated data.pkl and a plain (non-ZIP64) zip with data.pkl last', async () => {
    expect(await readBytes(torchSave(LORA, { deflatePickle: true }))).toEqual(asRead(LORA));
    expect(await readBytes(torchSave(LORA, { zip64: 'none', pickleLast: true }))).toEqual(asRead(LORA));
  });

  test('ZIP64 everywhere: saturated end record and central-directory fields carried by ZIP64 records', async () => {
    expect(await readBytes(torchSave(LORA, { zip64: 'forced' }))).toEqual(asRead(LORA));
  });

  test('a 5 GB file (ZIP64 sizes and offsets, data.pkl past 4 GiB) is read in a few small reads', async () => {
    const specs: TensorSpec[] = [...LORA, { name: 'base_model.model.model.embed_tokens.weight', dtype: 'F32', shape: [40_000, 32_768] }];
    const file = counted(torchSaveVirtual(specs, { pickleLast: true }));
    expect(file.size).toBeGreaterThan(5e9);
    expect(await readTorchStateDict(file.read, file.size, 'adapter_model.bin')).toEqual(asRead(specs));
    expect(file.stats.reads).toBeLessThanOrEqual(6);
    expect(file.stats.bytes).toBeLessThan(1024 * 1024);
  });

  test('a 64 MiB file is inspected with under 20 MiB read', async () => {
    const specs: TensorSpec[] = [{ name: 'w', dtype: 'F32', shape: [4096, 4096] }, ...LORA];
    const file = counted(torchSaveVirtual(specs));
    expect(file.size).toBeGreaterThan(64 * 2 ** 20);
    expect(await readTorchStateDict(file.read, file.size, 'adapter_model.bin')).toEqual(asRead(specs));
    expect(file.stats.bytes).toBeLessThan(20 * 2 ** 20);
  });
});

describe('readTorchStateDict: torch.save files that are not a state dict', () => {
  test('training_args.bin (TrainingArguments): refused, naming the class as data', async () => {
    await expectRefused(
      picklePayload('training_args'),
      /^not a tensor state dict: its top level is a call to transformers\.training_args\.TrainingArguments$/,
    );
  });

  // An optimizer's state is nested ({'state': {0: {'exp_avg': tensor, …}}, 'param_groups': […]}): its tensors are
  // per-parameter moments keyed by index, not named weights, so it is refused rather than flattened.
  test('optimizer.pt: refused at its nested "state" dict', async () => {
    await expectRefused(picklePayload('optimizer'), /^not a tensor state dict: the value of "state" is a dict$/, 'optimizer.pt');
  });

  test('rng_state.pth: refused at its Python RNG tuple (numpy arrays and bytes parsed on the way)', async () => {
    await expectRefused(picklePayload('rng_state'), /^not a tensor state dict: the value of "python" is a tuple$/, 'rng_state.pth');
  });

  test('protocol 0 text opcodes parse to the end, and a string persistent id is not a storage', async () => {
    // UNICODE is raw-unicode-escape: Latin-1 bytes as they are (0xfc, not windows-1252), \uXXXX escapes decoded.
    await expectRefused(torchZip(pickle('(dp0\nV', 0xfc, '\\u0131\np1\nI7\ns.')), /^not a tensor state dict: the value of "üı" is an int$/);
    await expectRefused(torchZip(cpython('protocol0_values')), /the value of "lr" is a float$/);
    await expectRefused(torchZip(cpython('protocol0_text')), /^tensor "w": its storage is an unknown persistent id$/);
  });
});

describe('readTorchStateDict: hostile pickles end in a PickleError, quickly, executing nothing', () => {
  test('os.system in a state dict: refused by name, and the command never runs', async () => {
    const marker = join(tmpdir(), `pickle-executed-${process.pid}-${Date.now()}`);
    rmSync(marker, { force: true });
    await expectRefused(
      hostilePickle('os_system', { marker }),
      /^not a tensor state dict: the value of ".*lora_A\.weight" is a call to posix\.system$/,
    );
    expect(existsSync(marker)).toBe(false);
  });

  test('a call hidden in a tensor argument, and builtins.eval at the top level', async () => {
    await expectRefused(torchZip(cpython('evil_size')), /^tensor "w": its size is a call to posix\.system$/);
    const evalCall = pickle(0x80, 2, 'cbuiltins\neval\n', binunicode('__import__("os").system("id")'), 0x85, 0x52, 0x2e);
    await expectRefused(torchZip(evalCall), /^not a tensor state dict: its top level is a call to builtins\.eval$/);
  });

  test('deep nesting: 2,000 wrapper calls stop at the walk bound; a deep stack at the stack bound', async () => {
    await expectRefused(hostilePickle('deep_nesting'), /wrapped more than 1000 deep/);
    await expectRefused(torchZip(pickle(0x80, 2, new Uint8Array(200_000).fill(0x5d), 0x2e)), /stack deeper than 10000/);
    await expectRefused(torchZip(pickle(0x80, 2, new Uint8Array(20_000).fill(0x28), 0x2e)), /more than 10000 nested MARKs/);
  });

  test('900,000 nested tuples built on a one-slot stack: no recursion anywhere', async () => {
    const deep = pickle(0x80, 2, 0x7d, binunicode('w'), 0x29, new Uint8Array(900_000).fill(0x85), 0x73, 0x2e);
    await expectRefused(torchZip(deep), /^not a tensor state dict: the value of "w" is a tuple$/);
  });

  test('memo: 200,000 entries, a huge index, a read before a write', async () => {
    await expectRefused(hostilePickle('huge_memo'), /memo index 100000 is past the 100000-entry limit/);
    await expectRefused(torchZip(pickle(0x80, 2, 0x4e, 0x72, u32(0xfffffff0), 0x2e)), /memo index 4294967280 is past/);
    await expectRefused(torchZip(pickle(0x80, 2, 0x6a, u32(77_777), 0x2e)), /memo entry 77777 is read before it is written/);
  });

  test('billion laughs: shared references, never copies', async () => {
    await expectRefused(hostilePickle('laughs'), /^not a tensor state dict: the value of "model\.embed_tokens\.weight" is a list$/);
  });

  test('more than 1,000,000 opcodes', async () => {
    const ops = new Uint8Array(1_200_000 * 2).fill(0x4e); // NONE, POP, NONE, POP, …
    for (let i = 1; i < ops.length; i += 2) ops[i] = 0x30;
    await expectRefused(torchZip(pickle(0x80, 2, ops, 0x4e, 0x2e)), /more than 1000000 pickle opcodes/);
  });

  test('absurd lengths are refused before anything of their size is allocated', async () => {
    await expectRefused(torchZip(pickle(0x80, 2, 0x8b, u32(0x7fffffff), 0x2e)), /truncated: 2147483647 bytes wanted/); // LONG4
    await expectRefused(torchZip(pickle(0x80, 2, 0x58, u32(0xfffffff0), 'abc', 0x2e)), /truncated: 4294967280 bytes wanted/); // BINUNICODE
    await expectRefused(torchZip(pickle(0x80, 2, 0x8d, u32(0), u32(0x7fffffff), 0x2e)), /more than 2\^53/); // BINUNICODE8
    await expectRefused(torchZip(pickle(0x80, 2, 0x8e, u32(0xffffffff), u32(0), 0x2e)), /truncated/); // BINBYTES8
  });

  test('unknown and unsupported opcodes, a missing STOP, a stack underflow', async () => {
    await expectRefused(torchZip(pickle(0x80, 2, 0xff, 0x2e)), /^unsupported pickle opcode 0xff at byte 2$/);
    await expectRefused(torchZip(pickle(0x80, 2, 0x82, 1, 0x2e)), /unsupported pickle opcode 0x82/); // EXT1: the copyreg registry
    await expectRefused(torchZip(pickle(0x80, 2, 0x7d, binunicode('w'))), /the pickle is truncated/);
    await expectRefused(torchZip(pickle(0x80, 2, 0x52, 0x2e)), /stack underflow/);
    await expectRefused(torchZip(pickle(0x80, 2, 0x28, 0x4e, 0x73, 0x2e)), /stack underflow/); // SETITEM reaching under a MARK
  });
});

describe('readTorchStateDict: damaged and foreign files', () => {
  test('a file cut short anywhere is refused', async () => {
    const whole = torchSave(LORA);
    for (const length of [whole.length - 1, whole.length - 22, whole.length - 200, Math.floor(whole.length / 2), 100, 30, 3]) {
      await expectRefused(whole.subarray(0, length), /truncated|damaged|too short|no end of central directory|past/);
    }
    const legacy = torchSaveLegacy(LORA);
    await expectRefused(legacy.subarray(0, 400), /the pickle is truncated/, 'adapter_model.pt');
  });

  test('a zip without data.pkl, a data.pkl that fails its CRC', async () => {
    await expectRefused(replaceText(torchSave(LORA), 'archive/data.pkl', 'archive/data.pkX'), /the zip has no <archive>\/data\.pkl/);
    await expectRefused(replaceText(torchSave(LORA), 'lora_A.weight', 'lora_X.weight'), /data\.pkl does not match its CRC-32/);
  });

  test('a deflate bomb: 64 MiB of pickle behind 64 KiB, declared as it is, or declared as 40 bytes', async () => {
    const big = new Uint8Array(64 * 2 ** 20).fill(0x4e); // NONE × 64 Mi
    big.set([0x80, 2]);
    big[big.length - 1] = 0x2e;
    const bomb = torchZip(big, { deflatePickle: true });
    expect(bomb.length).toBeLessThan(2 ** 20);
    await expectRefused(bomb, /^archive\/data\.pkl is 67108864 bytes, over the 16777216-byte limit$/);

    // The central directory is what the reader believes; the first entry is data.pkl.
    const lying = bomb.slice();
    const view = new DataView(lying.buffer);
    let central = -1;
    for (let i = lying.length - 22; i >= 0; i--) if (view.getUint32(i, true) === 0x02014b50) central = i;
    expect(new TextDecoder().decode(lying.subarray(central + 46, central + 46 + 16))).toBe('archive/data.pkl');
    view.setUint32(central + 24, 40, true);
    await expectRefused(lying, /^archive\/data\.pkl does not inflate to its declared 40 bytes/);
  });

  test('storages the pickle needs: a missing record, a record shorter than its tensors, a shape past its storage', async () => {
    await expectRefused(torchZip(cpython('protocol2')), /^tensor "a\.weight" uses storage data\/0, which the zip does not hold$/);
    const short = [{ key: '0', data: new Uint8Array(8) }, ...CPYTHON_STORAGES.slice(1)];
    await expectRefused(torchZip(cpython('protocol2'), {}, short), /^storage data\/0 holds 8 bytes; its tensors need 24$/);
    await expectRefused(
      torchZip(cpython('past_storage'), {}, CPYTHON_STORAGES),
      /^tensor "w": shape \[2, 3\] reaches past its storage of 5 elements$/,
    );
  });

  test('neither a zip nor a pickle; a raw pickle without torch magic', async () => {
    await expectRefused(
      new TextEncoder().encode('{"not": "a pickle"}'),
      /^not a torch\.save file: it starts with neither a zip header nor a pickle$/,
    );
    await expectRefused(pickle(0x80, 2, 0x7d, 0x2e), /without torch’s magic number/);
  });
});
