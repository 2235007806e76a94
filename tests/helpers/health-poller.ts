/**
 * Polls a URL every 20 ms from a separate process (so a stalled server event loop cannot also stall
 * the measurement) until its stdin closes, then prints the latencies as JSON. Run by pollHealth().
 */
const url = process.argv[2]!;
const samples: { at: number; ms: number; status: number }[] = [];
let stopped = false;
export {};
void (async () => {
  const reader = Bun.stdin.stream().getReader();
  // Nothing is sent; the stream ending is the signal.
  while (!(await reader.read()).done);
  stopped = true;
})();
process.stdout.write('started\n');
while (!stopped) {
  const at = Date.now();
  const t = performance.now();
  let status = 0;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    await res.arrayBuffer();
    status = res.status;
  } catch {
    status = -1;
  }
  samples.push({ at, ms: performance.now() - t, status });
  await Bun.sleep(20); // the polling period, not a wait for a condition
}
process.stdout.write(`${JSON.stringify(samples)}\n`);
