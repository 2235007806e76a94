/**
 * `bun run bench`: runs every benchmark in its own process (fresh heap, own embedded Postgres), relays
 * their JSON lines, and prints a table at the end. Figures are reported, never asserted: the exit code
 * is 0 whether goals are met or not (a benchmark that crashes is reported as such).
 *
 * `bun tests/bench/run.ts scoring catalogue` runs a subset.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { goalMet, type Figure } from './lib.ts';

const BENCHES = [
  'ingest-latency',
  'backlog-drain',
  'copy-throughput',
  'copy-parallel',
  'copy-memory',
  'scoring',
  'catalogue',
  'signed-link',
  'registry',
  'adapters',
  'trainer-outputs',
  'cli-pull',
];
const wanted = process.argv.slice(2);
const selected = wanted.length ? BENCHES.filter((b) => wanted.includes(b)) : BENCHES;

const figures: Figure[] = [];
const crashed: string[] = [];
const started = performance.now();

for (const bench of selected) {
  const t0 = performance.now();
  console.error(`\n=== ${bench} ===`);
  // Each benchmark gets its own TMPDIR (embedded Postgres clusters, fixtures), removed afterwards.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `lora-bench-run-${bench}-`));
  fs.chmodSync(tmp, 0o755);
  const proc = Bun.spawn(['bun', path.join(import.meta.dir, `${bench}.ts`)], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, TZ: 'UTC', TMPDIR: tmp },
  });
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      console.log(line);
      try {
        const fig = JSON.parse(line) as Figure;
        if (fig && typeof fig === 'object' && 'bench' in fig && 'metric' in fig) figures.push(fig);
      } catch {
        // not a figure: relayed as is
      }
    }
  }
  const code = await proc.exited;
  // The embedded Postgres gets SIGINT when the child exits; give it a moment before removing its files.
  for (let i = 0; i < 3; i++) {
    fs.rmSync(tmp, { recursive: true, force: true });
    await Bun.sleep(1000);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const seconds = (performance.now() - t0) / 1000;
  figures.push({ bench, metric: 'wall time', value: Math.round(seconds * 10) / 10, unit: 's', goal: null });
  if (code !== 0) crashed.push(`${bench} (exit ${code})`);
}

// ---- table
const rows = figures
  .filter((f) => typeof f.value !== 'object' || f.value === null)
  .map((f) => {
    const met = goalMet(f.value, f.goal);
    return [f.bench, f.metric, String(f.value), f.unit, f.goal ?? '', met === null ? '' : met ? 'ok' : 'MISSED'];
  });
const header = ['bench', 'metric', 'value', 'unit', 'goal', ''];
const widths = header.map((h, i) => Math.min(70, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
const line = (cells: string[]) =>
  cells
    .map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
console.log('');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
const missed = rows.filter((r) => r[5] === 'MISSED').length;
const withGoal = rows.filter((r) => r[5] !== '').length;
console.log(
  `\n${withGoal - missed}/${withGoal} goals met; total ${((performance.now() - started) / 1000).toFixed(0)} s${crashed.length ? `; CRASHED: ${crashed.join(', ')}` : ''}`,
);
