/**
 * Evaluation results that come with a trainer's output. Pure: text in, metrics and warnings out; nothing here
 * throws for what a file holds.
 *
 * Formats, as the tools write them:
 * - transformers `Trainer.save_metrics(split, metrics)` (trainer.py / trainer_pt_utils.py): `{split}_results.json`,
 *   and the same keys merged into `all_results.json`: one flat map, json.dump(indent=4, sort_keys=True), keys
 *   prefixed by split (`eval_loss`, `eval_runtime`, `eval_samples_per_second`, `eval_steps_per_second`, `epoch`,
 *   `train_loss`, `train_runtime`, `total_flos`, …). examples/pytorch/language-modeling/run_clm.py adds
 *   `perplexity` (float("inf") on overflow, written `Infinity`); run_summarization.py and run_translation.py write
 *   ROUGE and BLEU already multiplied by 100.
 * - LLaMA-Factory (src/llamafactory/train/sft/workflow.py): `save_metrics("predict", …)` → `predict_results.json`
 *   and with predict_with_generate `ComputeSimilarity` (train/sft/metric.py) scores `bleu-4` (nltk sentence_bleu,
 *   method3 smoothing, over characters) and `rouge-1`/`rouge-2`/`rouge-l` (rouge-chinese F over jieba words), each
 *   `round(x * 100, 4)` and averaged: `predict_bleu-4`, …, in percent; the same keys prefixed `eval_` when
 *   evaluating. `ComputeAccuracy` gives `eval_accuracy` in 0..1. `CustomSeq2SeqTrainer.save_predictions`
 *   (train/sft/trainer.py) writes `generated_predictions.jsonl`: `{"prompt", "predict", "label"}` a line.
 * - lm-evaluation-harness `EvaluationTracker.save_results_aggregated` (lm_eval/loggers/evaluation_tracker.py):
 *   `<output_path>/<model_name_sanitized>/results_<ISO date>.json` (or `<stem>_<date>.json` when output_path names
 *   a .json file). lm_eval/result_schema.py: `results: { task: { "alias", "name"?, "sample_len"?,
 *   "<metric>,<filter>": number, "<metric>_stderr,<filter>": number or "N/A" } }`, beside `groups` (the group rows
 *   again), `group_subtasks`, `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`, `config`, … which are
 *   not metrics. lm-eval 0.3 wrote `results: { task: { "acc": …, "acc_stderr": … } }` (tests/testdata/*-res.json).
 */
import { baseName } from '../paths.ts';
import { counted, isJsonObject, type JsonObject, jsonLineObject, Lines, readPythonJson, Tally } from './reading.ts';
import { corpusBleu } from './text-metrics/bleu.ts';
import { rougeL, rougeN } from './text-metrics/rouge.ts';
import type { EvalFormat, EvalMetric, EvalSet, MetricScale, OutputWarning } from './types.ts';

type EvalRead = { set: EvalSet | null; warnings: OutputWarning[] };

/** The most prediction lines scored: BLEU and ROUGE-L over more would hold the ingest's worker for too long. */
const MAX_PREDICTION_LINES = 20_000;
/**
 * Text scored at most (predictions and labels together), and the longest pair scored: ROUGE-L is quadratic in a
 * line's tokens and BLEU linear in all of them; measured, 72 M characters took 24 s on one core, 4 M about 1.5 s.
 */
const MAX_PREDICTION_CHARS = 4_000_000;
const MAX_PAIR_CHARS = 20_000;

/**
 * An HF `*_results.json` / `all_results.json` map, an lm-evaluation-harness `results_*.json`, or LLaMA-Factory's
 * `predict_results.json`: told apart by content (an lm-eval file has a `results` object), then by name. The set is
 * null when the file holds no metric.
 */
