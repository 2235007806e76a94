import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StorageNotFoundError, type ByteRange, type PutOptions, type SignOptions, type StorageDriver } from '../../server/storage/storage.ts';

/**
 * A minimal StorageDriver on a temp folder, for tests that need somewhere real to put bytes without the
 * production drivers. Like them, `put` streams chunk by chunk and commits with a rename, so an aborted or
 * failed upload leaves nothing at the key.
 */
export class TempStorage implements StorageDriver {
  readonly kind = 'fs' as const;
  /** Largest single chunk `put` received; lets tests see the body was streamed, not buffered. */
  maxChunk = 0;

  private constructor(readonly root: string) {}

  static async create(): Promise<TempStorage> {
    return new TempStorage(await mkdtemp(join(tmpdir(), 'temp-storage-')));
  }

  pathOf(key: string): string {
    if (key.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new Error(`bad key ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial-${crypto.randomUUID()}`;
    const handle = await open(partial, 'w');
    const reader = body.getReader();
    const onAbort = () => reader.cancel(options.signal?.reason).catch(() => {});
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      options.signal?.throwIfAborted();
      let written = 0;
      for (;;) {
        const { done, value } = await reader.read();
        options.signal?.throwIfAborted();
        if (done) break;
        this.maxChunk = Math.max(this.maxChunk, value.byteLength);
        await handle.write(value);
        written += value.byteLength;
      }
      if (options.size !== undefined && written !== options.size) {
        throw new Error(`put ${key}: body had ${written} bytes, size said ${options.size}`);
      }
      await handle.close();
      await rename(partial, target);
    } catch (error) {
      await reader.cancel(error).catch(() => {});
      await handle.close().catch(() => {});
      await rm(partial, { force: true });
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    const path = this.pathOf(key);
    if (!(await this.head(key))) throw new StorageNotFoundError(key);
    const file = Bun.file(path);
    return (range ? file.slice(range.start, range.end === undefined ? undefined : range.end + 1) : file).stream();
  }

  /** Test-only probe: the size of the object at `key`, or null. */
  async head(key: string): Promise<{ size: number } | null> {
    const info = await stat(this.pathOf(key)).catch(() => null);
    return info?.isFile() ? { size: info.size } : null;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    for (const key of await this.keys()) if (key.startsWith(prefix)) await this.delete(key);
  }

  async signedUrl(key: string, _options: SignOptions): Promise<string> {
    return Bun.pathToFileURL(this.pathOf(key)).href;
  }

  async check(): Promise<void> {
    await stat(this.root);
  }

  /** Every file under the root, partial uploads included, as '/'-separated keys. */
  async keys(): Promise<string[]> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) =>
        join(e.parentPath, e.name)
          .slice(this.root.length + 1)
          .split('\\')
          .join('/'),
      )
      .sort();
  }

  async destroy(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}
