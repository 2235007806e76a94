/**
 * Read buffers that a copy reuses instead of allocating 2 GB of fresh ones for a 2 GB file. Measured
 * (2 GiB, 8 MiB reads): fresh buffers cost ~290 000 page faults, seconds of kernel time with a second
 * thread (the hash worker) and ~190 MB of RSS; a pool of a few buffers, ~8 000 faults and ~66 MB. A reused
 * buffer is also still in the CPU's caches.
 * The buffers are shared memory, so the hash worker reads a chunk while the upload writes it. A buffer
 * goes back to the pool when every holder has let go: the reader's hold passes to the storage driver, which
 * lets go through `PutOptions.release`, and the hasher holds it until hashed.
 */
export class BufferPool {
  /** Holders per buffer this pool made; absent for any other memory. */
  private readonly holds = new WeakMap<ArrayBufferLike, number>();
  private readonly free: Array<Uint8Array<SharedArrayBuffer>> = [];

  /** `size`: bytes per buffer; `keep`: free buffers kept at most. */
  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  /** A free buffer of `size` bytes (contents undefined) with one hold, or a new one. */
  take(): Uint8Array<SharedArrayBuffer> {
    const buffer = this.free.pop() ?? new Uint8Array(new SharedArrayBuffer(this.size));
    this.holds.set(buffer.buffer, 1);
    return buffer;
  }

  /** True when `chunk` is a view of one of this pool's buffers. */
  owns(chunk: Uint8Array): boolean {
    return this.holds.has(chunk.buffer);
  }

  /** One more holder of the buffer under `chunk` (this pool's). */
  hold(chunk: Uint8Array): void {
    const count = this.holds.get(chunk.buffer);
    if (count !== undefined) this.holds.set(chunk.buffer, count + 1);
  }

  /** A holder lets go of the buffer under `chunk`; the last one gives it back. Other memory is ignored. */
  release(chunk: Uint8Array): void {
    const count = this.holds.get(chunk.buffer);
    if (count === undefined || count <= 0) return;
    this.holds.set(chunk.buffer, count - 1);
    if (count === 1 && this.free.length < this.keep) this.free.push(new Uint8Array(chunk.buffer as SharedArrayBuffer));
  }
}
