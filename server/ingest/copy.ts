import type { StorageDriver } from '../storage/storage.ts';
import { BufferPool } from './buffer-pool.ts';
import { createHasher } from './hasher.ts';
import { SNIFF_BYTES } from './inspect/sniff.ts';
import { backoffDelay, sleep } from './retry.ts';
import { PermanentSourceError, type Source, type SourceFile } from './sources/source.ts';

/** What one `read()` of a byte stream's reader yields (spelled out: lib.dom's alias name differs by version). */
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** The copied bytes do not match what the source declared (size or SHA-256). Never retried. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

export interface CopyOptions {
  source: Source;
  file: SourceFile;
  storage: StorageDriver;
  /** Built from server ids by the caller, never from `file.path`. */
  key: string;
  contentType?: string;
  fileName?: string;
  signal?: AbortSignal;
  /** Reopens allowed for the whole file (failed opens and mid-file breaks together). */
  maxResumes?: number;
  /** No bytes from the source for this long counts as a break and resumes. */
  idleTimeoutMs?: number;
  /** Backoff between reopens (full jitter). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface CopyResult {
  /** Lowercase hex SHA-256 of the bytes stored. */
  sha256: string;
  size: number;
  /** The file's first bytes (at most SNIFF_BYTES): its format is told by content, not by name. */
  head: Uint8Array;
}

/** Errors a reopen cannot fix; everything else (TransientSourceError, reset sockets, idle timeouts) is resumable. */
function isFatal(error: unknown): boolean {
  return error instanceof PermanentSourceError || error instanceof IntegrityError;
}

class IdleTimeoutError extends Error {
  constructor(ms: number) {
    super(`no bytes for ${ms} ms`);
    this.name = 'IdleTimeoutError';
  }
}

/** Bytes queued for the upload: small, so a chunk is still in the CPU's caches when it is written. */
const READ_AHEAD_BYTES = 1024 * 1024;
/** Chunks with the hasher and not hashed yet: reading runs this far ahead of hashing. */
const HASH_DEPTH = 8;
/** Files from this size read into a pool of reused buffers of POOL_BUFFER_BYTES (a file source's read size). */
const POOL_MIN_BYTES = 32 * 1024 * 1024;
const POOL_BUFFER_BYTES = 256 * 1024;
/** Enough for every chunk in flight: with the hasher, queued for the upload, being written, being read. */
const POOL_KEEP = HASH_DEPTH + 4;

/**
 * Streams one source file into storage while hashing it. The upload sees a single ReadableStream; when the
 * source breaks mid-file it is reopened at the current offset (a Range request, not a restart), so a 5 GB
 * file that drops at 4 GB costs 1 GB more, and the hash keeps running over the same bytes. Size and the
 * declared SHA-256 are checked before the stream ends, so a bad file errors the upload instead of
 * committing it. Reading, hashing (on a worker for a large file, see hasher.ts) and the upload's writes overlap.
 * Memory stays constant: the stream is pulled by the upload with a bounded read-ahead, at most HASH_DEPTH chunks
 * are with the hasher, and no chunk is held after it is handed on.
 */
