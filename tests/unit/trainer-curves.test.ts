import { describe, expect, test } from 'bun:test';
import { curveFromTorchtuneLog, curveFromTrainerLog, curveFromTrainerState } from '../../server/outputs/curves.ts';
import { MAX_TRAINER_JSON_BYTES } from '../../server/outputs/python-json.ts';
import type { OutputPoint } from '../../server/outputs/types.ts';
import { f, type PyValue, pyDumps } from '../fixtures/py-format.ts';

// transformers' TrainerState.save_to_json is json.dumps(asdict(state), indent=2, sort_keys=True): floats in repr()
// form (`1.0`, `2e-05`), NaN/Infinity bare. pyDumps writes that; `f()` marks the floats whose value is integral.

/**
 * An HF Trainer LoRA run as `Trainer.train` logs it (trainer.py `_maybe_log_save_evaluate`, `log`): logging_steps=10,
 * eval_steps=save_steps=50, max_steps=200, 25 steps an epoch; the train entry of a step is appended before its eval
 * entry; the summary last. Step 70 had an fp16 overflow (grad_norm NaN), step 190 a NaN loss.
 */
function hfRun() {
  const history: PyValue[] = [];
  const expected: OutputPoint[] = [];
  for (let step = 10; step <= 200; step += 10) {
    const epoch = Math.round((step / 25) * 100) / 100;
    const loss = step === 190 ? Number.NaN : Math.round((2.2 - step / 200) * 1e4) / 1e4;
    const learningRate = 2e-4 * (1 - (step - 10) / 200);
    history.push({ epoch: f(epoch), grad_norm: step === 70 ? Number.NaN : 0.5 + step / 1000, learning_rate: learningRate, loss: f(loss), step });
    const point: OutputPoint = { step, epoch, trainingLoss: loss, validationLoss: null, learningRate };
    if (step % 50 === 0) {
      const evalLoss = Math.round((2.0 - step / 400 + (step === 200 ? 0.1 : 0)) * 1e4) / 1e4;
      history.push({
        epoch: f(epoch),
        eval_loss: f(evalLoss),
        eval_runtime: 12.3456,
        eval_samples_per_second: 81.003,
        eval_steps_per_second: 10.125,
        step,
      });
      point.validationLoss = evalLoss;
    }
    expected.push(point);
  }
  history.push({
    epoch: f(8),
    step: 200,
    total_flos: f(1.2345678901234568e16),
    train_loss: 1.6789,
    train_runtime: 612.5,
    train_samples_per_second: 26.12,
    train_steps_per_second: 0.327,
  });
  const state: PyValue = {
    best_global_step: 150,
    best_metric: f(1.625),
    best_model_checkpoint: '/workspace/out/checkpoint-150',
    epoch: f(8),
    eval_steps: 50,
    global_step: 200,
    is_hyper_param_search: false,
    is_local_process_zero: true,
    is_world_process_zero: true,
    log_history: history,
    logging_steps: 10,
    max_steps: 200,
    num_input_tokens_seen: 0,
    num_train_epochs: 8,
    save_steps: 50,
    stateful_callbacks: {
      TrainerControl: {
        args: {
          should_epoch_stop: false,
          should_evaluate: false,
          should_log: false,
          should_save: true,
          should_training_stop: true,
        },
        attributes: {},
      },
    },
    total_flos: f(1.2345678901234568e16),
    train_batch_size: 8,
    trial_name: null,
    trial_params: null,
  };
  return { text: `${pyDumps(state, { indent: 2, sortKeys: true })}\n`, expected };
}

