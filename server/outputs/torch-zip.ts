/**
 * torch.save's zip form, read by ranges: since torch 1.6 a zip (PyTorchStreamWriter, miniz) holding
 * `<archive>/data.pkl` (the pickled object), `<archive>/data/<key>` (one record per storage, stored, 64-byte
 * aligned), `<archive>/byteorder`, `<archive>/version` and `<archive>/.data/serialization_id`. pickle.ts reads
 * what data.pkl says; this reads the zip around it.
 *
 * Only the end of central directory, the central directory and data.pkl are read, never the storages, so a
 * 5 GB file costs a few reads. miniz writes ZIP64 records (torch asks for them), so the ZIP64 end of central
 * directory and the ZIP64 extra field are honoured wherever a 32-bit field is saturated.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import type { RangeReader } from '../ingest/inspect/safetensors.ts';

/** Largest data.pkl read (torch's pickle of a state dict is about 300 bytes a tensor); also the legacy format's bound. */
export const MAX_PICKLE_BYTES = 16 * 1024 * 1024;

type Fail = (problem: string) => never;

const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
/** A zip comment is at most 65,535 bytes, so the EOCD lies in this many bytes from the end. */
const TAIL_BYTES = EOCD_SIZE + 0xffff + ZIP64_LOCATOR_SIZE;
/** A state dict's records: one per storage (pickle.ts allows 100,000 tensors), plus data.pkl and a few small ones. */
const MAX_ENTRIES = 101_000;
/** About 100 bytes a record. */
const MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** A torch zip's data.pkl, and the size of each storage record `<archive>/data/<key>` it may reference. */
interface TorchZip {
  pickle: Uint8Array;
  storageSize: (key: string) => number | undefined;
}

/** Finds `<archive>/data.pkl` through the central directory and reads it; `fail` throws the caller's error. */
export async function readTorchZip(read: RangeReader, size: number, fail: Fail): Promise<TorchZip> {
  const entries = await centralDirectory(read, size, fail);
  const byName = new Map(entries.map((e) => [e.name, e]));

  // torch names every record `<archive>/…`, the archive name being the file's stem at save time (`archive` for a buffer).
  const pickles = entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pickles.length === 0) fail('not a torch.save file: the zip has no <archive>/data.pkl');
  if (pickles.length > 1) fail(`the zip has ${pickles.length} data.pkl records`);
  const pickle = pickles[0]!;
  const prefix = pickle.name.slice(0, -'data.pkl'.length);
  return {
    pickle: await entryBytes(read, size, pickle, fail),
    storageSize: (key) => byName.get(`${prefix}data/${key}`)?.size,
  };
}

/** `read`, refusing a short answer (a file shorter than its own structure says). */
export async function readExactly(read: RangeReader, offset: number, length: number, fail: Fail): Promise<Uint8Array> {
  const bytes = await read(offset, length);
  if (bytes.byteLength < length) fail(`the file is truncated: ${bytes.byteLength} of ${length} bytes at byte ${offset}`);
  return bytes.byteLength === length ? bytes : bytes.subarray(0, length);
}

/** The central directory's entries, found from the end of central directory record (ZIP64 when present). */
async function centralDirectory(read: RangeReader, size: number, fail: Fail): Promise<ZipEntry[]> {
  if (size < EOCD_SIZE) fail('the zip is truncated: no end of central directory');
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const tail = await readExactly(read, tailStart, size - tailStart, fail);
  const tailView = view(tail);

  // The last signature whose comment length fits; exact fit first, as a comment may itself contain the signature.
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0 && at < 0; i--) {
    if (tailView.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tailView.getUint16(i + 20, true) === tail.length) at = i;
  }
  for (let i = tail.length - EOCD_SIZE; i >= 0 && at < 0; i--) {
    if (tailView.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tailView.getUint16(i + 20, true) <= tail.length) at = i;
  }
  if (at < 0) fail('the zip is truncated or damaged: no end of central directory record');

  if (tailView.getUint16(at + 4, true) !== 0 && tailView.getUint16(at + 4, true) !== 0xffff) fail('a multi-disk zip');
  let count = tailView.getUint16(at + 10, true);
  let cdSize = tailView.getUint32(at + 12, true);
  let cdOffset = tailView.getUint32(at + 16, true);
  const eocdOffset = tailStart + at;

  const locator = at - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && tailView.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
    const recordOffset = u64(tailView, locator + 8, 'ZIP64 end of central directory offset', fail);
    if (recordOffset + ZIP64_EOCD_SIZE > eocdOffset - ZIP64_LOCATOR_SIZE) fail('the ZIP64 end of central directory lies past its locator');
    const record = view(await readExactly(read, recordOffset, ZIP64_EOCD_SIZE, fail));
    if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) fail('the ZIP64 locator points at no ZIP64 end of central directory');
    count = u64(record, 32, 'entry count', fail);
    cdSize = u64(record, 40, 'central directory size', fail);
    cdOffset = u64(record, 48, 'central directory offset', fail);
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('the zip needs ZIP64 records it does not have');
  }

  if (count > MAX_ENTRIES) fail(`the zip has ${count} records, over the ${MAX_ENTRIES} limit`);
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES)
    fail(`the zip's central directory is ${cdSize} bytes, over the ${MAX_CENTRAL_DIRECTORY_BYTES}-byte limit`);
  if (cdOffset + cdSize > eocdOffset) fail('the zip is damaged: its central directory overlaps its end record');

  const cd = await readExactly(read, cdOffset, cdSize, fail);
  const cdView = view(cd);
  const entries: ZipEntry[] = [];
  let pos = 0;
  for (let n = 0; n < count; n++) {
    if (pos + CENTRAL_HEADER_SIZE > cd.length || cdView.getUint32(pos, true) !== SIG_CENTRAL)
      fail(`the zip's central directory is damaged at record ${n}`);
    const nameLength = cdView.getUint16(pos + 28, true);
    const extraLength = cdView.getUint16(pos + 30, true);
    const commentLength = cdView.getUint16(pos + 32, true);
    const end = pos + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (end > cd.length) fail(`the zip's central directory is damaged at record ${n}`);
    const entry: ZipEntry = {
      name: new TextDecoder().decode(cd.subarray(pos + CENTRAL_HEADER_SIZE, pos + CENTRAL_HEADER_SIZE + nameLength)),
      flags: cdView.getUint16(pos + 8, true),
      method: cdView.getUint16(pos + 10, true),
      crc: cdView.getUint32(pos + 16, true),
      compressedSize: cdView.getUint32(pos + 20, true),
      size: cdView.getUint32(pos + 24, true),
      localOffset: cdView.getUint32(pos + 42, true),
    };
    applyZip64Extra(entry, cd.subarray(pos + CENTRAL_HEADER_SIZE + nameLength, pos + CENTRAL_HEADER_SIZE + nameLength + extraLength), fail);
    entries.push(entry);
    pos = end;
  }
  return entries;
}

