// Loaded before every test file (bunfig.toml). Kept light: databases and servers start on demand in
// tests/helpers, so a unit test file starts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { callerTestFile, dumpTestDatabases, failureReportPaths, stopTestCluster } from '../helpers/db.ts';
import { recordErrorLine, runFailureHooks, settleErrorLog, takeRecentLogLines } from '../helpers/log-guard.ts';

process.env.TZ = 'UTC';

// require, not `import { … } from 'bun:test'`: an import here would fix the module's exports before
// `test` is wrapped below, and every test file would get bun's own `test`.
const bunTest = require('bun:test') as { -readonly [K in keyof typeof import('bun:test')]: typeof import('bun:test')[K] };
const { afterAll, afterEach } = bunTest;

// A hook registered here is global: it runs once, after the last test file, and takes the shared
// embedded Postgres down with the run (bun test does not fire process 'exit' handlers reliably).
afterAll(() => stopTestCluster());

// --- Which test failed. Bun 1.4 gives hooks no pass/fail status (afterEach gets only `done`, and
// onTestFinished too), so `test`/`it` are wrapped here, once for every file: a test counts as passed
// only when its body settled without throwing. A timeout, a failed expect or a rejection leaves it
// failed, and the afterEach below keeps its file's databases.
interface Running {
  name: string;
  file: string | null;
  passed: boolean;
}
let running: Running | null = null;

type Body = (...args: unknown[]) => unknown;
function wrapBody(name: string, file: string | null, fn: Body | undefined): Body | undefined {
  if (typeof fn !== 'function') return fn;
  // Bun tells a done-callback test by its arity: keep it.
  if (fn.length > 0) {
    return (done: unknown) => {
      const state: Running = { name, file, passed: false };
      running = state;
      return fn((err?: unknown) => {
        state.passed = !err;
        (done as (e?: unknown) => void)(err);
      });
    };
  }
  return async () => {
    const state: Running = { name, file, passed: false };
    running = state;
    await fn();
    state.passed = true;
  };
}

function wrapTest<T extends (...args: never[]) => unknown>(original: T): T {
  // Rest arguments, not `options?`: an explicit `undefined` timeout would replace bunfig's with bun's 5 s default.
  const wrapped = ((name: string, fn: Body | undefined, ...rest: unknown[]) =>
    (original as unknown as (n: string, f: unknown, ...o: unknown[]) => unknown)(
      name,
      wrapBody(name, callerTestFile(), fn),
      ...rest,
    )) as unknown as T;
  // test.each, test.skip, test.failing and the rest keep bun's own behaviour (not wrapped); they live on
  // bun's native function, not as own properties, so Object.assign would not copy them. Lazy getters:
  // with CI set, bun throws on merely reading `test.only`, so nothing is read until a test asks for it.
  const source = original as unknown as Record<string, unknown>;
  for (const key of ['each', 'skip', 'only', 'todo', 'if', 'skipIf', 'todoIf', 'failing', 'concurrent', 'serial']) {
    Object.defineProperty(wrapped, key, {
      configurable: true,
      get: () => {
        const value = source[key];
        return typeof value === 'function' ? value.bind(original) : value;
      },
    });
  }
  return wrapped;
}

bunTest.test = wrapTest(bunTest.test);
bunTest.it = wrapTest(bunTest.it);

// --- The error-log guard (tests/helpers/log-guard.ts): console.error counts like a logged error line.
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) => {
  recordErrorLine(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : typeof a === 'string' ? a : Bun.inspect(a))).join(' '));
  consoleError(...args);
};

afterEach(async () => {
  const test = running;
  running = null;
  const guard = settleErrorLog();
  const recentLog = takeRecentLogLines();
  if (test && (!test.passed || guard)) {
    // What it takes to understand a failure after the fact: the databases, the services' recent log
    // (every level, though tests run it silenced), and whatever the file registered (a browser page).
    const { dir, stem } = failureReportPaths(test.file, test.name);
    const kept = await dumpTestDatabases(test.file, test.name);
    const logPath = path.join(dir, `${stem}.log`);
    fs.writeFileSync(logPath, `${recentLog.join('\n')}\n`);
    kept.push(logPath);
    await runFailureHooks({ file: test.file, name: test.name, dir, stem });
    process.stderr.write(`\n[failed test] ${test.file ?? '?'} > ${test.name}\n${kept.map((d) => `  kept: ${d}\n`).join('')}`);
  }
  if (guard) throw new Error(guard);
});