describe('curveFromTrainerState', () => {
  test('an HF Trainer run: one point a step, train and eval merged, summary skipped, NaN kept', () => {
    const { text, expected } = hfRun();
    expect(text).toContain('"grad_norm": NaN');
    expect(text).toContain('"learning_rate": 0.0002,');
    const { curve, warnings } = curveFromTrainerState(text, 'checkpoint-200/trainer_state.json');
    expect(warnings).toEqual([]);
    expect(curve).not.toBeNull();
    expect(curve!.source).toBe('trainer_state');
    expect(curve!.path).toBe('checkpoint-200/trainer_state.json');
    expect(curve!.bestModelCheckpoint).toBe('checkpoint-150');
    expect(curve!.globalStep).toBe(200);
    expect(curve!.points).toHaveLength(20);
    // toEqual holds NaN equal to NaN; the NaN itself is checked below.
    expect(curve!.points).toEqual(expected);
    const at = (step: number) => curve!.points.find((p) => p.step === step)!;
    expect(at(150)).toEqual({ step: 150, epoch: 6, trainingLoss: 1.45, validationLoss: 1.625, learningRate: 2e-4 * (1 - 140 / 200) });
    expect(Number.isNaN(at(190).trainingLoss)).toBe(true);
    // The summary's train_loss (1.6789) is not step 200's loss.
    expect(at(200).trainingLoss).toBe(1.2);
    expect(at(40).validationLoss).toBeNull();
  });

  test('eval before train, steps out of order, a resumed run logging a step again: sorted, merged, the later wins', () => {
    const text = `{"global_step": 30, "best_model_checkpoint": null, "log_history": [
      {"eval_loss": 1.5, "epoch": 1.0, "step": 20},
      {"loss": 1.9, "learning_rate": 1e-05, "epoch": 1.0, "step": 20},
      {"loss": 2.1, "learning_rate": 2e-05, "epoch": 0.5, "step": 10},
      {"loss": 1.8, "learning_rate": 5e-06, "epoch": 1.5, "step": 30},
      {"loss": 1.7, "epoch": 1.5, "step": 30},
      {"eval_accuracy": 0.7, "epoch": 1.5, "step": 30},
      {"total_flos": 1000.0, "step": 30}
    ]}`;
    const { curve, warnings } = curveFromTrainerState(text, 'trainer_state.json');
    expect(warnings).toEqual([]);
    expect(curve!.bestModelCheckpoint).toBeNull();
    expect(curve!.points).toEqual([
      { step: 10, epoch: 0.5, trainingLoss: 2.1, validationLoss: null, learningRate: 2e-5 },
      { step: 20, epoch: 1, trainingLoss: 1.9, validationLoss: 1.5, learningRate: 1e-5 },
      // The later entry replaces the loss and keeps the rate it does not carry; an eval entry without eval_loss adds nothing.
      { step: 30, epoch: 1.5, trainingLoss: 1.7, validationLoss: null, learningRate: 5e-6 },
    ]);
  });

  test('best_model_checkpoint from a Windows machine, a trailing slash, and a bare name', () => {
    const best = (path: string) =>
      curveFromTrainerState(JSON.stringify({ best_model_checkpoint: path, log_history: [] }), 'trainer_state.json').curve!.bestModelCheckpoint;
    expect(best('C:\\runs\\qwen\\checkpoint-400')).toBe('checkpoint-400');
    expect(best('/data/out/run-3/checkpoint-50/')).toBe('checkpoint-50');
    expect(best('checkpoint-7')).toBe('checkpoint-7');
    expect(best('')).toBeNull();
  });

  test('not JSON: no curve, one bad_json warning', () => {
    const { curve, warnings } = curveFromTrainerState('{"log_history": [{"loss": 1.2, "step": 10}', 'trainer_state.json');
    expect(curve).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('bad_json');
    expect(warnings[0]!.path).toBe('trainer_state.json');
    expect(warnings[0]!.message).toMatch(/not JSON/);
  });

  test('not an object, or no log_history list: bad_shape', () => {
    expect(curveFromTrainerState('[1, 2]', 'trainer_state.json')).toEqual({
      curve: null,
      warnings: [{ code: 'bad_shape', path: 'trainer_state.json', message: expect.stringContaining('no JSON object') }],
    });
    const dict = curveFromTrainerState('{"log_history": {}, "global_step": 40, "best_model_checkpoint": "out/checkpoint-40"}', 'trainer_state.json');
    expect(dict.curve).toEqual({
      source: 'trainer_state',
      path: 'trainer_state.json',
      points: [],
      bestModelCheckpoint: 'checkpoint-40',
      globalStep: 40,
    });
    expect(dict.warnings.map((w) => w.code)).toEqual(['bad_shape']);
    expect(dict.warnings[0]!.message).toMatch(/log_history.*not a list/);
    expect(curveFromTrainerState('{"global_step": 1}', 'x.json').warnings[0]!.message).toMatch(/no `log_history`/);
  });

  test('strings where numbers belong: dropped, ONE bad_value warning with the count and the first places', () => {
    const entries = [
      '{"loss": "1.5", "learning_rate": 2e-05, "epoch": 0.1, "step": 10}',
      '{"loss": 1.4, "learning_rate": "Infinity", "epoch": 0.2, "step": 20}',
      '{"loss": 1.3, "learning_rate": 2e-05, "epoch": "0.3", "step": 30}',
      '{"loss": true, "learning_rate": 2e-05, "epoch": 0.4, "step": 40}',
      '{"eval_loss": "NaN", "epoch": 0.4, "step": 40}',
      '{"loss": [1.2], "learning_rate": {"value": 1}, "epoch": 0.5, "step": 50}',
      '{"loss": 1.1, "learning_rate": Infinity, "epoch": 0.6, "step": 60}',
      '{"loss": 1.0, "learning_rate": null, "epoch": null, "step": 70}',
    ];
    const text = `{"global_step": "70", "best_model_checkpoint": 5, "log_history": [${entries.join(',\n')}]}`;
    const { curve, warnings } = curveFromTrainerState(text, 'trainer_state.json');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('bad_value');
    // loss@10, lr@20, epoch@30, loss@40, eval_loss@40, loss@50, lr@50, best_model_checkpoint, global_step.
    expect(warnings[0]!.message).toBe(
      '9 values are not numbers, dropped: log_history[0].loss, log_history[1].learning_rate, log_history[2].epoch, log_history[3].loss, log_history[4].eval_loss, ….',
    );
    expect(curve!.globalStep).toBeNull();
    expect(curve!.bestModelCheckpoint).toBeNull();
    expect(curve!.points).toEqual([
      { step: 10, epoch: 0.1, trainingLoss: null, validationLoss: null, learningRate: 2e-5 },
      { step: 20, epoch: 0.2, trainingLoss: 1.4, validationLoss: null, learningRate: null },
      { step: 30, epoch: null, trainingLoss: 1.3, validationLoss: null, learningRate: 2e-5 },
      { step: 40, epoch: 0.4, trainingLoss: null, validationLoss: null, learningRate: 2e-5 },
      // Python's bare Infinity is a number, kept.
      { step: 60, epoch: 0.6, trainingLoss: 1.1, validationLoss: null, learningRate: Number.POSITIVE_INFINITY },
      { step: 70, epoch: null, trainingLoss: 1, validationLoss: null, learningRate: null },
    ]);
  });

  test('entries without a whole step ≥ 0, and entries that are not objects: skipped, one warning each', () => {
    const text = `{"log_history": [
      {"loss": 2.0, "step": 10}, {"loss": 1.9}, {"loss": 1.8, "step": "30"}, {"loss": 1.7, "step": 40.5},
      {"loss": 1.6, "step": -1}, {"eval_loss": 1.5, "step": null}, "step 60", null, [70], {"loss": 1.4, "step": 80}
    ]}`;
    const { curve, warnings } = curveFromTrainerState(text, 'trainer_state.json');
    expect(curve!.points.map((p) => p.step)).toEqual([10, 80]);
    expect(warnings.map((w) => [w.code, w.message])).toEqual([
      ['bad_shape', '3 log_history entries are not objects, skipped: log_history[6], log_history[7], log_history[8].'],
      [
        'bad_step',
        '5 entries without a whole step number ≥ 0 skipped: log_history[1], log_history[2], log_history[3], log_history[4], log_history[5].',
      ],
    ]);
  });

  test('a file over the size limit is refused unread', () => {
    const { curve, warnings } = curveFromTrainerState(' '.repeat(MAX_TRAINER_JSON_BYTES + 1), 'trainer_state.json');
    expect(curve).toBeNull();
    expect(warnings.map((w) => w.code)).toEqual(['too_large']);
  });

  test('a 100,000-entry log_history (train every step, eval every 100) is read value for value', () => {
    const entries: string[] = [];
    for (let step = 1; step <= 100_000; step++) {
      const gradNorm = step % 997 === 0 ? 'NaN' : String(0.25 + (step % 13) / 100);
      entries.push(
        `{\n      "epoch": ${step / 1000},\n      "grad_norm": ${gradNorm},\n      "learning_rate": ${2e-4 * (1 - step / 100_000)},\n      "loss": ${3 - step / 50_000},\n      "step": ${step}\n    }`,
      );
      if (step % 100 === 0) entries.push(`{"epoch": ${step / 1000}, "eval_loss": ${2 + step / 1e6}, "eval_runtime": 3.5, "step": ${step}}`);
    }
    entries.push('{"epoch": 100.0, "step": 100000, "train_loss": 2.0, "train_runtime": 99999.0}');
    const text = `{\n  "best_model_checkpoint": "/out/checkpoint-100000",\n  "global_step": 100000,\n  "log_history": [\n    ${entries.join(',\n    ')}\n  ]\n}\n`;
    expect(text.length).toBeGreaterThan(10_000_000);
    const { curve, warnings } = curveFromTrainerState(text, 'trainer_state.json');
    expect(warnings).toEqual([]);
    const points = curve!.points;
    expect(points).toHaveLength(100_000);
    let mismatches = 0;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      const step = i + 1;
      const ok =
        p.step === step &&
        p.epoch === step / 1000 &&
        p.trainingLoss === 3 - step / 50_000 &&
        p.learningRate === 2e-4 * (1 - step / 100_000) &&
        p.validationLoss === (step % 100 === 0 ? 2 + step / 1e6 : null);
      if (!ok) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(curve!.globalStep).toBe(100_000);
    expect(curve!.bestModelCheckpoint).toBe('checkpoint-100000');
  });
});

