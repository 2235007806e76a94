/**
 * The trainer files of an output that say how the run went: its curve (trainer_state.json, LLaMA-Factory's
 * trainer_log.jsonl, torchtune's logs) and its evaluation results (HF `*_results.json`, lm-evaluation-harness
 * `results_*.json`, LLaMA-Factory's predictions). Which files those are is decided from the listing; reading them
 * is bounded; parsing (JSON5 for Python's NaN, BLEU/ROUGE over predictions) runs on a worker thread with a
 * deadline. A bad file is a warning on the model, never a failed ingest.
 */
import { baseName } from '../paths.ts';
import { checkpointOf } from '../ingest/inspect/classify.ts';
import { askWorkerOnce } from '../worker-once.ts';
import type { ColumnarCurve, EvalSet, OutputCurve, OutputWarning } from './types.ts';

type TrainerFileRole = 'trainer_state' | 'trainer_log' | 'torchtune_log' | 'eval' | 'predictions';

/** A file to read, and what it is. */
export interface TrainerFile {
  path: string;
  size: number;
  role: TrainerFileRole;
}

/** What a trainer file holds, read: its text (cut at a line end when `truncated`), or why it was not read. */
export interface TrainerFileBytes {
  path: string;
  role: TrainerFileRole;
  bytes: Uint8Array;
  /** Only the start of the file was read (predictions past the byte limit). */
  truncated: boolean;
}

export interface TrainerOutput {
  curve: OutputCurve | null;
  evals: EvalSet[];
  warnings: OutputWarning[];
}

/** TrainerOutput as the ingest receives it from the worker: the curve's points as columns. */
export interface TrainerRead extends Omit<TrainerOutput, 'curve'> {
  curve: ColumnarCurve | null;
}

/** The most of one trainer file that is read: a bigger curve or results file is not one a trainer writes. */
const MAX_TRAINER_FILE_BYTES = 32 * 1024 * 1024;
/** The most read of all of an output's trainer files together (they are held until their copy). */
const MAX_TRAINER_TOTAL_BYTES = 64 * 1024 * 1024;

const TORCHTUNE_LOG = /(?:^|\/)logs\/log_(\d{1,20})\.(jsonl|txt)$/;
/** HF's save_metrics(split) files; train_results.json holds training figures only (the curve has them). */
const HF_RESULTS = new Set(['eval_results.json', 'test_results.json', 'predict_results.json']);
const LM_EVAL_RESULTS = /^results_.{1,64}\.json$/;

const depth = (path: string) => path.split('/').length;

/**
 * Picks the trainer files of a listing:
 * - the curve: the root trainer_state.json, else LLaMA-Factory's trainer_log.jsonl, else the trainer_state.json of the
 *   highest checkpoint (TRL and axolotl save state only there), else torchtune's newest `logs/log_<time>.jsonl` (then `.txt`);
 * - evaluations outside checkpoints: `eval_results.json`, `test_results.json`, `predict_results.json` (or
 *   `all_results.json` in a folder that has none of them), lm-evaluation-harness `results_*.json`, and
 *   LLaMA-Factory's `generated_predictions.jsonl`.
 */
export function trainerFilesOf(files: readonly { path: string; size: number }[]): TrainerFile[] {
  const picked: TrainerFile[] = [];
  const at = (path: string) => files.find((f) => f.path === path);
  const rootState = at('trainer_state.json');
  if (rootState) picked.push({ ...rootState, role: 'trainer_state' });
  else {
    const inCheckpoints = files
      .filter((f) => baseName(f.path) === 'trainer_state.json')
      .map((f) => ({ f, id: checkpointOf(f.path) }))
      .filter((c) => c.id !== null && `${c.id.name}/trainer_state.json` === c.f.path)
      // The highest step; a checkpoint without a number (last-checkpoint/) is the latest of its run.
      .sort((a, b) => (b.id!.step ?? Number.MAX_SAFE_INTEGER) - (a.id!.step ?? Number.MAX_SAFE_INTEGER));
    const log = at('trainer_log.jsonl');
    const tune = files
      .map((f) => ({ f, m: TORCHTUNE_LOG.exec(f.path) }))
      .filter((c) => c.m !== null && checkpointOf(c.f.path) === null)
      .sort(
        (a, b) => depth(a.f.path) - depth(b.f.path) || (a.m![2] === b.m![2] ? 0 : a.m![2] === 'jsonl' ? -1 : 1) || Number(b.m![1]) - Number(a.m![1]),
      );
    // A log at the top covers the whole run; a checkpoint's state only the run up to that checkpoint.
    if (log) picked.push({ ...log, role: 'trainer_log' });
    else if (inCheckpoints[0]) picked.push({ ...inCheckpoints[0].f, role: 'trainer_state' });
    else if (tune[0]) picked.push({ ...tune[0].f, role: 'torchtune_log' });
  }
  const outside = files.filter((f) => checkpointOf(f.path) === null);
  const folders = new Map<string, string[]>();
  for (const f of outside) {
    const dir = f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '';
    folders.set(dir, [...(folders.get(dir) ?? []), baseName(f.path)]);
  }
  for (const f of outside) {
    const base = baseName(f.path);
    const dir = f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '';
    if (HF_RESULTS.has(base) || LM_EVAL_RESULTS.test(base)) picked.push({ ...f, role: 'eval' });
    else if (base === 'all_results.json' && !(folders.get(dir) ?? []).some((b) => HF_RESULTS.has(b))) picked.push({ ...f, role: 'eval' });
    else if (base === 'generated_predictions.jsonl') picked.push({ ...f, role: 'predictions' });
  }
  // Bounded: an output of thousands of result files is read for its first few.
  return picked.slice(0, 50);
}

