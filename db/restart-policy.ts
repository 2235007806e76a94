/**
 * When to restart a crashed child and when to give up. Every failure (an exit, or a restart that did
 * not come up) is counted; more than `maxRestarts` within `windowMs` means restarting is not helping, and
 * the process should exit so that an outer supervisor (systemd, Kubernetes) starts it afresh.
 */
export interface RestartPolicyOptions {
  maxRestarts: number;
  windowMs: number;
  /** First delay; doubled per failure in the window, capped at `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RESTART_POLICY: RestartPolicyOptions = { maxRestarts: 5, windowMs: 60_000, baseDelayMs: 250, maxDelayMs: 5_000 };

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; failures: number };

/** A stateful policy: call `failed()` at each failure, it says whether (and after how long) to restart. */
export function restartPolicy(options: Partial<RestartPolicyOptions> = {}, now: () => number = Date.now) {
  const o = { ...DEFAULT_RESTART_POLICY, ...options };
  const failures: number[] = [];
  return {
    options: o,
    failed(): RestartDecision {
      const t = now();
      failures.push(t);
      while (failures.length && failures[0]! <= t - o.windowMs) failures.shift();
      if (failures.length > o.maxRestarts) return { restart: false, failures: failures.length };
      return { restart: true, delayMs: Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (failures.length - 1)) };
    },
  };
}
