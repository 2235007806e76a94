import type { StorageDriver } from '../storage/storage.ts';
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

const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * Streams one source file into storage while hashing it. The upload sees a single ReadableStream; when the
 * source breaks mid-file it is reopened at the current offset (a Range request, not a restart), so a 5 GB
 * file that drops at 4 GB costs 1 GB more, and the hash keeps running over the same bytes. Size and the
 * declared SHA-256 are checked before the stream ends, so a bad file errors the upload instead of
 * committing it. Memory stays constant: the stream is pulled by the upload with a bounded read-ahead and no chunk is
 * held after it is handed on.
 */
export async function copyToStorage(options: CopyOptions): Promise<CopyResult> {
  const { source, file, storage, key, signal } = options;
  const maxResumes = options.maxResumes ?? 5;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  signal?.throwIfAborted();

  const hasher = new Bun.CryptoHasher('sha256');
  let offset = 0;
  let resumes = 0;
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

  const verifyEnd = () => {
    if (offset !== file.size) throw new IntegrityError(`${file.path}: expected ${file.size} bytes, got ${offset}`);
    const actual = hasher.digest('hex');
    if (file.sha256 && file.sha256.toLowerCase() !== actual) {
      throw new IntegrityError(`${file.path}: SHA-256 mismatch (expected ${file.sha256.toLowerCase()}, got ${actual})`);
    }
    digest = actual;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            try {
              // An empty file, or a resume that lands exactly at the end, needs no (416-prone) open.
              if (!reader && offset === file.size && offset > 0) {
                verifyEnd();
                controller.close();
                return;
              }
              reader ??= (await source.open(file.path, offset, stop.signal)).getReader();
              const result = await readChunk(reader);
              if (result.done) {
                reader = undefined;
                verifyEnd();
                controller.close();
                return;
              }
              const chunk = result.value;
              if (chunk.byteLength === 0) continue;
              if (offset + chunk.byteLength > file.size) {
                throw new IntegrityError(`${file.path}: expected ${file.size} bytes, got more`);
              }
              hasher.update(chunk);
              offset += chunk.byteLength;
              controller.enqueue(chunk);
              return;
            } catch (error) {
              if (stop.signal.aborted) throw stop.signal.reason;
              if (isFatal(error) || resumes >= maxResumes) throw error;
              dropReader();
              await sleep(backoffDelay(resumes, baseDelayMs, maxDelayMs), stop.signal);
              resumes++;
            }
          }
        } catch (error) {
          failure ??= error;
          dropReader();
          throw error;
        }
      },
      cancel(reason) {
        stop.abort(reason);
        dropReader();
      },
    },
    // Read ahead up to 8 MiB, so reading and hashing overlap the upload's writes; memory stays bounded.
    { highWaterMark: READ_AHEAD_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
  );

  try {
    await storage.put(key, body, {
      size: file.size,
      contentType: options.contentType,
      fileName: options.fileName,
      signal: stop.signal,
    });
  } catch (error) {
    // Our own error (integrity, permanent source failure, abort) says more than the upload's wrapper of it.
    if (signal?.aborted) throw signal.reason;
    throw failure ?? error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!stop.signal.aborted) stop.abort();
    dropReader();
  }
  if (digest === undefined) {
    throw new IntegrityError(`${file.path}: storage finished after ${offset} of ${file.size} bytes`);
  }
  return { sha256: digest, size: offset };
}
