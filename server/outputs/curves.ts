/**
 * Loss curves from a trainer's own log files. Pure: text in, curve and warnings out; nothing here throws for what
 * a file holds. Runs at ingest on a worker thread, so each reader is one pass that allocates per point, not per key.
 *
 * Formats, as the trainers write them:
 * - transformers `trainer_state.json` (trainer_callback.py `TrainerState.save_to_json`: json.dumps(asdict(state),
 *   indent=2, sort_keys=True)): `log_history` is what `Trainer.log` (trainer.py) appended, `{...logs, "step":
 *   global_step}` with `epoch`. Train entries come from `_maybe_log_save_evaluate` (`loss`, `grad_norm`,
 *   `learning_rate`), eval entries from `evaluate` (`eval_loss`, `eval_runtime`, …, metric_key_prefix "eval"), the
 *   summary from the end of `train` (`train_runtime`, `train_loss`, `total_flos`, …). modelcard.py
 *   `parse_log_history` reads it the same way; an eval and a train entry often share a step.
 * - LLaMA-Factory `trainer_log.jsonl` (src/llamafactory/train/callbacks.py `LogCallback.on_log`): one json.dumps line
 *   per log, `{current_steps, total_steps, loss?, eval_loss?, predict_loss?, reward?, accuracy?, lr?, epoch?,
 *   percentage, elapsed_time, remaining_time, throughput?, total_tokens?}`, None values left out; opened in append
 *   mode, so a resumed run logs its steps again (the later line wins). Predict-only runs write progress lines only.
 * - torchtune `DiskLogger` (torchtune/training/metric_logging.py), file `log_<unix time>.<txt|jsonl>` in the
 *   recipe's `metric_logger.log_dir` (`${output_dir}/logs`). jsonl: `{"step": N, name: value, …}` per `log_dict`
 *   call and `{"step": N, name: value}` per `log` call (tensors through `.tolist()`, anything else through str).
 *   txt: `Step N | name:value name:value ` per `log_dict`, `Step N | name:value` per `log`; values are Python's
 *   `str()`, so a tensor reads `tensor(0.4512, device='cuda:0')`. The recipes (recipes/lora_finetune_*.py,
 *   full_finetune_*.py) log `loss`, `lr`, `tokens_per_second_per_gpu`, `grad_norm`, `peak_memory_*`, and the
 *   distributed ones `val_loss` from `validate`. No epoch.
 */
import {
  counted,
  isJsonObject,
  type JsonObject,
  jsonLineObject,
  Lines,
  lastPathSegment,
  readPythonJson,
  Tally,
  tooLarge,
  tooLargeToRead,
} from './reading.ts';
import type { OutputCurve, OutputPoint, OutputWarning } from './types.ts';

type CurveRead = { curve: OutputCurve | null; warnings: OutputWarning[] };

/**
 * `trainer_state.json`: its `log_history` as points (summary entries skipped), `best_model_checkpoint`'s basename
 * and `global_step`. The curve is null only when the file is not readable as a JSON object; its points may be empty.
 */
export function curveFromTrainerState(text: string, path: string): CurveRead {
  const parsed = readPythonJson(text, path);
  if (!parsed.ok) return { curve: null, warnings: [parsed.warning] };
  const state = parsed.value;
  if (!isJsonObject(state)) return { curve: null, warnings: [notAnObject(path, 'a trainer state')] };

  const warnings: OutputWarning[] = [];
  const badValues = new Tally();
  const noStep = new Tally();
  const notEntries = new Tally();
  const points = new PointTable();
  const history = state.log_history;
  if (Array.isArray(history)) {
    for (let i = 0; i < history.length; i++) {
      const entry: unknown = history[i];
      if (!isJsonObject(entry)) {
        notEntries.add(`log_history[${i}]`);
        continue;
      }
      // parse_log_history's rule (modelcard.py): the summary first, then eval, then train; anything else is some
      // callback's own log and carries no loss.
      if (Object.hasOwn(entry, 'train_runtime')) continue;
      const isEval = hasEvalKey(entry);
      if (!isEval && !Object.hasOwn(entry, 'loss')) continue;
      const step = wholeStep(entry.step);
      if (step === null) {
        noStep.add(`log_history[${i}]`);
        continue;
      }
      const epoch = numberAt(entry, 'epoch', badValues, 'log_history', i);
      if (isEval) {
        const validationLoss = numberAt(entry, 'eval_loss', badValues, 'log_history', i);
        if (validationLoss !== null) points.put(step, epoch, null, validationLoss, null);
      } else {
        const trainingLoss = numberAt(entry, 'loss', badValues, 'log_history', i);
        const learningRate = numberAt(entry, 'learning_rate', badValues, 'log_history', i);
        if (trainingLoss !== null || learningRate !== null) points.put(step, epoch, trainingLoss, null, learningRate);
      }
    }
  } else {
    const what = history === undefined ? 'has no `log_history`' : '`log_history` is not a list';
    warnings.push({ code: 'bad_shape', path, message: `No curve: ${what}.` });
  }

  let bestModelCheckpoint: string | null = null;
  const best = state.best_model_checkpoint;
  if (typeof best === 'string' && lastPathSegment(best) !== '') bestModelCheckpoint = lastPathSegment(best);
  else if (best !== null && best !== undefined) badValues.add('best_model_checkpoint');
  const globalStep = wholeStep(state.global_step);
  if (globalStep === null && state.global_step !== null && state.global_step !== undefined) badValues.add('global_step');

  notEntries.report(warnings, 'bad_shape', path, (n) => `${counted(n, 'log_history entry is', 'log_history entries are')} not objects, skipped`);
  noStep.report(warnings, 'bad_step', path, (n) => `${counted(n, 'entry', 'entries')} without a whole step number ≥ 0 skipped`);
  reportBadValues(badValues, warnings, path);
  return {
    curve: { source: 'trainer_state', path, points: points.sorted(), bestModelCheckpoint, globalStep },
    warnings,
  };
}

