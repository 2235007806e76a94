import path from 'node:path';

const ROOT = path.join(import.meta.dir, '..', '..');
const MAIN = path.join(ROOT, 'server', 'main.ts');

export interface ServiceProcess {
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * `bun server/main.ts` as an operator runs it, with exactly `env` (plus PATH and HOME); resolves once it
 * prints its ready line, or throws with what it printed when it exits or takes longer than `timeoutMs`.
 */
export async function spawnService(env: Record<string, string>, timeoutMs = 60_000): Promise<ServiceProcess> {
  const proc = Bun.spawn(['bun', MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let output = '';
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const decoder = new TextDecoder();
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        output += decoder.decode(value, { stream: true });
      }
    })();
  }
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await proc.exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while (!/ready( on|\s*\(role)/.test(output)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the service did not start (exit ${proc.exitCode}):\n${output}`);
    }
    await Bun.sleep(20);
  }
  return { proc, output: () => output, stop };
}
