/**
 * SHA-256 of a copy's bytes, in order. Measured (2 cores, 2 GiB, page cache hot): hashing on the event loop
 * took as long as reading and writing together (~1.5 s each), so a large file is hashed on a Bun Worker
 * while the event loop reads and writes. A chunk in shared memory (the copy's buffer pool) is hashed where
 * it lies, at the same time as it is written; any other chunk is copied to the worker. A small file (under
 * WORKER_MIN_BYTES) is hashed in place: a worker costs ~12 ms to start, more than hashing it.
 */

/** A chunk to hash, or the request for the digest (the worker's side of the protocol). */
export type HashRequest = { kind: 'chunk'; chunk: Uint8Array } | { kind: 'digest' };
/** A chunk hashed (in order), or the digest. */
export type HashReply = { kind: 'hashed' } | { kind: 'digest'; hex: string };

/** Files at least this big are hashed on a worker. */
const WORKER_MIN_BYTES = 32 * 1024 * 1024;

/** Hashes chunks in `push` order. */
interface StreamHasher {
  /** Chunks pushed and not hashed yet. */
  readonly pending: number;
  /** Resolves once fewer than `limit` chunks are pending. */
  below(limit: number): Promise<void>;
  /** Hashes `chunk`; resolves once the hasher no longer reads it. The caller must not change it before then. */
  push(chunk: Uint8Array): Promise<void>;
  /** Lowercase hex SHA-256 of every chunk pushed. Call once, after the last push. */
  digest(): Promise<string>;
  /** Releases the worker, if any; what is pending is dropped. Safe to call more than once. */
  close(): void;
}

/** A hasher for a file of `size` bytes: on a worker when it is large, in place otherwise. */
export function createHasher(size: number): StreamHasher {
  return size >= WORKER_MIN_BYTES ? workerHasher() : inlineHasher();
}

function inlineHasher(): StreamHasher {
  const hasher = new Bun.CryptoHasher('sha256');
  return {
    pending: 0,
    below: async () => {},
    push: async (chunk) => {
      hasher.update(chunk);
    },
    digest: async () => hasher.digest('hex'),
    close() {},
  };
}

type Waiter = { resolve: (reply: HashReply) => void; reject: (error: unknown) => void };

function workerHasher(): StreamHasher {
  const worker = new Worker(new URL('./hash.worker.ts', import.meta.url).href);
  // One waiter per request, in order: the worker answers in order.
  const waiting: Waiter[] = [];
  let chunksPending = 0;
  let onProgress: (() => void) | undefined;
  let failure: unknown;
  let closed = false;
  const expect = (): Promise<HashReply> =>
    failure !== undefined ? Promise.reject(failure) : new Promise<HashReply>((resolve, reject) => waiting.push({ resolve, reject }));
  const fail = (error: unknown) => {
    failure ??= error;
    for (const waiter of waiting.splice(0)) waiter.reject(failure);
    onProgress?.();
  };
  worker.onmessage = (event: MessageEvent<HashReply>) => {
    if (event.data.kind === 'hashed') chunksPending--;
    waiting.shift()?.resolve(event.data);
    onProgress?.();
  };
  worker.onerror = (event) => fail(new Error(`hash worker failed: ${event.message}`));
  return {
    get pending() {
      return chunksPending;
    },
    async below(limit) {
      while (chunksPending >= limit) {
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => {
          onProgress = resolve;
        });
        onProgress = undefined;
      }
    },
    async push(chunk) {
      const reply = expect();
      chunksPending++;
      if (chunk.buffer instanceof SharedArrayBuffer) {
        // Shared memory crosses without a copy; the worker reads it while the upload writes it.
        worker.postMessage({ kind: 'chunk', chunk } satisfies HashRequest);
      } else {
        // A copy of its own to move there (the constructor copies; a Buffer's slice() would be a view).
        const copy = new Uint8Array(chunk);
        worker.postMessage({ kind: 'chunk', chunk: copy } satisfies HashRequest, [copy.buffer]);
      }
      await reply;
    },
    async digest() {
      const reply = expect();
      worker.postMessage({ kind: 'digest' } satisfies HashRequest);
      const answer = await reply;
      if (answer.kind !== 'digest') throw new Error('hash worker answered out of order');
      return answer.hex;
    },
    close() {
      if (closed) return;
      closed = true;
      worker.terminate();
      fail(new Error('hasher closed'));
    },
  };
}