/** LLaMA-Factory `trainer_log.jsonl`. Null when no line carries a loss or a learning rate. */
export function curveFromTrainerLog(text: string, path: string): CurveRead {
  return curveFromJsonLines(text, path, 'trainer_log', TRAINER_LOG_KEYS);
}

/** torchtune `logs/log_*.jsonl` or `log_*.txt` (by extension; else by its first character). Null when nothing usable. */
export function curveFromTorchtuneLog(text: string, path: string): CurveRead {
  const jsonl = path.endsWith('.jsonl') || (!path.endsWith('.txt') && /^\s*\{/.test(text));
  return jsonl ? curveFromJsonLines(text, path, 'torchtune_log', TORCHTUNE_KEYS) : curveFromTorchtuneText(text, path);
}

/** Which key of a JSON line holds which value. */
interface LineKeys {
  step: string;
  epoch: string | null;
  trainingLoss: string;
  validationLoss: string;
  learningRate: string;
}
const TRAINER_LOG_KEYS: LineKeys = { step: 'current_steps', epoch: 'epoch', trainingLoss: 'loss', validationLoss: 'eval_loss', learningRate: 'lr' };
const TORCHTUNE_KEYS: LineKeys = { step: 'step', epoch: null, trainingLoss: 'loss', validationLoss: 'val_loss', learningRate: 'lr' };

function curveFromJsonLines(text: string, path: string, source: 'trainer_log' | 'torchtune_log', keys: LineKeys): CurveRead {
  if (tooLargeToRead(text)) return { curve: null, warnings: [tooLarge(path)] };
  const warnings: OutputWarning[] = [];
  const badLines = new Tally();
  const badValues = new Tally();
  const noStep = new Tally();
  const points = new PointTable();
  const lines = new Lines(text);
  for (let line = lines.next(); line !== null; line = lines.next()) {
    if (line.trim() === '') continue;
    const row = jsonLineObject(line);
    if (row === null) {
      badLines.add(`line ${lines.number}`);
      continue;
    }
    const trainingLoss = numberAt(row, keys.trainingLoss, badValues, 'line', lines.number);
    const validationLoss = numberAt(row, keys.validationLoss, badValues, 'line', lines.number);
    const learningRate = numberAt(row, keys.learningRate, badValues, 'line', lines.number);
    // Progress lines (no loss, no rate) are not points, whatever their step.
    if (trainingLoss === null && validationLoss === null && learningRate === null) continue;
    const step = wholeStep(row[keys.step]);
    if (step === null) {
      noStep.add(`line ${lines.number}`);
      continue;
    }
    const epoch = keys.epoch === null ? null : numberAt(row, keys.epoch, badValues, 'line', lines.number);
    points.put(step, epoch, trainingLoss, validationLoss, learningRate);
  }
  badLines.report(warnings, 'bad_json', path, (n) => `${counted(n, 'line is not a JSON object', 'lines are not JSON objects')}, skipped`);
  noStep.report(warnings, 'bad_step', path, (n) => `${counted(n, 'line')} without a whole step number ≥ 0 skipped (key \`${keys.step}\`)`);
  reportBadValues(badValues, warnings, path);
  const sorted = points.sorted();
  if (sorted.length === 0) return { curve: null, warnings };
  return { curve: { source, path, points: sorted, bestModelCheckpoint: null, globalStep: null }, warnings };
}

// `Step 120 | loss:1.2345 lr:2e-05 ` (DiskLogger.log_dict) or `Step 120 | val_loss:1.3` (DiskLogger.log).
const TORCHTUNE_LINE = /^Step (\d+) \|(.*)$/;
// Python's str(float): `1.5`, `2e-05`, `1e+16`, `nan`, `inf`, `-inf`.
const PYTHON_FLOAT = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)$/;