describe('curveFromTrainerLog (LLaMA-Factory trainer_log.jsonl)', () => {
  // LogCallback.on_log: json.dumps of the dict with None values dropped, one line per Trainer.log call; the last
  // line follows the summary log (no loss); predict-time progress lines carry only steps and times.
  const LOG = [
    '{"current_steps": 10, "total_steps": 60, "loss": 1.8123, "lr": 4.9e-05, "epoch": 0.33, "percentage": 16.67, "elapsed_time": "0:00:32", "remaining_time": "0:02:40", "throughput": 1234.57, "total_tokens": 40960}',
    '{"current_steps": 20, "total_steps": 60, "loss": 1.5402, "lr": 4.3e-05, "epoch": 0.67, "percentage": 33.33, "elapsed_time": "0:01:03", "remaining_time": "0:02:06", "throughput": 1240.1, "total_tokens": 81920}',
    '{"current_steps": 30, "total_steps": 60, "loss": 1.4011, "lr": 3.5e-05, "epoch": 1.0, "percentage": 50.0, "elapsed_time": "0:01:35", "remaining_time": "0:01:35", "throughput": 1238.0, "total_tokens": 122880}',
    '{"current_steps": 30, "total_steps": 60, "eval_loss": 1.4523, "epoch": 1.0, "percentage": 50.0, "elapsed_time": "0:01:41", "remaining_time": "0:01:41"}',
    '{"current_steps": 40, "total_steps": 60, "loss": NaN, "lr": 2.5e-05, "epoch": 1.33, "percentage": 66.67, "elapsed_time": "0:02:07", "remaining_time": "0:01:03"}',
    '{"current_steps": 60, "total_steps": 60, "loss": 1.2001, "lr": 0.0, "epoch": 2.0, "percentage": 100.0, "elapsed_time": "0:03:10", "remaining_time": "0:00:00"}',
    '{"current_steps": 60, "total_steps": 60, "eval_loss": 1.3999, "epoch": 2.0, "percentage": 100.0, "elapsed_time": "0:03:16", "remaining_time": "0:00:00"}',
    '{"current_steps": 60, "total_steps": 60, "epoch": 2.0, "percentage": 100.0, "elapsed_time": "0:03:16", "remaining_time": "0:00:00"}',
    '{"current_steps": 5, "total_steps": 25, "percentage": 20.0, "elapsed_time": "0:00:04", "remaining_time": "0:00:16"}',
    '',
  ].join('\n');

  test('points by current_steps, eval merged, NaN kept, progress lines skipped', () => {
    const { curve, warnings } = curveFromTrainerLog(LOG, 'trainer_log.jsonl');
    expect(warnings).toEqual([]);
    expect(curve!.source).toBe('trainer_log');
    expect(curve!.bestModelCheckpoint).toBeNull();
    expect(curve!.globalStep).toBeNull();
    expect(curve!.points).toEqual([
      { step: 10, epoch: 0.33, trainingLoss: 1.8123, validationLoss: null, learningRate: 4.9e-5 },
      { step: 20, epoch: 0.67, trainingLoss: 1.5402, validationLoss: null, learningRate: 4.3e-5 },
      { step: 30, epoch: 1, trainingLoss: 1.4011, validationLoss: 1.4523, learningRate: 3.5e-5 },
      { step: 40, epoch: 1.33, trainingLoss: Number.NaN, validationLoss: null, learningRate: 2.5e-5 },
      { step: 60, epoch: 2, trainingLoss: 1.2001, validationLoss: 1.3999, learningRate: 0 },
    ]);
    expect(Number.isNaN(curve!.points[3]!.trainingLoss)).toBe(true);
  });

  test('CRLF line ends and a resumed run appending its steps again (the later line wins)', () => {
    const resumed = `${LOG.trim()}\n{"current_steps": 20, "total_steps": 60, "loss": 1.5, "lr": 4.3e-05, "epoch": 0.67, "percentage": 33.33}\n`;
    const { curve } = curveFromTrainerLog(resumed.replaceAll('\n', '\r\n'), 'trainer_log.jsonl');
    expect(curve!.points.find((p) => p.step === 20)!.trainingLoss).toBe(1.5);
    expect(curve!.points.map((p) => p.step)).toEqual([10, 20, 30, 40, 60]);
  });

  test('bad lines skipped and counted; strings for numbers dropped; a missing step skipped', () => {
    const text = [
      '{"current_steps": 10, "total_steps": 30, "loss": 2.0, "lr": 1e-05, "epoch": 0.5}',
      'Traceback (most recent call last):',
      '[1, 2, 3]',
      '{"current_steps": 20, "total_steps": 30, "loss": "1.9", "lr": 1e-05, "epoch": 1.0}',
      '{"current_steps": 30, "total_steps": 30, "loss": 1.8, "lr": 1e-05, "epoch": 1.5',
      '{"total_steps": 30, "loss": 1.7}',
    ].join('\n');
    const { curve, warnings } = curveFromTrainerLog(text, 'trainer_log.jsonl');
    expect(curve!.points).toEqual([
      { step: 10, epoch: 0.5, trainingLoss: 2, validationLoss: null, learningRate: 1e-5 },
      { step: 20, epoch: 1, trainingLoss: null, validationLoss: null, learningRate: 1e-5 },
    ]);
    expect(warnings).toEqual([
      { code: 'bad_json', path: 'trainer_log.jsonl', message: '3 lines are not JSON objects, skipped: line 2, line 3, line 5.' },
      { code: 'bad_step', path: 'trainer_log.jsonl', message: '1 line without a whole step number ≥ 0 skipped (key `current_steps`): line 6.' },
      { code: 'bad_value', path: 'trainer_log.jsonl', message: '1 value is not a number, dropped: line 4 loss.' },
    ]);
  });

  test('nothing but progress lines, or nothing at all: no curve and no warning; only garbage: no curve, bad_json', () => {
    expect(curveFromTrainerLog(LOG.split('\n').slice(8).join('\n'), 'trainer_log.jsonl')).toEqual({ curve: null, warnings: [] });
    expect(curveFromTrainerLog('', 'trainer_log.jsonl')).toEqual({ curve: null, warnings: [] });
    const garbage = curveFromTrainerLog('\u0000\u0001binary\nmore', 'trainer_log.jsonl');
    expect(garbage.curve).toBeNull();
    expect(garbage.warnings.map((w) => w.code)).toEqual(['bad_json']);
  });
});

