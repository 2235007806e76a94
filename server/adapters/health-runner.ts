/**
 * Weight health of a stored safetensors file: the event loop streams it from storage and a Bun Worker
 * (health.worker.ts) does the arithmetic, which for an 8B all-linear rank-64 adapter is ~5·10⁹
 * multiply-adds — seconds that must not stall requests (the reason inspect-runner.ts uses a worker too).
 * Bytes cross in batches moved (not copied) to the worker, at most MAX_IN_FLIGHT unacknowledged, so a
 * file of any size costs a bounded amount of memory. A fresh worker per file keeps the deadline simple:
 * a stuck one is terminated.
 */
import { InspectionError } from '../ingest/inspect/safetensors.ts';
import type { StorageDriver } from '../storage/storage.ts';
import type { WeightConfig } from './health.ts';
import type { WeightHealth } from './types.ts';

/** The runner's side of the protocol: `start`, the file's bytes in order, `end`. */
export type HealthRequest =
  | { kind: 'start'; fileName: string; size: number; config: WeightConfig | null }
  | { kind: 'chunk'; buffer: ArrayBuffer; length: number }
  | { kind: 'end' };
/** Each chunk is acknowledged once walked, its buffer moved back; `end` is answered with the health. An error ends the exchange. */
export type HealthReply =
  | { kind: 'ack'; buffer: ArrayBuffer }
  | { kind: 'done'; health: WeightHealth }
  | { kind: 'error'; fileName: string; problem: string }
  | { kind: 'error'; message: string };

/** Bytes per message to the worker. Storage streams come in 16–512 KiB pieces; fewer, larger messages cost less. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches posted and not yet acknowledged: with BATCH_BYTES, at most 16 MiB waits in the worker's queue (one more is filled meanwhile). */
const MAX_IN_FLIGHT = 4;
/**
 * The deadline: a minute, plus the file read at 10 MB/s (slow object storage; the arithmetic runs at
 * ~100 MB/s here). Past it the file is too complex to check, or the worker is stuck.
 */
const BASE_TIMEOUT_MS = 60_000;
const MIN_BYTES_PER_MS = 10_000;

/**
 * Streams `file` from `storage` through the weight-health walk (health-stream.ts): per-module
 * ‖(α/r)·B·A‖_F, untrained / partly untrained adapters, NaN and infinities. Rejects with InspectionError
 * when the file is truncated or corrupt or the analysis outruns `timeoutMs`; with the signal's reason
 * when `signal` aborts; with StorageNotFoundError when the object is missing.
 */
export function analyseWeightHealth(
  storage: StorageDriver,
  file: { key: string; size: number; path: string },
  config: WeightConfig | null,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<WeightHealth> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const timeoutMs = options.timeoutMs ?? BASE_TIMEOUT_MS + Math.ceil(file.size / MIN_BYTES_PER_MS);
  const worker = new Worker(new URL('./health.worker.ts', import.meta.url).href);

  return new Promise<WeightHealth>((resolve, reject) => {
    let settled = false;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let wake: (() => void) | undefined;

    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      worker.terminate();
      reader?.cancel().catch(() => {});
      wake?.();
      settle();
    };
    const timer = setTimeout(() => {
      const seconds = Math.round(timeoutMs / 1000);
      finish(() => reject(new InspectionError(file.path, `weight analysis took longer than ${seconds} s; the file is too complex to check`)));
    }, timeoutMs);
    const onAbort = () => finish(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });

    worker.onmessage = (event: MessageEvent<HealthReply>) => {
      const reply = event.data;
      if (reply.kind === 'ack') {
        free.push(reply.buffer);
        wake?.();
      } else if (reply.kind === 'done') finish(() => resolve(reply.health));
      else if ('fileName' in reply) finish(() => reject(new InspectionError(reply.fileName, reply.problem)));
      else finish(() => reject(new Error(`weight analysis failed: ${reply.message}`)));
    };
    worker.onerror = (event) => finish(() => reject(new Error(`weight analysis worker failed: ${event.message}`)));

    // A pool of batch buffers that travel to the worker and back with its acknowledgement: no allocation per
    // batch on either thread, and memory that does not wait for a garbage collector to be bounded.
    const free: ArrayBuffer[] = [];
    let allocated = 0;
    const take = async (): Promise<ArrayBuffer | null> => {
      while (free.length === 0 && allocated > MAX_IN_FLIGHT && !settled) {
        await new Promise<void>((resume) => {
          wake = resume;
        });
        wake = undefined;
      }
      if (settled) return null;
      if (free.length > 0) return free.pop()!;
      allocated++;
      return new ArrayBuffer(BATCH_BYTES);
    };
    const post = async (buffer: ArrayBuffer, length: number) => {
      if (settled) return;
      worker.postMessage({ kind: 'chunk', buffer, length } satisfies HealthRequest, [buffer]);
      // Reads from a local file resolve as microtasks: without this, the loop could hold the event loop
      // for as long as the worker keeps up. One turn per batch lets timers and requests in every ~1 ms.
      await new Promise((resume) => setImmediate(resume));
    };

    const pump = async () => {
      // Only the fields the walk reads: a caller may pass its whole AdapterConfig.
      const picked: WeightConfig | null = config && {
        rank: config.rank,
        alpha: config.alpha,
        rankPattern: config.rankPattern,
        alphaPattern: config.alphaPattern,
        useRslora: config.useRslora,
      };
      worker.postMessage({ kind: 'start', fileName: file.path, size: file.size, config: picked } satisfies HealthRequest);
      const stream = await storage.get(file.key, undefined, signal);
      reader = stream.getReader();
      if (settled) {
        await reader.cancel().catch(() => {});
        return;
      }
      // Pieces are copied into the pool's batches: a stream's chunk may be a view of a buffer it reuses,
      // which must not be moved away. ~0.1 ms per MiB, beside the worker's ~10.
      let batch = await take();
      let filled = 0;
      while (batch !== null) {
        const { done, value } = await reader.read();
        if (done || settled) break;
        for (let at = 0; at < value.length && batch !== null; ) {
          const n = Math.min(BATCH_BYTES - filled, value.length - at);
          new Uint8Array(batch, filled, n).set(value.subarray(at, at + n));
          filled += n;
          at += n;
          if (filled === BATCH_BYTES) {
            await post(batch, filled);
            batch = await take();
            filled = 0;
          }
        }
      }
      if (batch !== null && filled > 0 && !settled) await post(batch, filled);
      if (!settled) worker.postMessage({ kind: 'end' } satisfies HealthRequest);
    };
    pump().catch((error: unknown) => finish(() => reject(error)));
  });
}
