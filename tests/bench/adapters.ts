/**
 * Runtime-ready adapters (issue 12): the GGUF export and the weight-health analysis of a rank-64,
 * all-linear LoRA adapter of Llama-3-8B (hidden 4096, intermediate 14336, 32 layers, 8 KV heads of 128:
 * 167.8 M parameters, 335 MB in BF16), each in a fresh child process for its own peak RSS, against the
 * anchor of reading and hashing the same file (SHA-256, one core) in the same run. The health analysis also
 * runs on a 4 GiB adapter (the same plus a saved 3.7 GB lm_head) for the ingest's memory bound.
 * Standalone: `bun tests/bench/adapters.ts`.
 */
import path from 'node:path';
import { randomWeights, type TensorSource, writeSafetensors } from '../fixtures/lora.ts';
import { emit, info, tempDir } from './lib.ts';

const BENCH = 'adapters';
const RUNS = 3;

/** Llama-3-8B's projections: [in, out] per module (its config.json). */
const HIDDEN = 4096;
const INTER = 14336;
const KV = 8 * 128;
const MODULES: [string, string, number, number][] = [
  ['self_attn', 'q_proj', HIDDEN, HIDDEN],
  ['self_attn', 'k_proj', HIDDEN, KV],
  ['self_attn', 'v_proj', HIDDEN, KV],
  ['self_attn', 'o_proj', HIDDEN, HIDDEN],
  ['mlp', 'gate_proj', HIDDEN, INTER],
  ['mlp', 'up_proj', HIDDEN, INTER],
  ['mlp', 'down_proj', INTER, HIDDEN],
];

function adapterTensors(rank: number, layers: number): TensorSource[] {
  const tensors: TensorSource[] = [];
  for (let i = 0; i < layers; i++) {
    for (const [parent, m, inDim, outDim] of MODULES) {
      const base = `base_model.model.model.layers.${i}.${parent}.${m}`;
      tensors.push({ name: `${base}.lora_A.weight`, dtype: 'BF16', shape: [rank, inDim], fill: randomWeights(`${base}:A`, 'BF16', -6) });
      tensors.push({ name: `${base}.lora_B.weight`, dtype: 'BF16', shape: [outDim, rank], fill: randomWeights(`${base}:B`, 'BF16', -10) });
    }
  }
  return tensors;
}

async function child(mode: string, file = ''): Promise<{ ms: number; vmHWMKiB: number }> {
  const proc = Bun.spawn(['bun', path.join(import.meta.dir, 'adapters-child.ts'), mode, file], { stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`${mode} child failed`);
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** Best of RUNS for time, the highest peak for memory, alternating with the anchor so both see the same machine. */
async function measure(mode: string, file: string) {
  let best = Number.POSITIVE_INFINITY;
  let anchor = Number.POSITIVE_INFINITY;
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    anchor = Math.min(anchor, (await child('hash', file)).ms);
    const r = await child(mode, file);
    best = Math.min(best, r.ms);
    peak = Math.max(peak, r.vmHWMKiB / 1024);
  }
  return { best, anchor, peak };
}

export async function main() {
  const tmp = tempDir('adapters');
  try {
    const file = path.join(tmp.dir, 'adapter_model.safetensors');
    const { size } = await writeSafetensors(file, adapterTensors(64, 32));
    info(BENCH, `rank-64 all-linear Llama-3-8B adapter: ${(size / 1e6).toFixed(0)} MB`);
    const baseline = await child('baseline');
    emit(BENCH, 'baseline child peak RSS (imports only)', baseline.vmHWMKiB / 1024, 'MiB');

    const exp = await measure('export', file);
    emit(BENCH, 'GGUF export, 8B r64 all-linear (335 MB BF16)', exp.best / 1000, 's');
    emit(BENCH, 'anchor: read + SHA-256 of the same file', exp.anchor / 1000, 's');
    emit(BENCH, 'GGUF export time / anchor', exp.best / exp.anchor, '×', '<= 8');
    emit(BENCH, 'GGUF export peak RSS', exp.peak, 'MiB', '<= 256');

    const health = await measure('health', file);
    emit(BENCH, 'weight health, 8B r64 all-linear (335 MB BF16)', health.best / 1000, 's');
    emit(BENCH, 'weight health time / anchor', health.best / health.anchor, '×', '<= 12');
    emit(BENCH, 'weight health peak RSS', health.peak, 'MiB', '<= 256');

    // The ingest's bound: a 4 GiB adapter (a saved lm_head of a 128k vocabulary in F32 pads it) stays under 256 MiB.
    const big = path.join(tmp.dir, 'big', 'adapter_model.safetensors');
    const padding: TensorSource = {
      name: 'base_model.model.lm_head.weight',
      dtype: 'F32',
      shape: [Math.floor((4 * 1024 ** 3 - size) / 4 / HIDDEN), HIDDEN],
      fill: randomWeights('lm_head', 'F32', -6),
    };
    const { size: bigSize } = await writeSafetensors(big, [...adapterTensors(64, 32), padding]);
    info(BENCH, `with a saved lm_head: ${(bigSize / 1024 ** 3).toFixed(2)} GiB`);
    const r = await child('health', big);
    emit(BENCH, 'weight health peak RSS, 4 GiB adapter', r.vmHWMKiB / 1024, 'MiB', '<= 256');
    emit(BENCH, 'weight health, 4 GiB adapter', r.ms / 1000, 's');
  } finally {
    tmp.done();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
