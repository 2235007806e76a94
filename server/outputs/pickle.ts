/**
 * The tensor names, dtypes and shapes of a torch.save state dict, read from its pickle without running it.
 *
 * A pickle is a program for Python's unpickler: GLOBAL imports any callable and REDUCE calls it. Pickles from
 * GPU nodes (adapter_model.bin, optimizer.pt, training_args.bin, rng_state.pth) are hostile input, and
 * torch.load(weights_only=True) has been bypassed (CVE-2025-32434, CVE-2026-24747), so nothing here or anywhere
 * in the service unpickles: pickle-machine.ts evaluates the opcodes symbolically, as data, within bounds. What
 * it evaluates to is then matched against the one shape torch.save gives a state dict (torch/serialization.py
 * `_save`, torch/_tensor.py `_reduce_ex_internal`; candle-core/src/pickle.rs reads the same): a dict or a
 * `collections.OrderedDict` mapping names to `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 * requires_grad, hooks[, metadata])` (or `_rebuild_tensor_v3`, `_rebuild_tensor`), possibly wrapped in
 * `_rebuild_parameter` or `_rebuild_from_type_v2`, where `storage` is the persistent id
 * `('storage', torch.FloatStorage, key, location, numel)`. Symbols are compared as names, never resolved. Anything
 * else is a PickleError naming what it found; the walk descends only that fixed shape, so shared or deep
 * structures cost nothing more.
 */
import { DTYPE_SIZES, type RangeReader } from '../ingest/inspect/safetensors.ts';
import { call, describe, type Fail, isKind, Machine, NeedMoreBytes, type PySymbol, quote, symbolName, type Value } from './pickle-machine.ts';
import { MAX_PICKLE_BYTES, readExactly, readTorchZip } from './torch-zip.ts';