export function evalsFromFile(text: string, path: string): EvalRead {
  const parsed = readPythonJson(text, path);
  if (!parsed.ok) return { set: null, warnings: [parsed.warning] };
  const doc = parsed.value;
  if (!isJsonObject(doc)) {
    return { set: null, warnings: [{ code: 'bad_shape', path, message: 'Not read as evaluation results: the file holds no JSON object.' }] };
  }
  const warnings: OutputWarning[] = [];
  const unknown = new Tally();
  let format: EvalFormat;
  let metrics: EvalMetric[];
  if (Object.hasOwn(doc, 'results')) {
    format = 'lm_eval';
    metrics = isJsonObject(doc.results) ? lmEvalMetrics(doc.results, unknown) : [];
    if (!isJsonObject(doc.results)) warnings.push({ code: 'bad_shape', path, message: 'No metrics: `results` is not an object.' });
  } else {
    // HF's run_* scripts write a predict_results.json too: LLaMA-Factory's is the one with its similarity keys.
    const llamaFactory = baseName(path) === 'predict_results.json' && LLAMA_FACTORY_KEYS.some((k) => Object.hasOwn(doc, k));
    format = llamaFactory ? 'llamafactory_predict' : 'hf_results';
    metrics = flatMetrics(doc, unknown);
  }
  unknown.report(warnings, 'unknown_keys', path, (n) => `${counted(n, 'key holds', 'keys hold')} no number, ignored`);
  return { set: metrics.length > 0 ? { path, format, metrics } : null, warnings };
}

/**
 * LLaMA-Factory `generated_predictions.jsonl` scored here: corpus BLEU (sacrebleu's defaults) as `bleu` in percent,
 * ROUGE-1/2/L F-measure (rouge-score's tokenizer) averaged over lines as fractions, and the number of lines scored.
 * The first 20,000 lines at most.
 */
export function evalsFromPredictions(text: string, path: string): EvalRead {
  const warnings: OutputWarning[] = [];
  const badLines = new Tally();
  const badValues = new Tally();
  const predicts: string[] = [];
  const labels: string[] = [];
  const lines = new Lines(text);
  const tooLong = new Tally();
  let read = 0;
  let chars = 0;
  let truncated = false;
  for (let line = lines.next(); line !== null; line = lines.next()) {
    if (line.trim() === '') continue;
    if (read === MAX_PREDICTION_LINES || chars >= MAX_PREDICTION_CHARS) {
      truncated = true;
      break;
    }
    read++;
    const row = jsonLineObject(line);
    if (row === null) {
      badLines.add(`line ${lines.number}`);
      continue;
    }
    const { predict, label } = row;
    if (typeof predict !== 'string' || typeof label !== 'string') {
      badValues.add(`line ${lines.number} ${typeof predict !== 'string' ? 'predict' : 'label'}`);
      continue;
    }
    if (predict.length + label.length > MAX_PAIR_CHARS) {
      tooLong.add(`line ${lines.number}`);
      continue;
    }
    chars += predict.length + label.length;
    predicts.push(predict);
    labels.push(label);
  }
  tooLong.report(
    warnings,
    'too_large',
    path,
    (n) =>
      `${counted(n, 'line has', 'lines have')} a prediction and label over ${MAX_PAIR_CHARS.toLocaleString('en')} characters together, not scored`,
  );
  badLines.report(warnings, 'bad_json', path, (n) => `${counted(n, 'line is not a JSON object', 'lines are not JSON objects')}, skipped`);
  badValues.report(warnings, 'bad_value', path, (n) => `${counted(n, 'line lacks', 'lines lack')} a \`predict\` or \`label\` string, skipped`);
  if (truncated) {
    warnings.push({
      code: 'truncated',
      path,
      message: `Only the first ${predicts.length.toLocaleString('en')} predictions were scored (at most ${MAX_PREDICTION_LINES.toLocaleString('en')} lines and ${(MAX_PREDICTION_CHARS / 1e6).toFixed(0)} million characters are).`,
    });
  }
  if (predicts.length === 0) {
    warnings.push({ code: 'empty', path, message: 'No scores: no line has both a `predict` and a `label` string.' });
    return { set: null, warnings };
  }

  let rouge1 = 0;
  let rouge2 = 0;
  let rougeLSum = 0;
  for (let i = 0; i < predicts.length; i++) {
    const target = labels[i]!;
    const prediction = predicts[i]!;
    rouge1 += rougeN(target, prediction, 1).fmeasure;
    rouge2 += rougeN(target, prediction, 2).fmeasure;
    rougeLSum += rougeL(target, prediction).fmeasure;
  }
  const n = predicts.length;
  const metrics: EvalMetric[] = [
    { name: 'bleu', value: corpusBleu(predicts, [labels]).score, scale: 'percent', task: null },
    { name: 'rouge1', value: rouge1 / n, scale: 'fraction', task: null },
    { name: 'rouge2', value: rouge2 / n, scale: 'fraction', task: null },
    { name: 'rougeL', value: rougeLSum / n, scale: 'fraction', task: null },
    { name: 'predictions', value: n, scale: 'raw', task: null },
  ];
  return { set: { path, format: 'predictions', metrics }, warnings };
}

