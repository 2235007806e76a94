/**
 * Shared bits of the benchmarks: one JSON line per figure, percentiles, a best-of timer, temp folders.
 * Figures are printed, never asserted: a missed goal is shown in the table, the exit code stays 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.env.TZ = 'UTC';

export interface Figure {
  bench: string;
  metric: string;
  value: number | string | boolean | null;
  unit: string;
  /** `<= 250`, `>= 0.7`, or null (reported only). */
  goal: string | null;
  note?: string;
}

/** Prints one figure as a JSON line on stdout (the orchestrator collects these). */
export function emit(bench: string, metric: string, value: Figure['value'], unit = '', goal: string | null = null, note?: string): Figure {
  const v = typeof value === 'number' ? round(value) : value;
  const fig: Figure = { bench, metric, value: v, unit, goal, ...(note ? { note } : {}) };
  console.log(JSON.stringify(fig));
  return fig;
}

/** Progress for humans, on stderr so stdout stays JSON lines. */
export function info(bench: string, msg: string): void {
  console.error(`[${bench}] ${msg}`);
}

function round(n: number): number {
  if (!Number.isFinite(n)) return n;
  const a = Math.abs(n);
  return a >= 100 ? Math.round(n * 10) / 10 : a >= 1 ? Math.round(n * 100) / 100 : Math.round(n * 10000) / 10000;
}

/** Nearest-rank percentile of `xs` (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (xs: number[]) => percentile(xs, 50);

export function goalMet(value: Figure['value'], goal: string | null): boolean | null {
  if (goal === null || typeof value !== 'number') return null;
  const m = /^(<=|>=)\s*(-?[\d.]+)/.exec(goal);
  if (!m) return null;
  const target = Number(m[2]);
  return m[1] === '<=' ? value <= target : value >= target;
}

/** A temp folder under os.tmpdir(), removed by `done()` (and on exit, best effort). */
export function tempDir(prefix: string): { dir: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lora-bench-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  const done = () => fs.rmSync(dir, { recursive: true, force: true });
  process.once('exit', done);
  return { dir, done };
}

const MB = 1_000_000;

/** Throughput in MB/s (10^6 bytes). */
export function mbPerSecond(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

/** Runs `fn` and returns elapsed milliseconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
