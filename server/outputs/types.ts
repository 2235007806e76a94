/**
 * What a trainer's output says besides its weights: curves from its logs, evaluation results, and the problems
 * found reading them. Shared by the readers in this folder, the ingest that records them and models.get.
 */

/** A problem with one output file, recorded on the model; it never fails the ingest. */
export interface OutputWarning {
  /** Stable and machine-readable: `bad_json`, `too_large`, `bad_value`, `unknown_keys`, `pickle_unreadable`, … */
  code: string;
  /** The file, relative to the output. */
  path: string;
  /** One sentence for people. */
  message: string;
}

/** Where a curve's points came from: the worker's own reports, or a file of the output. */
export type CurveSource = 'worker' | 'trainer_state' | 'trainer_log' | 'torchtune_log';

/** One step read from a trainer's log. Non-finite numbers (NaN, ±Infinity from Python) are kept as they are. */
export interface OutputPoint {
  step: number;
  epoch: number | null;
  trainingLoss: number | null;
  validationLoss: number | null;
  learningRate: number | null;
}

/** A loss curve read from one file of the output. */
export interface OutputCurve {
  source: Exclude<CurveSource, 'worker'>;
  /** The file read, relative to the output. */
  path: string;
  /** Sorted by step, one per step (a train and an eval entry of one step merged). */
  points: OutputPoint[];
  /** trainer_state.json `best_model_checkpoint`'s basename (`checkpoint-200`): a path from the training machine. */
  bestModelCheckpoint: string | null;
  /** trainer_state.json `global_step`. */
  globalStep: number | null;
}

/** fraction: 0..1 (accuracy, ROUGE F); percent: 0..100 (BLEU, LLaMA-Factory's bleu-4/rouge-*); raw: anything else (loss, runtime). */
export type MetricScale = 'fraction' | 'percent' | 'raw';

export interface EvalMetric {
  name: string;
  value: number;
  scale: MetricScale;
  /** The lm-evaluation-harness task (`hellaswag`), else null. */
  task: string | null;
}

export type EvalFormat = 'hf_results' | 'lm_eval' | 'llamafactory_predict' | 'predictions';

/** The metrics one file of the output carries (or, for `predictions`, that this service computed from it). */
export interface EvalSet {
  path: string;
  format: EvalFormat;
  metrics: EvalMetric[];
}

/** A folder rule the ingest skipped files by (`wandb/`), and how many files and bytes it left out. */
export interface SkippedFiles {
  rule: string;
  files: number;
  bytes: number;
  /** A few of the paths, for the record. */
  examples: string[];
}

/**
 * What the ingest read from the output besides the adapter (`model_artifacts.output_report`): where the curve came
 * from, the trainer's own best checkpoint, what was skipped, and every problem met reading trainer files.
 */
export interface OutputReport {
  curve: {
    /** The curve's sources: `worker` for points reported through jobs.reportMetrics, a file source for points read from the output. */
    sources: CurveSource[];
    /** Points the worker reported. */
    workerPoints: number;
    /** The file the output's curve came from, how many points it had and how many were added (the worker's win on a shared step). */
    file: { source: Exclude<CurveSource, 'worker'>; path: string; points: number; added: number } | null;
  };
  /** trainer_state.json's best_model_checkpoint, matched by basename to a checkpoint of the output (null: it was rotated away). */
  trainerBest: { name: string; checkpoint: string | null } | null;
  skipped: SkippedFiles[];
  warnings: OutputWarning[];
}

/** A number as JSON can hold it: Postgres jsonb and JSON have no NaN or Infinity, so those are kept as their names. */
type JsonNumber = number | 'NaN' | 'Infinity' | '-Infinity';

/** An evaluation set as stored and served (`model_artifacts.evaluations`): non-finite values spelled out, not lost. */
export interface StoredEvalSet extends Omit<EvalSet, 'metrics'> {
  metrics: (Omit<EvalMetric, 'value'> & { value: JsonNumber })[];
}

/** `n` as JSON can hold it. */
function jsonNumber(n: number): JsonNumber {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

/** The sets as stored: every value JSON-safe. */
export function storedEvalSets(sets: readonly EvalSet[]): StoredEvalSet[] {
  return sets.map((s) => ({ ...s, metrics: s.metrics.map((m) => ({ ...m, value: jsonNumber(m.value) })) }));
}

/**
 * A curve's points as columns: what crosses from the worker thread. 200,000 point objects cost 170 ms of
 * structured cloning on the event loop; five typed arrays are handed over, not copied.
 */
export interface CurveColumns {
  length: number;
  step: Float64Array;
  epoch: Float64Array;
  trainingLoss: Float64Array;
  validationLoss: Float64Array;
  learningRate: Float64Array;
  /** Per point, which values it has (NaN is a value): 1 epoch, 2 training loss, 4 validation loss, 8 learning rate. */
  present: Uint8Array;
}

/** A curve read from the output, its points as columns. */
export interface ColumnarCurve extends Omit<OutputCurve, 'points'> {
  points: CurveColumns;
}

const FIELDS = [
  ['epoch', 1],
  ['trainingLoss', 2],
  ['validationLoss', 4],
  ['learningRate', 8],
] as const;

export function toColumns(points: readonly OutputPoint[]): CurveColumns {
  const n = points.length;
  const c: CurveColumns = {
    length: n,
    step: new Float64Array(n),
    epoch: new Float64Array(n),
    trainingLoss: new Float64Array(n),
    validationLoss: new Float64Array(n),
    learningRate: new Float64Array(n),
    present: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    c.step[i] = p.step;
    let mask = 0;
    for (const [field, bit] of FIELDS) {
      const v = p[field];
      if (v !== null) {
        c[field][i] = v;
        mask |= bit;
      }
    }
    c.present[i] = mask;
  }
  return c;
}

/** Points `from` ≤ i < `to` of `c` as objects (a batch at a time, never all at once). */
export function pointsOf(c: CurveColumns, from: number, to: number): OutputPoint[] {
  const out: OutputPoint[] = [];
  for (let i = from; i < Math.min(to, c.length); i++) {
    const m = c.present[i]!;
    out.push({
      step: c.step[i]!,
      epoch: m & 1 ? c.epoch[i]! : null,
      trainingLoss: m & 2 ? c.trainingLoss[i]! : null,
      validationLoss: m & 4 ? c.validationLoss[i]! : null,
      learningRate: m & 8 ? c.learningRate[i]! : null,
    });
  }
  return out;
}

/** The buffers of `c`, to hand to postMessage as transferables. */
export function columnBuffers(c: CurveColumns): ArrayBuffer[] {
  return [c.step, c.epoch, c.trainingLoss, c.validationLoss, c.learningRate, c.present].map((a) => a.buffer as ArrayBuffer);
}
