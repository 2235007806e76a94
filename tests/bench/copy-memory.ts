/**
 * Peak memory of a copy: copyToStorage of a 0.5 GiB and a 4 GiB file, each in a fresh child process
 * (copy-memory-child.ts), peak RSS read from /proc/<self>/status VmHWM at the end, in the child.
 * Goals: each ≤ 256 MB, and the two within 20% of each other (memory must not grow with file size).
 * A baseline child (same imports, no copy) is reported for reference.
 * Standalone: `bun tests/bench/copy-memory.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeRandomFile } from '../fixtures/lora.ts';
import { emit, info, tempDir } from './lib.ts';

const BENCH = 'copy-memory';
const SIZES = [
  { label: '0.5 GiB', bytes: 512 * 1024 ** 2 },
  { label: '4 GiB', bytes: 4 * 1024 ** 3 },
];

async function child(args: string[]): Promise<{ vmHWMKiB: number; vmRSSKiB: number; ms: number }> {
  const proc = Bun.spawn(['bun', path.join(import.meta.dir, 'copy-memory-child.ts'), ...args], { stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  if (code !== 0) throw new Error(`copy child exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!);
}

export async function main() {
  const base = await child(['/nonexistent', 'x', '/nonexistent', '--baseline']);
  emit(BENCH, 'baseline child peak RSS (imports only)', base.vmHWMKiB / 1024, 'MiB');
  const peaks: number[] = [];
  for (const { label, bytes } of SIZES) {
    const tmp = tempDir('mem');
    try {
      const srcDir = path.join(tmp.dir, 'src');
      await writeRandomFile(path.join(srcDir, 'big.safetensors'), bytes, `mem-${bytes}`);
      const r = await child([srcDir, 'big.safetensors', path.join(tmp.dir, 'storage')]);
      info(BENCH, `${label}: peak ${(r.vmHWMKiB / 1024).toFixed(1)} MiB, copy ${r.ms.toFixed(0)} ms`);
      const stored = path.join(tmp.dir, 'storage', 'bench-user', 'bench-artifact', '0');
      if (fs.statSync(stored).size !== bytes) throw new Error('stored size differs');
      peaks.push(r.vmHWMKiB / 1024);
      emit(BENCH, `peak RSS, copy of ${label}`, r.vmHWMKiB / 1024, 'MiB', '<= 256');
      emit(BENCH, `copy time ${label}`, r.ms / 1000, 's');
    } finally {
      tmp.done();
    }
  }
  const [small, big] = peaks as [number, number];
  emit(BENCH, 'peak RSS growth 4 GiB vs 0.5 GiB', ((big - small) / small) * 100, '%', '<= 20');
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