/** The ZIP64 extended information extra field (0x0001): 64-bit values for the saturated 32-bit fields, in this order. */
function applyZip64Extra(entry: ZipEntry, extra: Uint8Array, fail: Fail): void {
  const extraView = view(extra);
  for (let pos = 0; pos + 4 <= extra.length; ) {
    const id = extraView.getUint16(pos, true);
    const length = extraView.getUint16(pos + 2, true);
    if (id === 0x0001) {
      let field = pos + 4;
      const next = (what: string): number => {
        if (field + 8 > pos + 4 + length || field + 8 > extra.length) fail(`record ${JSON.stringify(entry.name)}: its ZIP64 field lacks the ${what}`);
        const value = u64(extraView, field, what, fail);
        field += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = next('size');
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next('compressed size');
      if (entry.localOffset === 0xffffffff) entry.localOffset = next('offset');
      return;
    }
    pos += 4 + length;
  }
}

/** A record's uncompressed bytes: stored (what torch writes) or deflated, bounded and checked against its CRC. */
async function entryBytes(read: RangeReader, size: number, entry: ZipEntry, fail: Fail): Promise<Uint8Array> {
  const what = entry.name;
  if ((entry.flags & 0x1) !== 0) fail(`${what} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) fail(`${what} uses zip compression method ${entry.method}`);
  if (entry.size > MAX_PICKLE_BYTES) fail(`${what} is ${entry.size} bytes, over the ${MAX_PICKLE_BYTES}-byte limit`);
  if (entry.compressedSize > MAX_PICKLE_BYTES) fail(`${what} is ${entry.compressedSize} bytes compressed, over the ${MAX_PICKLE_BYTES}-byte limit`);
  if (entry.method === 0 && entry.compressedSize !== entry.size) fail(`${what} is stored but its sizes differ`);

  if (entry.localOffset + LOCAL_HEADER_SIZE > size) fail(`${what}: its local header lies past the end of the file`);
  const local = view(await readExactly(read, entry.localOffset, LOCAL_HEADER_SIZE, fail));
  if (local.getUint32(0, true) !== SIG_LOCAL) fail(`${what}: no local header where the central directory says`);
  // The local extra field differs from the central one (torch pads it to align the data), so its own lengths count.
  const start = entry.localOffset + LOCAL_HEADER_SIZE + local.getUint16(26, true) + local.getUint16(28, true);
  if (start + entry.compressedSize > size) fail(`${what} runs past the end of the file`);
  const raw = await readExactly(read, start, entry.compressedSize, fail);

  let bytes = raw;
  if (entry.method === 8) {
    try {
      // One byte over the declared size makes a lying size fail here instead of being believed.
      bytes = new Uint8Array(inflateRawSync(raw, { maxOutputLength: entry.size + 1 }));
    } catch (error) {
      fail(`${what} does not inflate to its declared ${entry.size} bytes (${(error as Error).message})`);
    }
    if (bytes.length !== entry.size) fail(`${what} inflates to ${bytes.length} bytes, not its declared ${entry.size}`);
  }
  if (crc32(bytes) >>> 0 !== entry.crc) fail(`${what} does not match its CRC-32`);
  return bytes;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(dataView: DataView, offset: number, what: string, fail: Fail): number {
  const value = dataView.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`the zip's ${what} is out of range`);
  return Number(value);
}
