import { constants, type Dirent } from 'node:fs';
import { access, lstat, open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relativePathProblem } from '../../paths.ts';
import type { BufferPool } from '../buffer-pool.ts';
import { isInside, type FileConfinement } from './allowed.ts';
import { PermanentSourceError, TransientSourceError, type Source, type SourceFile } from './source.ts';

/** Error codes that mean the path is wrong (the user's to fix), as opposed to a flaky disk or mount. */
const PERMANENT_FS_CODES = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'ENAMETOOLONG']);

/**
 * A user-facing error for a failed filesystem call on `what` (the output URI or a path relative to it):
 * "not found" / "not readable", never the errno code or the server path, which the cause keeps for the log.
 */
function fsError(what: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && PERMANENT_FS_CODES.has(code)) {
    const problem = code === 'ENOENT' || code === 'ENOTDIR' ? 'not found' : 'not readable';
    return new PermanentSourceError(`${what}: ${problem}`, { cause: error });
  }
  return new TransientSourceError(`${what}: read error`, { cause: error });
}

/**
 * Bytes per read. Measured (2 GiB, 2 cores): 8 MiB reads cost ~4 s of kernel time against ~1.2 s for 256 KiB,
 * as each chunk fell out of the CPU caches between its read, its hash and its write; 128 KiB added per-chunk
 * overhead again. 256 KiB keeps a chunk in cache from read to write.
 */
const READ_BYTES = 256 * 1024;

/**
 * `abs` from `offset` to its end, READ_BYTES at a time (or `buffers.size`), each chunk in a buffer of its
 * own (the copy may keep it or move it to another thread): one from `buffers` when given, else a new one.
 * Read only when pulled; the file is closed at the end, on an error and on cancel.
 */
function readChunks(abs: string, offset: number, what: string, buffers: BufferPool | undefined): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  let position = offset;
  const close = async () => {
    const current = handle;
    handle = undefined;
    await current?.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          handle ??= await open(abs, 'r');
          // Not zero-filled: read() overwrites what is handed on, and a short tail is copied out below.
          const buffer = buffers?.take() ?? Buffer.allocUnsafe(READ_BYTES);
          const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
          if (bytesRead === 0) {
            buffers?.release(buffer);
            await close();
            controller.close();
            return;
          }
          position += bytesRead;
          if (bytesRead === buffer.byteLength || buffers) controller.enqueue(buffer.subarray(0, bytesRead));
          // Without a pool, the short tail is copied into a buffer of its own (a Buffer's slice() is a view).
          else controller.enqueue(new Uint8Array(buffer.subarray(0, bytesRead)));
        } catch (error) {
          await close();
          throw fsError(what, error);
        }
      },
      cancel: close,
    },
    { highWaterMark: 0 },
  );
}

/** Code-unit order, not locale order, so every worker lists a folder the same way. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Rejects names that could leave the output folder (or another source's prefix) before they reach the
 * filesystem or a URL, by the rules of `relativePathProblem` (paths.ts), as a PermanentSourceError.
 */
export function assertSafeRelativePath(path: string): void {
  const problem = relativePathProblem(path);
  if (problem !== null) throw new PermanentSourceError(`refused unsafe file path ${JSON.stringify(path)}: ${problem}`);
}

/**
 * `file:///abs/dir`: a folder the worker can read (shared volume). Symlinks are followed only when their
 * target stays inside the folder, so a training job cannot make us copy `/etc/shadow` or the worker's
 * secrets; symlinked directories are skipped outright, which also rules out cycles.
 */
export class FileSource implements Source {
  readonly uri: string;
  readonly root: string;
  private readonly confine: FileConfinement | undefined;

  /** `confine`: the allowed root (see allowed.ts), re-checked each time the folder is resolved. */
  constructor(uri: string, confine?: FileConfinement) {
    this.uri = uri;
    this.confine = confine;
    let root: string;
    try {
      root = fileURLToPath(uri);
    } catch (error) {
      throw new PermanentSourceError(`malformed file URI ${JSON.stringify(uri)}: expected file:///absolute/dir`, {
        cause: error,
      });
    }
    this.root = root.length > 1 && root.endsWith(sep) ? root.slice(0, -1) : root;
  }

  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const realRoot = await this.realRoot();
    const files: SourceFile[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      signal?.throwIfAborted();
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        throw fsError(prefix ? `folder ${prefix}` : this.uri, error);
      }
      for (const entry of entries) {
        const abs = join(dir, entry.name);
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          await walk(abs, rel);
        } else if (entry.isFile()) {
          const info = await stat(abs).catch((error: unknown) => {
            throw fsError(rel, error);
          });
          files.push({ path: rel, size: info.size });
        } else if (entry.isSymbolicLink()) {
          const target = await this.insideTarget(abs, realRoot, rel);
          if (target?.isFile()) files.push({ path: rel, size: target.size });
        }
        // Sockets, FIFOs and devices are never training outputs; reading a FIFO could block forever.
      }
    };
    await walk(this.root, '');
    return files.sort((a, b) => comparePaths(a.path, b.path));
  }

  async open(path: string, offset: number, signal?: AbortSignal, buffers?: BufferPool): Promise<ReadableStream<Uint8Array>> {
    signal?.throwIfAborted();
    assertSafeRelativePath(path);
    const realRoot = await this.realRoot();
    const abs = join(this.root, ...path.split('/'));
    // Re-check at open time: the folder may have changed since list().
    const target = await this.insideTarget(abs, realRoot, path);
    if (!target) throw new PermanentSourceError(`${path}: refused, resolves outside the output folder`);
    if (!target.isFile()) throw new PermanentSourceError(`${path}: not a regular file`);
    // Fail here with a clear message, not mid-stream with a raw errno and the server path.
    await access(abs, constants.R_OK).catch((error: unknown) => {
      throw fsError(path, error);
    });
    if (offset < 0 || offset > target.size) {
      throw new PermanentSourceError(`${path}: offset ${offset} outside file of ${target.size} bytes`);
    }
    return readChunks(abs, offset, path, buffers);
  }

  private async realRoot(): Promise<string> {
    try {
      const real = await realpath(this.root);
      // The folder may have been swapped for a symlink since it was admitted: it must still resolve inside.
      if (this.confine && (!isInside(real, this.confine.allowedRoot) || this.confine.isRefused(real))) {
        throw new PermanentSourceError(`output folder ${this.uri}: refused, it resolves outside the folders this service may read`);
      }
      if (!(await stat(real)).isDirectory()) throw new PermanentSourceError(`output folder ${this.uri}: not a directory`);
      return real;
    } catch (error) {
      if (error instanceof PermanentSourceError) throw error;
      throw fsError(`output folder ${this.uri}`, error);
    }
  }

  /** The stat of `abs`'s final target when it lies inside `realRoot`; null when it escapes or dangles. */
  private async insideTarget(abs: string, realRoot: string, rel: string) {
    let real: string;
    try {
      real = await realpath(abs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        // A dangling link is skipped; a missing regular file is the caller's error.
        const link = await lstat(abs).catch(() => null);
        if (link?.isSymbolicLink()) return null;
      }
      throw fsError(rel, error);
    }
    if (!isInside(real, realRoot)) return null;
    return stat(real).catch((error: unknown) => {
      throw fsError(rel, error);
    });
  }
}
