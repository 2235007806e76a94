/**
 * One measurement of tests/bench/adapters.ts in a fresh process, so its peak RSS (VmHWM) is its own:
 * `export <file>` converts the adapter to GGUF F16 (streamed to a file beside it), `health <file>` runs the
 * weight-health analysis through the fs storage driver as the ingest does, `hash <file>` reads and hashes
 * it (the anchor), `baseline` imports only. Prints one JSON line: { ms, vmHWMKiB }.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exportGguf } from '../../server/adapters/gguf/convert.ts';
import { analyseWeightHealth } from '../../server/adapters/health-runner.ts';
import { fileRangeReader } from '../../server/ingest/inspect/safetensors.ts';
import { createFsStorage } from '../../server/storage/fs.ts';

const CONFIG = { rank: 64, alpha: 128, rankPattern: {}, alphaPattern: {}, useRslora: false };
// Llama-3-8B: 32 attention heads, 8 KV heads (its config.json).
const HEADS = { attentionHeads: 32, kvHeads: 8 };

function peakKiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

const [mode, file] = process.argv.slice(2);
const t0 = performance.now();
if (mode === 'export') {
  const size = fs.statSync(file!).size;
  const { size: outSize, stream } = await exportGguf(fileRangeReader(file!), size, CONFIG, 'llama', 'bench', HEADS);
  const out = `${file}.gguf`;
  await Bun.write(out, new Response(stream));
  if (fs.statSync(out).size !== outSize) throw new Error('export size differs');
  fs.rmSync(out);
} else if (mode === 'health') {
  const root = path.dirname(file!);
  const storage = createFsStorage({ root, publicUrl: 'http://127.0.0.1', secret: 'bench-secret-bench-secret' });
  const health = await analyseWeightHealth(
    storage,
    { key: path.basename(file!), size: fs.statSync(file!).size, path: 'adapter_model.safetensors' },
    CONFIG,
  );
  if (health.modules.length === 0 && !health.warnings.length) throw new Error('nothing analysed');
} else if (mode === 'hash') {
  const hasher = new Bun.CryptoHasher('sha256');
  const reader = Bun.file(file!).stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) hasher.update(r.value);
  hasher.digest('hex');
} else if (mode !== 'baseline') {
  throw new Error(`unknown mode ${mode}`);
}
console.log(JSON.stringify({ ms: performance.now() - t0, vmHWMKiB: peakKiB() }));
process.exit(0);