/**
 * Reads at most `limit` bytes of a stream (`expected`: its declared size, to allocate once); `truncated` when there
 * were more. Each chunk is copied once, into the result: chunks may be buffers the source reuses.
 */
export async function readPrefix(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  expected = 0,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const reader = stream.getReader();
  let bytes = new Uint8Array(Math.min(limit, Math.max(0, expected)));
  let length = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, limit - length);
      if (length + take > bytes.byteLength) {
        // More than declared: grow (doubling), never past the limit.
        const grown = new Uint8Array(Math.min(limit, Math.max(length + take, bytes.byteLength * 2)));
        grown.set(bytes.subarray(0, length));
        bytes = grown;
      }
      bytes.set(take === value.byteLength ? value : value.subarray(0, take), length);
      length += take;
      if (take < value.byteLength) {
        truncated = true;
        break;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return { bytes: length === bytes.byteLength ? bytes : bytes.slice(0, length), truncated };
}

/** Parsing every trainer file of an output takes well under a second; a hostile one is cut off here. */
const ANALYSIS_TIMEOUT_MS = 60_000;

/**
 * Reads the trainer files of a listing (`open` gives a file's bytes from its start) and parses them off the event
 * loop. Never throws for bad content: a file too large, unreadable or not parsed in time is a warning.
 */
export async function readTrainerOutput(
  open: (path: string) => Promise<ReadableStream<Uint8Array>>,
  files: readonly { path: string; size: number }[],
  options: { timeoutMs?: number; keep?: (path: string, bytes: Uint8Array) => void } = {},
): Promise<TrainerRead> {
  const warnings: OutputWarning[] = [];
  const read: TrainerFileBytes[] = [];
  let budget = MAX_TRAINER_TOTAL_BYTES;
  for (const f of trainerFilesOf(files)) {
    const limit = Math.min(MAX_TRAINER_FILE_BYTES, budget);
    if ((f.size > limit && f.role !== 'predictions') || limit === 0) {
      warnings.push({
        code: 'too_large',
        path: f.path,
        message:
          f.size > MAX_TRAINER_FILE_BYTES
            ? `is ${(f.size / (1024 * 1024)).toFixed(0)} MiB; a ${f.role === 'eval' ? 'results' : 'log'} file over ${MAX_TRAINER_FILE_BYTES / (1024 * 1024)} MiB is not read`
            : `was not read: the trainer files read before it reached ${MAX_TRAINER_TOTAL_BYTES / (1024 * 1024)} MiB together`,
      });
      continue;
    }
    const { bytes, truncated } = await readPrefix(await open(f.path), limit, f.size);
    budget -= bytes.byteLength;
    // A file read whole is kept for its copy (one fetch a file; what was parsed is what is stored and hashed).
    if (!truncated) options.keep?.(f.path, bytes.slice());
    read.push({ path: f.path, role: f.role, bytes, truncated });
  }
  if (read.length === 0) return { curve: null, evals: [], warnings };
  const parsed = await analyseInWorker(read, options.timeoutMs ?? ANALYSIS_TIMEOUT_MS).catch(
    (error: Error): TrainerRead => ({
      curve: null,
      evals: [],
      warnings: read.map((f) => ({ code: 'unreadable', path: f.path, message: error.message })),
    }),
  );
  return { ...parsed, warnings: [...warnings, ...parsed.warnings] };
}

type Answer = { ok: true; output: TrainerRead } | { ok: false; message: string };

async function analyseInWorker(files: TrainerFileBytes[], timeoutMs: number): Promise<TrainerRead> {
  const answer = await askWorkerOnce<Answer>(
    new URL('./trainer-files.worker.ts', import.meta.url),
    files,
    files.map((f) => f.bytes.buffer as ArrayBuffer),
    timeoutMs,
    () => new Error(`was not parsed within ${Math.round(timeoutMs / 1000)} s; it is too complex to read`),
  );
  if (!answer.ok) throw new Error(`could not be read: ${answer.message}`);
  return answer.output;
}
