/**
 * Retrying with exponential backoff and full jitter (delay drawn uniformly from [0, min(max, base·2ⁿ)]),
 * so many workers hitting the same flaky volume do not retry in lockstep.
 */

export interface RetryOptions {
  /** Total tries, the first included (1 = no retry). */
  attempts: number;
  baseMs: number;
  maxMs: number;
  signal?: AbortSignal;
  /** Decides per error whether another try can help; anything else is rethrown at once. */
  isRetryable: (error: unknown) => boolean;
  /** Observes each retry before its sleep (logging, tests). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** The full-jitter delay before retry number `retry` (0-based). */
export function backoffDelay(retry: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** retry);
  return Math.floor(Math.random() * ceiling);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, the error is not retryable, `attempts` are used up, or `signal` aborts.
 * The last error is rethrown unchanged so callers keep their error classes.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.attempts);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      // An abort is the caller's decision, never a reason to try again.
      if (options.signal?.aborted) throw options.signal.reason;
      if (attempt >= attempts || !options.isRetryable(error)) throw error;
      const delay = backoffDelay(attempt - 1, options.baseMs, options.maxMs);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
