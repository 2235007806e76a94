/**
 * Real trainer outputs (issue 16): reading what a trainer left besides its weights, at the sizes the ingest
 * accepts. A 30 MB trainer_state.json (200,000 log entries, Python's NaN in it) read through the ingest's path
 * (worker thread) against the anchor of native JSON.parse of the same text without NaN, in the same run; the
 * event loop's worst lag meanwhile (the API must not wait); and BLEU + ROUGE over 20,000 predictions against
 * the anchor of parsing those lines. Standalone: `bun tests/bench/trainer-outputs.ts`.
 */
import { analyseTrainerFiles } from '../../server/outputs/trainer-analysis.ts';
import { readTrainerOutput } from '../../server/outputs/trainer-files.ts';
import path from 'node:path';
import { emit, info, tempDir } from './lib.ts';

const BENCH = 'trainer-outputs';
const RUNS = 3;

function trainerState(entries: number, nan: boolean): string {
  const history: string[] = [];
  for (let step = 1; step <= entries; step++) {
    const loss = (2.3 * Math.exp(-step / 50_000) + 0.4).toFixed(4);
    const grad = nan && step % 997 === 0 ? 'NaN' : (0.5 + (step % 13) / 10).toFixed(6);
    history.push(
      `    {\n      "epoch": ${(step / 10_000).toFixed(4)},\n      "grad_norm": ${grad},\n      "learning_rate": 0.0002,\n      "loss": ${loss},\n      "step": ${step}\n    }`,
    );
    if (step % 500 === 0)
      history.push(
        `    {\n      "epoch": ${(step / 10_000).toFixed(4)},\n      "eval_loss": ${loss},\n      "eval_runtime": 12.5,\n      "step": ${step}\n    }`,
      );
  }
  return `{\n  "best_model_checkpoint": "/workspace/out/checkpoint-200000",\n  "global_step": ${entries},\n  "log_history": [\n${history.join(',\n')}\n  ]\n}\n`;
}

const WORDS = 'the model answers each ticket with a short reply that names the product and the next step for the customer'.split(' ');
function predictions(lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = 20 + (i % 60);
    const label = Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]).join(' ');
    const predict = Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 3 + (k % 5 === 0 ? 1 : 0)) % WORDS.length]).join(' ');
    out.push(JSON.stringify({ prompt: `ticket ${i}`, predict, label }));
  }
  return `${out.join('\n')}\n`;
}

const bytesOf = (text: string) => new TextEncoder().encode(text);

/** The worst gap between 1 ms timers while `work` runs: how long the event loop was held. */
async function worstLag<T>(work: () => Promise<T>): Promise<{ result: T; lagMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  try {
    const result = await work();
    // The last stretch counts too (work that never yields lets no timer run at all).
    return { result, lagMs: Math.max(worst, performance.now() - last) };
  } finally {
    clearInterval(timer);
  }
}

export async function main() {
  const tmp = tempDir('trainer-outputs');
  try {
    await run(tmp.dir);
  } finally {
    tmp.done();
  }
}

async function run(dir: string) {
  const withNan = bytesOf(trainerState(200_000, true));
  const plain = trainerState(200_000, false);
  // Read from disk as the file source reads it (real I/O between chunks, as in an ingest).
  const file = path.join(dir, 'trainer_state.json');
  await Bun.write(file, withNan);
  info(BENCH, `trainer_state.json: ${(withNan.byteLength / 1e6).toFixed(1)} MB, 200,400 entries`);
  let best = Number.POSITIVE_INFINITY;
  let anchor = Number.POSITIVE_INFINITY;
  let lag = 0;
  let points = 0;
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    JSON.parse(plain);
    anchor = Math.min(anchor, performance.now() - t);
    t = performance.now();
    const { result, lagMs } = await worstLag(() =>
      readTrainerOutput(async () => Bun.file(file).stream(), [{ path: 'trainer_state.json', size: withNan.byteLength }]),
    );
    best = Math.min(best, performance.now() - t);
    lag = Math.max(lag, lagMs);
    points = result.curve?.points.length ?? 0;
    if (result.warnings.length > 0) throw new Error(`unexpected warnings: ${JSON.stringify(result.warnings)}`);
  }
  if (points !== 200_000) throw new Error(`read ${points} points, expected 200,000`);
  emit(BENCH, 'trainer_state.json 30 MB with NaN, read on a worker', best / 1000, 's');
  emit(BENCH, 'anchor: native JSON.parse of the same text without NaN', anchor / 1000, 's');
  emit(BENCH, 'trainer_state.json read time / anchor', best / anchor, '×', '<= 10');
  emit(BENCH, 'event loop worst lag while reading it', lag, 'ms', '<= 50');

  const text = predictions(20_000);
  const lines = text.trimEnd().split('\n');
  info(BENCH, `generated_predictions.jsonl: ${(text.length / 1e6).toFixed(1)} MB, 20,000 lines`);
  let scoring = Number.POSITIVE_INFINITY;
  let parse = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    for (const l of lines) JSON.parse(l);
    parse = Math.min(parse, performance.now() - t);
    t = performance.now();
    const out = analyseTrainerFiles([{ path: 'generated_predictions.jsonl', role: 'predictions', bytes: bytesOf(text), truncated: false }]);
    scoring = Math.min(scoring, performance.now() - t);
    if (!out.evals[0]?.metrics.some((m) => m.name === 'bleu')) throw new Error('no BLEU computed');
  }
  emit(BENCH, 'BLEU + ROUGE-1/2/L over 20,000 predictions', scoring / 1000, 's', '<= 12', 'the ingest gives the whole analysis 60 s');
  emit(BENCH, 'anchor: JSON.parse of the 20,000 lines', parse / 1000, 's');
  emit(BENCH, 'predictions scoring time / anchor', scoring / parse, '×');
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
