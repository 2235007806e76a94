import { describe, expect, test } from 'bun:test';
import { skipFolders, trainerBestOf, trainerBestView } from '../../server/outputs/output-report.ts';
import { readPrefix, readTrainerOutput, trainerFilesOf } from '../../server/outputs/trainer-files.ts';
import type { OutputCurve } from '../../server/outputs/types.ts';

const listing = (...paths: string[]) => paths.map((path) => ({ path, size: 100 }));
const picked = (...paths: string[]) => trainerFilesOf(listing(...paths)).map((f) => [f.path, f.role]);

describe('trainerFilesOf: which files say how the run went', () => {
  test('the root trainer_state.json wins over the checkpoints', () => {
    expect(picked('trainer_state.json', 'checkpoint-500/trainer_state.json', 'adapter_model.safetensors')).toEqual([
      ['trainer_state.json', 'trainer_state'],
    ]);
  });

  test("without a root copy (TRL, axolotl), the highest checkpoint's, by number not by name", () => {
    expect(
      picked(
        'checkpoint-500/trainer_state.json',
        'checkpoint-1000/trainer_state.json',
        'checkpoint-999/trainer_state.json',
        'checkpoint-1000/x/trainer_state.json',
      ),
    ).toEqual([['checkpoint-1000/trainer_state.json', 'trainer_state']]);
    expect(picked('checkpoint-500/trainer_state.json', 'last-checkpoint/trainer_state.json')).toEqual([
      ['last-checkpoint/trainer_state.json', 'trainer_state'],
    ]);
  });

  test("LLaMA-Factory's trainer_log.jsonl, then torchtune's newest log, JSONL before text", () => {
    expect(picked('trainer_log.jsonl', 'logs/log_1700000000.txt')).toEqual([['trainer_log.jsonl', 'trainer_log']]);
    // A log of the whole run before a checkpoint's state, which ends at that checkpoint.
    expect(picked('checkpoint-360/trainer_state.json', 'trainer_log.jsonl')).toEqual([['trainer_log.jsonl', 'trainer_log']]);
    expect(picked('logs/log_1700000000.txt', 'logs/log_1700000500.txt', 'epoch_0/adapter_model.safetensors')).toEqual([
      ['logs/log_1700000500.txt', 'torchtune_log'],
    ]);
    expect(picked('logs/log_1700000500.txt', 'logs/log_1700000000.jsonl')).toEqual([['logs/log_1700000000.jsonl', 'torchtune_log']]);
  });

  test('evaluations: the split files, else all_results.json; lm-evaluation-harness; predictions; none inside checkpoints', () => {
    expect(
      picked(
        'all_results.json',
        'eval_results.json',
        'predict_results.json',
        'train_results.json',
        'generated_predictions.jsonl',
        'lm-eval/Qwen__Qwen2.5-0.5B/results_2026-11-27T10-00-00.000000.json',
        'checkpoint-500/eval_results.json',
      ),
    ).toEqual([
      ['eval_results.json', 'eval'],
      ['predict_results.json', 'eval'],
      ['generated_predictions.jsonl', 'predictions'],
      ['lm-eval/Qwen__Qwen2.5-0.5B/results_2026-11-27T10-00-00.000000.json', 'eval'],
    ]);
    expect(picked('all_results.json', 'train_results.json')).toEqual([['all_results.json', 'eval']]);
  });

  test('an output with no trainer files has none to read', () => {
    expect(picked('adapter_model.safetensors', 'adapter_config.json', 'README.md')).toEqual([]);
  });
});

describe('readPrefix', () => {
  const stream = (...chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const x of chunks) c.enqueue(new TextEncoder().encode(x));
        c.close();
      },
    });
  test('reads all of a small file, and at most the limit of a large one', async () => {
    const all = await readPrefix(stream('abc', 'def'), 10);
    expect([new TextDecoder().decode(all.bytes), all.truncated]).toEqual(['abcdef', false]);
    const cut = await readPrefix(stream('abc', 'def', 'ghi'), 5);
    expect([new TextDecoder().decode(cut.bytes), cut.truncated]).toEqual(['abcde', true]);
  });
});

