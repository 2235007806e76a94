/**
 * The `lora` CLI as a user runs it: a subprocess (`bun server/cli/main.ts`, or a compiled binary) with its own
 * HOME and XDG_CONFIG_HOME, stdout read line by line (JSON events when it is not a terminal).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(import.meta.dir, '..', '..');
export const CLI_MAIN = path.join(ROOT, 'server', 'cli', 'main.ts');

/** A home folder for one test file's CLI runs (config lands in `<home>/config`). */
export function cliHome(): { home: string; configHome: string; done: () => void } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cli-home-'));
  return { home, configHome: path.join(home, 'config'), done: () => fs.rmSync(home, { recursive: true, force: true }) };
}

export interface CliRun {
  proc: ReturnType<typeof Bun.spawn>;
  /** Resolves with the first JSON event on stdout that `match` accepts (rejects if the CLI exits first). */
  waitFor(match: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves once it exited: its code, stdout lines (JSON ones parsed into `events`) and stderr. */
  result(): Promise<{ code: number | null; signal: string | null; lines: string[]; events: Record<string, unknown>[]; stderr: string }>;
}

/**
 * Starts `lora ...args` (or `command` instead of `bun main.ts`) with exactly `env` plus PATH, HOME and
 * XDG_CONFIG_HOME from `home`.
 */
export function spawnCli(
  args: string[],
  options: { home: { home: string; configHome: string }; env?: Record<string, string>; cwd?: string; command?: string[] },
): CliRun {
  const proc = Bun.spawn([...(options.command ?? ['bun', CLI_MAIN]), ...args], {
    cwd: options.cwd ?? options.home.home,
    env: { PATH: process.env.PATH!, HOME: options.home.home, XDG_CONFIG_HOME: options.home.configHome, ...options.env },
    stdout: 'pipe',
    stderr: 'pipe',
    stdin: 'ignore',
  });
  const lines: string[] = [];
  const events: Record<string, unknown>[] = [];
  const watchers: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  const stdout = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        let event: Record<string, unknown> | null = null;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          // a line for humans
        }
        if (!event || typeof event !== 'object') continue;
        events.push(event);
        for (const w of [...watchers]) {
          if (w.match(event)) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(event);
          }
        }
      }
    }
    if (buffer) lines.push(buffer);
  })();
  const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
  const finished = Promise.all([proc.exited, stdout, stderr]);
  return {
    proc,
    waitFor(match) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        watchers.push({ match, resolve });
        void finished.then(async () => reject(new Error(`the CLI exited (${proc.exitCode}) before the event; stderr: ${await stderr}`)));
      });
    },
    async result() {
      await finished;
      return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), lines, events, stderr: await stderr };
    },
  };
}

/** Runs `lora ...args` to the end. */
export function runCli(args: string[], options: Parameters<typeof spawnCli>[1]) {
  return spawnCli(args, options).result();
}