export async function copyToStorage(options: CopyOptions): Promise<CopyResult> {
  const { source, file, storage, key, signal } = options;
  const maxResumes = options.maxResumes ?? 5;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  signal?.throwIfAborted();

  const hasher = createHasher(file.size);
  // Large files read into reused buffers (see buffer-pool.ts) when the driver gives them back (the fs driver
  // calls PutOptions.release; S3's upload keeps chunks until a part is sent); a small file gains nothing.
  const buffers = file.size >= POOL_MIN_BYTES && storage.kind === 'fs' ? new BufferPool(POOL_BUFFER_BYTES, POOL_KEEP) : undefined;
  let offset = 0;
  let resumes = 0;
  // Copied out of the first chunks (a pooled buffer is reused once the upload lets go of it).
  const head = new Uint8Array(Math.min(SNIFF_BYTES, file.size));
  let digest: string | undefined;
  let failure: unknown;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  // Aborted on the caller's signal or when the upload gives up, so a pending source read ends at once.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });

  const dropReader = () => {
    reader?.cancel().catch(() => {});
    reader = undefined;
  };

  /** One read with the idle timer, racing the stop signal so an abort never waits on a stuck socket. */
  const readChunk = (current: ReadableStreamDefaultReader<Uint8Array>) =>
    new Promise<ReadResult>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        stop.signal.removeEventListener('abort', onStop);
      };
      const onStop = () => {
        finish();
        reject(stop.signal.reason);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new IdleTimeoutError(idleTimeoutMs));
      }, idleTimeoutMs);
      if (stop.signal.aborted) return onStop();
      stop.signal.addEventListener('abort', onStop, { once: true });
      current.read().then(
        (result) => {
          finish();
          resolve(result);
        },
        (error: unknown) => {
          finish();
          reject(error);
        },
      );
    });

  /** The next bytes of the source (reopened at `offset` after a break), or null once it has ended. */
  const readSource = async (): Promise<Uint8Array | null> => {
    for (;;) {
      try {
        // An empty file, or a resume that lands exactly at the end, needs no (416-prone) open.
        if (!reader && offset === file.size && offset > 0) return null;
        reader ??= (await source.open(file.path, offset, stop.signal, buffers)).getReader();
        const result = await readChunk(reader);
        if (result.done) {
          reader = undefined;
          return null;
        }
        const chunk = result.value;
        if (chunk.byteLength === 0) continue;
        if (offset + chunk.byteLength > file.size) {
          throw new IntegrityError(`${file.path}: expected ${file.size} bytes, got more`);
        }
        if (offset < head.length) head.set(chunk.subarray(0, head.length - offset), offset);
        offset += chunk.byteLength;
        return chunk;
      } catch (error) {
        if (stop.signal.aborted) throw stop.signal.reason;
        if (isFatal(error) || resumes >= maxResumes) throw error;
        dropReader();
        await sleep(backoffDelay(resumes, baseDelayMs, maxDelayMs), stop.signal);
        resumes++;
      }
    }
  };

  const verifyEnd = async () => {
    if (offset !== file.size) throw new IntegrityError(`${file.path}: expected ${file.size} bytes, got ${offset}`);
    const actual = await hasher.digest();
    if (file.sha256 && file.sha256.toLowerCase() !== actual) {
      throw new IntegrityError(`${file.path}: SHA-256 mismatch (expected ${file.sha256.toLowerCase()}, got ${actual})`);
    }
    digest = actual;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          // Reading runs at most HASH_DEPTH chunks ahead of the hasher (and the upload's read-ahead bounds the rest).
          await hasher.below(HASH_DEPTH);
          const chunk = await readSource();
          if (chunk === null) {
            // Every byte is read and hashed: size and SHA-256 are checked before the stream ends, so a bad
            // file errors the upload instead of being committed.
            await verifyEnd();
            controller.close();
            return;
          }
          // The chunk goes to the upload at once and is hashed meanwhile; its pool buffer is reused only when
          // both have let go of it.
          buffers?.hold(chunk);
          hasher.push(chunk).then(
            () => buffers?.release(chunk),
            () => {},
          );
          controller.enqueue(chunk);
        } catch (error) {
          failure ??= error;
          dropReader();
          hasher.close();
          throw error;
        }
      },
      cancel(reason) {
        stop.abort(reason);
        dropReader();
        hasher.close();
      },
    },
    // Read ahead a bounded amount, so reading and hashing overlap the upload's writes; memory stays bounded.
    { highWaterMark: READ_AHEAD_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
  );

  try {
    await storage.put(key, body, {
      size: file.size,
      contentType: options.contentType,
      fileName: options.fileName,
      signal: stop.signal,
      release: buffers && ((chunk) => buffers.release(chunk)),
    });
  } catch (error) {
    // Our own error (integrity, permanent source failure, abort) says more than the upload's wrapper of it.
    if (signal?.aborted) throw signal.reason;
    throw failure ?? error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!stop.signal.aborted) stop.abort();
    dropReader();
    hasher.close();
  }
  if (digest === undefined) {
    throw new IntegrityError(`${file.path}: storage finished after ${offset} of ${file.size} bytes`);
  }
  return { sha256: digest, size: offset, head };
}
