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

/** The last lines in-process services logged at any level (tests run with the log silenced), for a failed test's report. */
const recent: string[] = [];
const RECENT_LINES = 300;

function remember(level: string, msg: string, fields: Record<string, unknown>): void {
  recent.push(`${new Date().toISOString()} ${level} ${describe(msg, fields)}`);
  if (recent.length > RECENT_LINES) recent.splice(0, recent.length - RECENT_LINES);
}

/** Takes the recent log lines (all levels) and starts afresh: the preload writes them beside a failed test's database. */
export function takeRecentLogLines(): string[] {
  return recent.splice(0, recent.length);
}

/**
 * A logger that reports its error lines to the guard, keeps every line for a failed test's report, and
 * otherwise does what `inner` does (often: nothing).
 */
export function guardLogger(inner: Logger, base: Record<string, unknown> = {}): Logger {
  return {
    debug(msg, fields) {
      remember('debug', msg, { ...base, ...fields });
      inner.debug(msg, fields);
    },
    info(msg, fields) {
      remember('info', msg, { ...base, ...fields });
      inner.info(msg, fields);
    },
    warn(msg, fields) {
      remember('warn', msg, { ...base, ...fields });
      inner.warn(msg, fields);
    },
    error(msg, fields) {
      remember('error', msg, { ...base, ...fields });
      recordErrorLine(describe(msg, { ...base, ...fields }));
      inner.error(msg, fields);
    },
    child: (fields) => guardLogger(inner.child(fields), { ...base, ...fields }),
  };
}

type FailureHook = (report: { file: string | null; name: string; dir: string; stem: string }) => Promise<void> | void;
const failureHooks: FailureHook[] = [];

/**
 * Registers what a test file wants kept when one of its tests fails (a browser test: a screenshot and the
 * page's HTML). The preload runs the hooks after the failed test, before the next one starts.
 */
export function onTestFailure(hook: FailureHook): void {
  failureHooks.push(hook);
}

/** Runs the failure hooks (the preload calls it); a hook that throws is reported, not rethrown. */
export async function runFailureHooks(report: Parameters<FailureHook>[0]): Promise<void> {
  for (const hook of failureHooks) {
    await Promise.resolve()
      .then(() => hook(report))
      .catch((e: unknown) => process.stderr.write(`[failed test] a failure hook threw: ${e instanceof Error ? e.message : e}\n`));
  }
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
