/**
 * The fs driver's file sink (server/storage/file-sink.ts): a large object is written around the page cache
 * from aligned staging buffers, its tail padded and the file cut to length; where O_DIRECT is refused it
 * falls back to ordinary writes. Either way the file must hold exactly the bytes given.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { constants } from 'node:fs';
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openFileSink } from '../../server/storage/file-sink.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempIn(root: string): string {
  const dir = fs.mkdtempSync(path.join(root, 'lora-file-sink-'));
  dirs.push(dir);
  return dir;
}

/** Whether this folder's filesystem accepts O_DIRECT at all. */
async function directWorksIn(dir: string): Promise<boolean> {
  const probe = path.join(dir, '.probe');
  try {
    const h = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600);
    await h.close();
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

/** Writes `size` pseudo-random bytes through a sink in uneven chunks; returns the bytes and whether it went direct. */
async function writeThrough(file: string, size: number, options: { unsized?: boolean } = {}) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
  const sink = await openFileSink(file, options.unsized ? undefined : size);
  const chunkSizes = [65537, 1024 * 1024 + 3, 4096, 7, 3 * 1024 * 1024 + 11];
  let offset = 0;
  for (let k = 0; offset < size; k++) {
    const n = Math.min(chunkSizes[k % chunkSizes.length]!, size - offset);
    // A reused buffer, as the copy's pool does: the sink must have taken the bytes when write resolves.
    const chunk = new Uint8Array(bytes.subarray(offset, offset + n));
    await sink.write(chunk);
    chunk.fill(0xff);
    offset += n;
  }
  await sink.end();
  await sink.sync();
  const direct = sink.direct;
  await sink.close();
  return { bytes, direct };
}

const MiB = 1024 * 1024;

describe('file sink', () => {
  test('a large file with a ragged tail comes out byte for byte, around the page cache where the filesystem allows', async () => {
    const dir = tempIn(os.tmpdir());
    const file = path.join(dir, 'big');
    const size = 33 * MiB + 12345;
    const { bytes, direct } = await writeThrough(file, size);
    expect(direct).toBe(await directWorksIn(dir));
    expect(fs.statSync(file).size).toBe(size);
    expect(Buffer.compare(fs.readFileSync(file), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))).toBe(0);
  });

  test('a size that is a whole number of stages needs no tail and no cut', async () => {
    const dir = tempIn(os.tmpdir());
    const file = path.join(dir, 'even');
    const { bytes } = await writeThrough(file, 36 * MiB);
    expect(fs.statSync(file).size).toBe(36 * MiB);
    expect(Buffer.compare(fs.readFileSync(file), Buffer.from(bytes.buffer))).toBe(0);
  });

  test('a small or unsized object is written the ordinary way', async () => {
    const dir = tempIn(os.tmpdir());
    const { bytes, direct } = await writeThrough(path.join(dir, 'small'), 5 * MiB + 3);
    expect(direct).toBe(false);
    const unsized = await writeThrough(path.join(dir, 'unsized'), 33 * MiB, { unsized: true });
    expect(unsized.direct).toBe(false);
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'small')), Buffer.from(bytes.buffer))).toBe(0);
  });
});