describe('curveFromTorchtuneLog', () => {
  // DiskLogger(output_fmt="jsonl").log_dict: json.dump({"step": step} | payload) a line; the lora recipe's payload
  // is loss, lr, tokens_per_second_per_gpu, peak_memory_* (get_memory_stats), grad_norm; validate() logs val_loss
  // at the same step on its own line.
  const JSONL = [
    '{"step": 1, "loss": 1.9532, "lr": 3e-06, "tokens_per_second_per_gpu": 1523.4, "peak_memory_active": 10.21, "peak_memory_alloc": 10.21, "peak_memory_reserved": 12.5, "grad_norm": 0.8125}',
    '{"step": 2, "loss": 1.8801, "lr": 6e-06, "tokens_per_second_per_gpu": 1530.1, "peak_memory_active": 10.21, "peak_memory_alloc": 10.21, "peak_memory_reserved": 12.5, "grad_norm": NaN}',
    '{"step": 2, "val_loss": 1.7123}',
    '{"step": 3, "loss": 1.85, "lr": 9e-06, "tokens_per_second_per_gpu": 1529.9}',
    '{"step": 3, "tokens_per_second": 1600.0}',
  ].join('\n');

  test('jsonl: one point a step, val_loss merged, no epoch', () => {
    const { curve, warnings } = curveFromTorchtuneLog(JSONL, 'logs/log_1732700000.jsonl');
    expect(warnings).toEqual([]);
    expect(curve!.source).toBe('torchtune_log');
    expect(curve!.points).toEqual([
      { step: 1, epoch: null, trainingLoss: 1.9532, validationLoss: null, learningRate: 3e-6 },
      { step: 2, epoch: null, trainingLoss: 1.8801, validationLoss: 1.7123, learningRate: 6e-6 },
      { step: 3, epoch: null, trainingLoss: 1.85, validationLoss: null, learningRate: 9e-6 },
    ]);
  });

  // DiskLogger(output_fmt="txt"): `Step N | ` then `name:value ` per payload item (Python str(): grad_norm and
  // tokens_per_second_per_gpu are tensors in the recipes, so their text holds blanks and colons).
  const TXT = [
    "Step 1 | loss:1.9532 lr:3e-06 tokens_per_second_per_gpu:tensor(1523.4062, device='cuda:0') peak_memory_active:10.21 peak_memory_alloc:10.21 peak_memory_reserved:12.5 grad_norm:tensor(0.8125, device='cuda:0') ",
    "Step 2 | loss:nan lr:6e-06 tokens_per_second_per_gpu:tensor(1530.1, device='cuda:0') ",
    'Step 2 | val_loss:1.7123',
    'Step 3 | loss:1.85 lr:tensor(9e-06) ',
    'Step 4 | loss:inf lr:1.2e-05 ',
    '',
  ].join('\n');

  test('txt: parsed when every line is a Step line; tensor text ignored unless it is a value we need', () => {
    const { curve, warnings } = curveFromTorchtuneLog(TXT, 'logs/log_1732700000.txt');
    expect(curve!.points).toEqual([
      { step: 1, epoch: null, trainingLoss: 1.9532, validationLoss: null, learningRate: 3e-6 },
      { step: 2, epoch: null, trainingLoss: Number.NaN, validationLoss: 1.7123, learningRate: 6e-6 },
      { step: 3, epoch: null, trainingLoss: 1.85, validationLoss: null, learningRate: null },
      { step: 4, epoch: null, trainingLoss: Number.POSITIVE_INFINITY, validationLoss: null, learningRate: 1.2e-5 },
    ]);
    expect(warnings).toEqual([{ code: 'bad_value', path: 'logs/log_1732700000.txt', message: '1 value is not a number, dropped: line 4 lr.' }]);
  });

  test('txt with any other line is not used', () => {
    const { curve, warnings } = curveFromTorchtuneLog(
      `INFO:torchtune.utils._logging:Running LoRAFinetuneRecipeSingleDevice\n${TXT}`,
      'logs/log_1.txt',
    );
    expect(curve).toBeNull();
    expect(warnings).toEqual([
      { code: 'bad_shape', path: 'logs/log_1.txt', message: expect.stringContaining('line 1 is not `Step N | name:value …`') },
    ]);
  });

  test('no extension: told apart by the first character', () => {
    expect(curveFromTorchtuneLog(JSONL, 'logs/metrics').curve!.points).toHaveLength(3);
    expect(curveFromTorchtuneLog(TXT, 'logs/metrics').curve!.points).toHaveLength(4);
  });

  test('jsonl with strings for numbers (DiskLogger falls back to str() for what json cannot write)', () => {
    const text = '{"step": 1, "loss": "tensor([1.95])", "lr": 3e-06}\n{"step": 2, "loss": 1.9, "lr": "0.1"}\n';
    const { curve, warnings } = curveFromTorchtuneLog(text, 'logs/log_1.jsonl');
    expect(curve!.points).toEqual([
      { step: 1, epoch: null, trainingLoss: null, validationLoss: null, learningRate: 3e-6 },
      { step: 2, epoch: null, trainingLoss: 1.9, validationLoss: null, learningRate: null },
    ]);
    expect(warnings).toEqual([
      { code: 'bad_value', path: 'logs/log_1.jsonl', message: '2 values are not numbers, dropped: line 1 loss, line 2 lr.' },
    ]);
  });
});