/** A file that is not a tensor state dict torch.save wrote, or breaks a limit. `message` is one line, without the path. */
export class PickleError extends Error {
  override readonly name: string = 'PickleError';
  constructor(
    /** The file's path within the output, as given by the caller. */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** One tensor of a state dict; dtype named as safetensors names it (F32, F16, BF16, I64, …). */
export interface PickledTensor {
  name: string;
  dtype: string;
  shape: number[];
}

/** A storage record the tensors need: the zip must hold `data/<key>` of at least `bytes`. */
interface StorageNeed {
  key: string;
  bytes: number;
  /** The first tensor that uses it, for the message. */
  tensor: string;
}

/** Most tensors in one state dict (a 70B model's LoRA on every linear layer has about 1,100). */
const MAX_TENSORS = 100_000;
/** Bound on any nesting the walk follows (parameter and subclass wrappers). */
const MAX_WALK_DEPTH = 1_000;

// ---------------------------------------------------------------------------------------------------
// The walk: the state-dict shape, and nothing else

/** Storage classes torch.save names (torch/storage.py `_dtype_to_storage_type_map`), as safetensors dtypes. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** `torch.<dtype>` symbols (the dtype argument of `_rebuild_tensor_v3`, for dtypes without a storage class). */
const TORCH_DTYPES: Readonly<Record<string, string>> = {
  float64: 'F64',
  double: 'F64',
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  uint16: 'U16',
  uint32: 'U32',
  uint64: 'U64',
  bool: 'BOOL',
  float8_e4m3fn: 'F8_E4M3',
  float8_e5m2: 'F8_E5M2',
  float8_e8m0fnu: 'F8_E8M0',
};

/** Most dimensions a tensor may have (torch allows 64 at most in practice). */
const MAX_RANK = 64;

function symbolOf(value: Value): string | null {
  return isKind(value, 'symbol') ? `${value.module}.${value.name}` : null;
}

/** The tensors of a state dict: the value one pickle evaluated to. */
function stateDict(top: Value, fail: Fail): { tensors: PickledTensor[]; storages: StorageNeed[] } {
  let entries: [Value, Value][];
  if (isKind(top, 'dict')) entries = top.entries;
  else if (isKind(top, 'call') && symbolOf(top.callee) === 'collections.OrderedDict') {
    // OrderedDict.__reduce__: (OrderedDict, (), state, None, items) → REDUCE, SETITEMS, and BUILD of a state_dict's _metadata.
    if (!isKind(top.args, 'tuple') || top.args.items.length > 0) fail('not a tensor state dict: an OrderedDict built from arguments');
    entries = top.items ?? [];
  } else {
    return fail(`not a tensor state dict: its top level is ${describe(top)}`);
  }

  // A repeated key keeps its first position and its last value, as a Python dict does.
  const byName = new Map<string, Value>();
  for (const [key, value] of entries) {
    if (typeof key !== 'string') fail(`not a tensor state dict: a key is ${describe(key)}`);
    byName.set(key, value);
    if (byName.size > MAX_TENSORS) fail(`more than ${MAX_TENSORS} tensors`);
  }
  const tensors: PickledTensor[] = [];
  const storages = new Map<string, StorageNeed>();
  for (const [name, value] of byName) {
    const { tensor, storage } = rebuiltTensor(name, value, fail);
    tensors.push(tensor);
    const known = storages.get(storage.key);
    if (known === undefined || known.bytes < storage.bytes) storages.set(storage.key, storage);
  }
  return { tensors, storages: [...storages.values()] };
}

/** One state-dict value: a call to a torch rebuild function, through any parameter or subclass wrappers. */
function rebuiltTensor(name: string, value: Value, fail: Fail): { tensor: PickledTensor; storage: StorageNeed } {
  const where = `tensor ${quote(name)}`;
  let node = value;
  for (let depth = 0; depth <= MAX_WALK_DEPTH; depth++) {
    const fn = isKind(node, 'call') ? symbolOf(node.callee) : null;
    if (!isKind(node, 'call') || fn === null) return fail(`not a tensor state dict: the value of ${quote(name)} is ${describe(node)}`);
    if (!isKind(node.args, 'tuple')) return fail(`${where}: ${fn} is called with ${describe(node.args)}, not a tuple`);
    const args = node.args.items;
    switch (fn) {
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        // (data, requires_grad, backward_hooks[, state]): the tensor is `data`.
        node = args[0] ?? null;
        continue;
      case 'torch._tensor._rebuild_from_type_v2': {
        // (func, new_type, args, state): a tensor subclass; the tensor is func(*args).
        const inner = args[2] ?? null;
        if (!isKind(inner, 'tuple')) return fail(`${where}: _rebuild_from_type_v2 without an argument tuple`);
        node = call(args[0] ?? null, inner);
        continue;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor_v3':
        return tensorFromArgs(name, fn, args, fail);
      default:
        return fail(`not a tensor state dict: the value of ${quote(name)} is a call to ${symbolName(node.callee as PySymbol)}`);
    }
  }
  return fail(`${where} is wrapped more than ${MAX_WALK_DEPTH} deep`);
}

/** (storage, storage_offset, size, stride, …) — and for v3 the dtype at index 6. */
function tensorFromArgs(name: string, fn: string, args: Value[], fail: Fail): { tensor: PickledTensor; storage: StorageNeed } {
  const where = `tensor ${quote(name)}`;
  if (args.length < 4 || (fn.endsWith('_v3') && args.length < 7)) fail(`${where}: ${fn} with ${args.length} arguments`);
  const storage = args[0]!;
  // ('storage', storage_type, key, location, numel) from torch.save's persistent_id; the legacy format adds view metadata.
  const id = isKind(storage, 'persistent') ? storage.id : null;
  if (!isKind(id, 'tuple') || id.items.length < 5 || id.items[0] !== 'storage') {
    return fail(`${where}: its storage is ${isKind(storage, 'persistent') ? 'an unknown persistent id' : describe(storage)}`);
  }
  const [, type, rawKey, location, numel] = id.items;
  const storageType = symbolOf(type ?? null);
  const storageClass = storageType?.replace(/^torch\.(storage\.)?/, '') ?? '';
  if (storageType === null || !/^torch\.(storage\.)?[A-Za-z0-9]+Storage$/.test(storageType)) {
    fail(`${where}: its storage type is ${describe(type ?? null)}`);
  }
  const untyped = storageClass === 'UntypedStorage';
  let dtype = untyped ? 'U8' : STORAGE_DTYPES[storageClass];
  if (dtype === undefined) return fail(`${where}: unsupported storage type ${quote(storageType!)}`);
  if (fn.endsWith('_v3')) {
    const symbol = isKind(args[6]!, 'symbol') ? (args[6] as PySymbol) : null;
    const named = symbol?.module === 'torch' ? TORCH_DTYPES[symbol.name] : undefined;
    if (named === undefined) return fail(`${where}: its dtype is ${describe(args[6]!)}`);
    if (!untyped && named !== dtype) fail(`${where}: dtype ${named} on a ${storageClass}`);
    dtype = named;
  }
  const key = typeof rawKey === 'string' ? rawKey : typeof rawKey === 'number' ? String(rawKey) : null;
  if (key === null || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) return fail(`${where}: its storage key is ${describe(rawKey ?? null)}`);
  if (typeof location !== 'string') fail(`${where}: its storage location is ${describe(location ?? null)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return fail(`${where}: its storage size is ${describe(numel ?? null)}`);

  const offset = args[1]!;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return fail(`${where}: its storage offset is ${describe(offset)}`);
  const shape = dims(args[2]!, `${where}: its size`, fail);
  const stride = dims(args[3]!, `${where}: its stride`, fail);
  if (stride.length !== shape.length) fail(`${where}: ${shape.length} sizes but ${stride.length} strides`);

  // The furthest element must lie inside the storage; BigInt, as hostile sizes overflow a double.
  const elementBytes = DTYPE_SIZES[dtype]!;
  const storageElements = untyped ? BigInt(Math.floor(numel / elementBytes)) : BigInt(numel);
  if (shape.every((d) => d > 0)) {
    let last = BigInt(offset);
    for (let i = 0; i < shape.length; i++) last += BigInt(shape[i]! - 1) * BigInt(stride[i]!);
    if (last >= storageElements) fail(`${where}: shape [${shape.join(', ')}] reaches past its storage of ${storageElements} elements`);
  }
  return {
    tensor: { name, dtype, shape },
    storage: { key, bytes: untyped ? numel : numel * elementBytes, tensor: name },
  };
}

/** A size or stride: a tuple (or list, or torch.Size((…))) of non-negative safe integers. */
function dims(value: Value, what: string, fail: Fail): number[] {
  let items: Value[] | null = isKind(value, 'tuple') || isKind(value, 'list') ? value.items : null;
  if (items === null && isKind(value, 'call') && symbolOf(value.callee) === 'torch.Size' && isKind(value.args, 'tuple')) {
    const inner = value.args.items[0] ?? null;
    items = isKind(inner, 'tuple') || isKind(inner, 'list') ? inner.items : null;
  }
  if (items === null) return fail(`${what} is ${describe(value)}`);
  if (items.length > MAX_RANK) fail(`${what} has ${items.length} dimensions`);
  return items.map((d) => (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 ? d : fail(`${what} holds ${describe(d)}`)));
}

// ---------------------------------------------------------------------------------------------------
// The file

/**
 * Tensor names, dtypes and shapes of a torch.save state dict (the zip form, or the legacy raw-pickle form),
 * without executing its pickle and without reading its tensor data. Throws PickleError for anything else:
 * another object (an optimizer's state, TrainingArguments, a hostile pickle), a broken file, a limit crossed.
 */
export async function readTorchStateDict(read: RangeReader, size: number, path: string): Promise<PickledTensor[]> {
  const fail: Fail = (problem) => {
    throw new PickleError(path, problem);
  };
  if (!Number.isSafeInteger(size) || size < 4) fail(`the file is ${size} bytes, too short for torch.save`);
  const head = await readExactly(read, 0, 4, fail);
  if (head[0] === 0x80) return readLegacy(read, size, fail);
  if (head[0] !== 0x50 || head[1] !== 0x4b || head[2] !== 0x03 || head[3] !== 0x04) {
    fail('not a torch.save file: it starts with neither a zip header nor a pickle');
  }

  const zip = await readTorchZip(read, size, fail);
  const { tensors, storages } = stateDict(new Machine(zip.pickle, true, fail).load(), fail);
  for (const storage of storages) {
    const bytes = zip.storageSize(storage.key);
    if (bytes === undefined) fail(`tensor ${quote(storage.tensor)} uses storage data/${storage.key}, which the zip does not hold`);
    if (bytes < storage.bytes) fail(`storage data/${storage.key} holds ${bytes} bytes; its tensors need ${storage.bytes}`);
  }
  return tensors;
}

/** torch.serialization MAGIC_NUMBER and PROTOCOL_VERSION: the first two pickles of the legacy (pre-1.6) format. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/**
 * The legacy torch.save: pickles of the magic number, the protocol version and sys_info, then the object (its
 * storages as `('storage', type, key, location, numel, view_metadata)`), then the storage keys and raw storages.
 * Reads a growing prefix until the object's pickle ends; the storages that follow are never read.
 */
async function readLegacy(read: RangeReader, size: number, fail: Fail): Promise<PickledTensor[]> {
  let window = Math.min(size, 256 * 1024);
  for (;;) {
    const machine = new Machine(await readExactly(read, 0, window, fail), window === size, fail);
    try {
      if (machine.load() !== LEGACY_MAGIC) fail('not a torch.save file: a pickle without torch’s magic number');
      if (machine.load() !== LEGACY_PROTOCOL) fail('legacy torch format of an unknown version');
      machine.load(); // sys_info: byte order and C type sizes, which the shapes do not depend on
      return stateDict(machine.load(), fail).tensors;
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      window = Math.min(size, window * 4, MAX_PICKLE_BYTES);
    }
  }
}