/** LLaMA-Factory's ComputeSimilarity names (train/sft/metric.py), always ×100, whatever the split prefix. */
const LLAMA_FACTORY_PERCENT = new Set(['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l']);
const LLAMA_FACTORY_KEYS = [...LLAMA_FACTORY_PERCENT].map((k) => `predict_${k}`);
const SPLIT_PREFIX = /^(?:eval|test|predict|train)_/;
// Counts, times, losses: whatever their value, never a share.
const RAW_NAME = /(?:^|_)(?:loss|runtime|samples_per_second|steps_per_second|tokens_per_second|perplexity|flos|epoch|samples)$/;
// BLEU and ROUGE: a fraction from `evaluate`'s metrics, ×100 in the HF example scripts.
const BLEU_OR_ROUGE = /^(?:bleu|sacrebleu|rouge\w*)$/;
// Names that are shares of 0..1 when their value is (SQuAD's exact_match/f1 are percents: out of range, raw).
const SHARE_NAME = /accuracy|accuracies|f1|precision|recall|(?:^|_)(?:acc|acc_norm|exact_match)(?:_|$)/;

function within01(value: number): boolean {
  return value >= 0 && value <= 1;
}

/** HF `save_metrics`: each number is a metric named by its key (split prefix kept). */
function flatMetrics(doc: JsonObject, unknown: Tally): EvalMetric[] {
  const metrics: EvalMetric[] = [];
  for (const key in doc) {
    const value = doc[key];
    if (typeof value !== 'number') {
      unknown.add(`\`${key}\``);
      continue;
    }
    metrics.push({ name: key, value, scale: hfScale(key, value), task: null });
  }
  return metrics;
}

function hfScale(key: string, value: number): MetricScale {
  const name = key.replace(SPLIT_PREFIX, '');
  if (LLAMA_FACTORY_PERCENT.has(name)) return 'percent';
  if (RAW_NAME.test(name)) return 'raw';
  if (BLEU_OR_ROUGE.test(name)) {
    if (within01(value)) return 'fraction';
    // Above 1 a BLEU or ROUGE can only be a percent.
    return value > 1 && value <= 100 ? 'percent' : 'raw';
  }
  return SHARE_NAME.test(name) && within01(value) ? 'fraction' : 'raw';
}

/** lm-evaluation-harness task keys that are not metrics (result_schema.py `_TaskMetrics`). */
const LM_EVAL_NOT_METRICS = new Set(['alias', 'name', 'sample_len', 'sample_count']);
// lm-eval's own metrics that are shares (api/metrics.py: mean of 0/1 per document); bleu/chrf/ter there are sacrebleu
// percents, perplexities raw: those stay raw.
const LM_EVAL_SHARE = /^(?:acc|acc_norm|acc_mutual_info|exact_match|f1|precision|recall)$/;

function lmEvalMetrics(results: JsonObject, unknown: Tally): EvalMetric[] {
  const metrics: EvalMetric[] = [];
  for (const task in results) {
    const row = results[task];
    if (!isJsonObject(row)) {
      unknown.add(`\`results.${task}\``);
      continue;
    }
    for (const key in row) {
      if (LM_EVAL_NOT_METRICS.has(key)) continue;
      const comma = key.indexOf(',');
      const metric = comma === -1 ? key : key.slice(0, comma);
      const filter = comma === -1 ? 'none' : key.slice(comma + 1);
      const value = row[key];
      if (typeof value !== 'number') {
        // evaluator_utils.py writes "N/A" for a stderr it could not compute (one sample, bootstrap_iters=0).
        if (value === 'N/A' && metric.endsWith('_stderr')) continue;
        unknown.add(`\`results.${task}.${key}\``);
        continue;
      }
      const name = filter === 'none' ? metric : `${metric},${filter}`;
      const share = LM_EVAL_SHARE.test(metric.replace(/_stderr$/, '')) && within01(value);
      metrics.push({ name, value, scale: share ? 'fraction' : 'raw', task });
    }
  }
  return metrics;
}
