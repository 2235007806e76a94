/**
 * The files of one output copied a few at a time. Measured: 200 files of 2 MB from an https source with
 * 50 ms per request spend nearly all their time waiting on requests when copied one by one; a handful in
 * flight hides that latency. Large files gain nothing from company (one keeps the hasher's core busy), so a
 * byte budget lets one large file run at a time, next to small ones.
 */

/** Copies in flight at most, for outputs of many small files. */
export const COPY_CONCURRENCY = 8;
/** What one copy in flight is counted as at most (its file's size below that). */
const PER_COPY_BYTES = 32 * 1024 * 1024;
/** Budget of counted bytes across copies in flight: one large file at a time plus a few small ones. */
const BUDGET_BYTES = 48 * 1024 * 1024;

interface ConcurrentOptions {
  signal?: AbortSignal;
  /** Copies in flight at most; default COPY_CONCURRENCY. 1 copies one by one. */
  concurrency?: number;
}

/**
 * Runs `copy` for every item, several at once (bounded by count and by a byte budget), started in index
 * order, and returns the results in index order, so keys and rows stay deterministic. The first failure
 * aborts the others (through the signal `copy` receives) and is rethrown once every copy in flight has
 * settled: nothing is still writing when the caller cleans up or a retry starts.
 */
export function copyConcurrently<T extends { size: number }, R>(
  items: readonly T[],
  copy: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  options: ConcurrentOptions = {},
): Promise<R[]> {
  const { signal } = options;
  const concurrency = Math.max(1, options.concurrency ?? COPY_CONCURRENCY);
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });

  const results = new Array<R>(items.length);
  let next = 0;
  let running = 0;
  let counted = 0;
  let failure: { error: unknown } | undefined;

  return new Promise<R[]>((resolve, reject) => {
    const settle = () => {
      if (running > 0) return;
      if (failure) reject(failure.error);
      else if (next >= items.length) resolve(results);
    };
    const fail = (error: unknown) => {
      if (failure) return;
      failure = { error };
      controller.abort(error);
    };
    const launch = () => {
      if (controller.signal.aborted) fail(controller.signal.reason);
      while (!failure && next < items.length) {
        const weight = Math.min(items[next]!.size, PER_COPY_BYTES);
        // Whatever its size, a file may always run alone.
        if (running > 0 && (running >= concurrency || counted + weight > BUDGET_BYTES)) break;
        const index = next++;
        running++;
        counted += weight;
        copy(items[index]!, index, controller.signal)
          .then((result) => {
            results[index] = result;
          }, fail)
          .finally(() => {
            running--;
            counted -= weight;
            launch();
          });
      }
      settle();
    };
    launch();
  }).finally(() => signal?.removeEventListener('abort', onAbort));
}