/** The DiskLogger's text form: used only when every line is a `Step N | …` line (else it may be any text file). */
function curveFromTorchtuneText(text: string, path: string): CurveRead {
  if (tooLargeToRead(text)) return { curve: null, warnings: [tooLarge(path)] };
  const warnings: OutputWarning[] = [];
  const badValues = new Tally();
  const points = new PointTable();
  const lines = new Lines(text);
  for (let line = lines.next(); line !== null; line = lines.next()) {
    if (line.trim() === '') continue;
    const match = TORCHTUNE_LINE.exec(line);
    const step = match ? wholeStep(Number(match[1])) : null;
    if (!match || step === null) {
      const message = `Not read as a torchtune log: line ${lines.number} is not \`Step N | name:value …\`.`;
      return { curve: null, warnings: [{ code: 'bad_shape', path, message }] };
    }
    let trainingLoss: number | null = null;
    let validationLoss: number | null = null;
    let learningRate: number | null = null;
    // Split on blanks: a tensor's str() holds blanks and colons (`tensor(0.45, device='cuda:0')`), which only ever
    // affects names this reader does not use.
    for (const token of match[2]!.split(' ')) {
      const colon = token.indexOf(':');
      if (colon <= 0) continue;
      const name = token.slice(0, colon);
      if (name !== 'loss' && name !== 'val_loss' && name !== 'lr') continue;
      const value = pythonFloat(token.slice(colon + 1));
      if (value === null) {
        badValues.add(`line ${lines.number} ${name}`);
        continue;
      }
      if (name === 'loss') trainingLoss = value;
      else if (name === 'val_loss') validationLoss = value;
      else learningRate = value;
    }
    if (trainingLoss !== null || validationLoss !== null || learningRate !== null) points.put(step, null, trainingLoss, validationLoss, learningRate);
  }
  reportBadValues(badValues, warnings, path);
  const sorted = points.sorted();
  if (sorted.length === 0) return { curve: null, warnings };
  return { curve: { source: 'torchtune_log', path, points: sorted, bestModelCheckpoint: null, globalStep: null }, warnings };
}

function pythonFloat(text: string): number | null {
  if (!PYTHON_FLOAT.test(text)) return null;
  const unsigned = text.replace(/^[-+]/, '');
  if (unsigned === 'nan') return Number.NaN;
  if (unsigned === 'inf') return text.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return Number(text);
}

/** Points by step; a later value for a field of a step replaces an earlier one (a resumed run logs its steps again). */
class PointTable {
  private readonly byStep = new Map<number, OutputPoint>();
  private maxStep = -1;
  private inOrder = true;

  put(step: number, epoch: number | null, trainingLoss: number | null, validationLoss: number | null, learningRate: number | null): void {
    let point = this.byStep.get(step);
    if (point === undefined) {
      point = { step, epoch: null, trainingLoss: null, validationLoss: null, learningRate: null };
      this.byStep.set(step, point);
      if (step < this.maxStep) this.inOrder = false;
      else this.maxStep = step;
    }
    if (epoch !== null) point.epoch = epoch;
    if (trainingLoss !== null) point.trainingLoss = trainingLoss;
    if (validationLoss !== null) point.validationLoss = validationLoss;
    if (learningRate !== null) point.learningRate = learningRate;
  }

  sorted(): OutputPoint[] {
    const points = [...this.byStep.values()];
    return this.inOrder ? points : points.sort((a, b) => a.step - b.step);
  }
}

/** A number (NaN and ±Infinity included), or null when absent or None; anything else is tallied and dropped. */
function numberAt(row: JsonObject, key: string, badValues: Tally, where: 'log_history' | 'line', index: number): number | null {
  const value = row[key];
  if (typeof value === 'number') return value;
  if (value === undefined || value === null) return null;
  // A numeric string is still a string: Python wrote str, not float, so the writer meant something else.
  badValues.add(where === 'line' ? `line ${index} ${key}` : `log_history[${index}].${key}`);
  return null;
}

function wholeStep(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function hasEvalKey(entry: JsonObject): boolean {
  for (const key in entry) if (key.startsWith('eval_')) return true;
  return false;
}

function reportBadValues(badValues: Tally, warnings: OutputWarning[], path: string): void {
  badValues.report(warnings, 'bad_value', path, (n) => `${counted(n, 'value is not a number', 'values are not numbers')}, dropped`);
}

function notAnObject(path: string, what: string): OutputWarning {
  return { code: 'bad_shape', path, message: `Not read as ${what}: the file holds no JSON object.` };
}
