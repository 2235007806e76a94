/**
 * A file being downloaded: `<path>.part` holds the bytes at their offsets, and `<path>.part.json` (the sidecar)
 * records which byte ranges are on disk. A range is recorded only after its bytes were written, and the sidecar
 * is replaced whole (write, then rename), so after any interruption (Ctrl-C, kill -9, a cut connection) the
 * next pull asks only for what is missing. No fsync: a machine crash may lose written bytes the sidecar
 * counts, which the SHA-256 check before the rename catches.
 */
import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';

/** Half-open byte ranges `[start, end)`, sorted and merged. */
type Ranges = [number, number][];

interface Sidecar {
  v: 1;
  /** What the bytes must hash to; a sidecar for other content (a newer version into the same folder) is dropped. */
  sha256: string;
  size: number;
  done: Ranges;
}

function addRange(ranges: Ranges, start: number, end: number): void {
  if (end <= start) return;
  // The common case: a piece growing at the end of the range it extends.
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (end < r[0]) {
      ranges.splice(i, 0, [start, end]);
      return;
    }
    if (start <= r[1]) {
      r[0] = Math.min(r[0], start);
      r[1] = Math.max(r[1], end);
      // Swallow the ranges the grown one now reaches.
      while (i + 1 < ranges.length && ranges[i + 1]![0] <= r[1]) r[1] = Math.max(r[1], ranges.splice(i + 1, 1)[0]![1]);
      return;
    }
  }
  ranges.push([start, end]);
}

function validRanges(value: unknown, size: number): Ranges | null {
  if (!Array.isArray(value)) return null;
  const out: Ranges = [];
  for (const r of value) {
    if (!Array.isArray(r) || r.length !== 2) return null;
    const [a, b] = r as unknown[];
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || (a as number) < 0 || (b as number) > size || (a as number) >= (b as number))
      return null;
    addRange(out, a as number, b as number);
  }
  return out;
}

export class PartFile {
  readonly partPath: string;
  readonly statePath: string;
  /** Opened with the first write (or the finish of an empty file): a pull of many files holds few descriptors. */
  private fd = -1;
  private readonly ranges: Ranges;
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly finalPath: string,
    readonly size: number,
    readonly sha256: string,
    ranges: Ranges,
  ) {
    this.partPath = `${finalPath}.part`;
    this.statePath = `${finalPath}.part.json`;
    this.ranges = ranges;
  }

  private descriptor(): number {
    if (this.fd < 0) {
      // Read-write without append (positional writes), created if missing, sized up front so ranges land anywhere.
      this.fd = openSync(this.partPath, constants.O_RDWR | constants.O_CREAT, 0o644);
      ftruncateSync(this.fd, this.size);
    }
    return this.fd;
  }

  /** Opens the part file of `finalPath`, keeping the bytes a matching sidecar vouches for; anything else starts over. */
  static async open(finalPath: string, size: number, sha256: string): Promise<PartFile> {
    const statePath = `${finalPath}.part.json`;
    let ranges: Ranges = [];
    try {
      const [text, part] = await Promise.all([Bun.file(statePath).text(), stat(`${finalPath}.part`)]);
      const saved = JSON.parse(text) as Partial<Sidecar>;
      const done = saved.v === 1 && saved.sha256 === sha256 && saved.size === size && part.size <= size ? validRanges(saved.done, size) : null;
      // Bytes past the end of the part file were never written, whatever a sidecar says.
      if (done) ranges = done.map(([a, b]) => [a, Math.min(b, part.size)] as [number, number]).filter(([a, b]) => a < b);
    } catch {
      // No part yet, or one without a readable sidecar: start from zero.
    }
    if (ranges.length === 0) await rm(`${finalPath}.part`, { force: true });
    return new PartFile(finalPath, size, sha256, ranges);
  }

  /** Bytes on disk. */
  get bytesDone(): number {
    return this.ranges.reduce((sum, [a, b]) => sum + (b - a), 0);
  }

  /** The end of the run of bytes on disk that starts at offset 0: what can be hashed in order. */
  get contiguous(): number {
    const first = this.ranges[0];
    return first && first[0] === 0 ? first[1] : 0;
  }

  /** The ranges still to fetch. */
  missing(): Ranges {
    const out: Ranges = [];
    let at = 0;
    for (const [a, b] of this.ranges) {
      if (a > at) out.push([at, a]);
      at = Math.max(at, b);
    }
    if (at < this.size) out.push([at, this.size]);
    return out;
  }

  get complete(): boolean {
    return this.contiguous === this.size;
  }

  /** Writes `chunk` at `position` and then counts it as done. */
  write(position: number, chunk: Uint8Array): void {
    const fd = this.descriptor();
    let written = 0;
    while (written < chunk.byteLength) written += writeSync(fd, chunk, written, chunk.byteLength - written, position + written);
    addRange(this.ranges, position, position + chunk.byteLength);
    this.dirty = true;
  }

  /** Records the ranges on disk in the sidecar (when they changed); saves never overlap. */
  save(): Promise<void> {
    if (!this.dirty) return this.saving;
    this.dirty = false;
    const body = JSON.stringify({ v: 1, sha256: this.sha256, size: this.size, done: this.ranges } satisfies Sidecar);
    this.saving = this.saving.then(async () => {
      const temp = `${this.statePath}.tmp`;
      await writeFile(temp, body);
      await rename(temp, this.statePath);
    });
    return this.saving;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Verified: the part becomes the file under its name, and the sidecar goes. */
  async finish(): Promise<void> {
    this.descriptor();
    this.close();
    await this.saving;
    await rename(this.partPath, this.finalPath);
    await rm(this.statePath, { force: true });
  }

  /** A mismatch: nothing of this download is kept. */
  async discard(): Promise<void> {
    this.close();
    await this.saving.catch(() => {});
    await Promise.all([rm(this.partPath, { force: true }), rm(this.statePath, { force: true }), rm(`${this.statePath}.tmp`, { force: true })]);
  }
}
