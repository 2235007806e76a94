import path from 'node:path';

/** One answer: when it was sent (epoch ms), how long it took, and its status (-1: no answer). */
export type HealthSample = { at: number; ms: number; status: number };

/**
 * Starts polling `url` every 20 ms from a child process; `stop()` returns every answer's latency.
 * The child is used because the service under test runs in this process: a blocked event loop would
 * delay an in-process poller's timers and hide the very stall being measured.
 */
export async function pollHealth(url: string) {
  const child = Bun.spawn(['bun', path.join(import.meta.dir, 'health-poller.ts'), url], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' });
  const reader = child.stdout.getReader();
  let out = '';
  // Wait for the child to say it runs, so the measured window covers what follows.
  while (!out.includes('started\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error('health poller exited early');
    out += new TextDecoder().decode(value);
  }
  return {
    async stop(): Promise<HealthSample[]> {
      child.stdin.end();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      await child.exited;
      return JSON.parse(out.slice(out.indexOf('started\n') + 8).trim()) as HealthSample[];
    },
  };
}
