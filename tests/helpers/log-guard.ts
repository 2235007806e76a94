import type { Logger } from '../../server/logger.ts';

/**
 * The error-log guard (epic-stack's `console.error` rule): a server-side error-level log line, or a
 * `console.error`, during a test fails that test, unless the test declared it with `expectErrorLog`.
 * The preload (tests/setup/preload.ts) checks after every test; in-process services log through
 * `guardLogger` (startTestService does it). Spawned services (tests/helpers/process.ts) are other
 * processes: their tests read `output()` themselves.
 */

interface ErrorLine {
  text: string;
}

const seen: ErrorLine[] = [];
let expected: RegExp[] = [];

/** Records one error-level line for the guard. */
export function recordErrorLine(text: string): void {
  seen.push({ text });
}

/** A logger that reports its error lines to the guard and otherwise does what `inner` does (often: nothing). */
export function guardLogger(inner: Logger, base: Record<string, unknown> = {}): Logger {
  return {
    debug: inner.debug,
    info: inner.info,
    warn: inner.warn,
    error(msg, fields) {
      recordErrorLine(describe(msg, { ...base, ...fields }));
      inner.error(msg, fields);
    },
    child: (fields) => guardLogger(inner.child(fields), { ...base, ...fields }),
  };
}

function describe(msg: string, fields?: Record<string, unknown>): string {
  const parts = [msg];
  for (const [k, v] of Object.entries(fields ?? {})) {
    parts.push(`${k}=${v instanceof Error ? `${v.name}: ${v.message}` : typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return parts.join(' ');
}

/**
 * Declares that the running test expects an error log line matching `pattern` (message and fields,
 * `key=value`). Lines it matches do not fail the test; the test fails if none appears.
 */
export function expectErrorLog(pattern: RegExp): void {
  expected.push(pattern);
}

/**
 * Called by the preload after each test: returns what is wrong (unexpected lines, expected lines that
 * never came) or null, and starts the next test with a clean slate.
 */
export function settleErrorLog(): string | null {
  const unexpected = seen.filter((l) => !expected.some((p) => p.test(l.text)));
  const missing = expected.filter((p) => !seen.some((l) => p.test(l.text)));
  seen.length = 0;
  expected = [];
  if (!unexpected.length && !missing.length) return null;
  const lines = [
    ...unexpected.map((l) => `  unexpected error log: ${l.text.slice(0, 2000)}`),
    ...missing.map((p) => `  expected an error log matching ${p}, none came`),
  ];
  return `error-log guard:\n${lines.join('\n')}\n(declare an expected line with expectErrorLog(/pattern/))`;
}