describe('readTrainerOutput', () => {
  const state = JSON.stringify({
    log_history: [
      { loss: 2.5, step: 10 },
      { loss: 2.0, step: 20 },
      { eval_loss: 2.1, step: 20 },
    ],
    global_step: 20,
  });
  const open = async () => new Blob([state]).stream();
  const files = [{ path: 'trainer_state.json', size: state.length }];

  test('parses on a worker and hands the points back as columns; keeps what it read whole for the copy', async () => {
    const kept = new Map<string, Uint8Array>();
    const out = await readTrainerOutput(open, files, { keep: (path, bytes) => kept.set(path, bytes) });
    expect(out.warnings).toEqual([]);
    expect(Array.from(out.curve!.points.step)).toEqual([10, 20]);
    expect(Array.from(out.curve!.points.validationLoss)).toEqual([0, 2.1]);
    expect(Array.from(out.curve!.points.present)).toEqual([2, 6]);
    expect(new TextDecoder().decode(kept.get('trainer_state.json'))).toBe(state);
  });

  test('a file past the deadline is a warning, not a failure', async () => {
    const out = await readTrainerOutput(open, files, { timeoutMs: 1 });
    expect(out.curve).toBeNull();
    expect(out.warnings.map((w) => [w.code, w.path])).toEqual([['unreadable', 'trainer_state.json']]);
  });

  test('a file over 32 MiB is not read at all', async () => {
    let opened = 0;
    const out = await readTrainerOutput(async () => {
      opened++;
      return new Blob([]).stream();
    }, [{ path: 'trainer_state.json', size: 33 * 1024 * 1024 }]);
    expect([opened, out.warnings.map((w) => w.code)]).toEqual([0, ['too_large']]);
  });
});

describe('skipFolders', () => {
  const files = [
    'adapter_model.safetensors',
    '.git/HEAD',
    '.git/config',
    'wandb/run-1/files/output.log',
    'tmp-checkpoint-30/adapter_model.safetensors',
  ].map((path, i) => ({ path, source: { size: 10 * (i + 1) } }));
  test('copies the rest and lists each rule with its files, bytes and a few paths', () => {
    const { copied, skipped } = skipFolders(files, false);
    expect(copied.map((f) => f.path)).toEqual(['adapter_model.safetensors']);
    expect(skipped).toEqual([
      { rule: '.git/', files: 2, bytes: 50, examples: ['.git/HEAD', '.git/config'] },
      { rule: 'wandb/', files: 1, bytes: 40, examples: ['wandb/run-1/files/output.log'] },
      { rule: 'tmp-checkpoint-*/', files: 1, bytes: 50, examples: ['tmp-checkpoint-30/adapter_model.safetensors'] },
    ]);
  });
  test('a workspace that includes them copies everything', () => {
    expect(skipFolders(files, true)).toEqual({ copied: files, skipped: [] });
  });
});

describe("the trainer's best checkpoint", () => {
  const curve = (best: string | null): OutputCurve => ({
    source: 'trainer_state',
    path: 'trainer_state.json',
    points: [],
    bestModelCheckpoint: best,
    globalStep: 300,
  });
  const files = listing('checkpoint-100/adapter_model.safetensors', 'checkpoint-200/adapter_model.safetensors', 'run-1/checkpoint-300/x');

  test('is matched by basename (the path is from the training machine), or found rotated away', () => {
    expect(trainerBestOf(curve('checkpoint-200'), files)).toEqual({ name: 'checkpoint-200', checkpoint: 'checkpoint-200' });
    expect(trainerBestOf(curve('checkpoint-300'), files)).toEqual({ name: 'checkpoint-300', checkpoint: 'run-1/checkpoint-300' });
    expect(trainerBestOf(curve('checkpoint-50'), files)).toEqual({ name: 'checkpoint-50', checkpoint: null });
    expect(trainerBestOf(curve(null), files)).toBeNull();
    expect(trainerBestOf(null, files)).toBeNull();
  });

  test('beside our ranking: agreement, disagreement said in a sentence, rotated away', () => {
    expect(trainerBestView({ name: 'checkpoint-200', checkpoint: 'checkpoint-200' }, { name: 'checkpoint-200' })).toEqual({
      name: 'checkpoint-200',
      checkpoint: 'checkpoint-200',
      agrees: true,
      note: null,
    });
    const differs = trainerBestView({ name: 'checkpoint-200', checkpoint: 'checkpoint-200' }, { name: 'checkpoint-100' });
    expect(differs?.agrees).toBe(false);
    expect(differs?.note).toContain('checkpoint-100 is best');
    expect(trainerBestView({ name: 'checkpoint-50', checkpoint: null }, { name: 'checkpoint-100' })?.note).toContain('not in the output');
    expect(trainerBestView({ name: 'checkpoint-200', checkpoint: 'checkpoint-200' }, null)).toMatchObject({ agrees: null, note: null });
    expect(trainerBestView(null, { name: 'checkpoint-100' })).toBeNull();
  });
});
