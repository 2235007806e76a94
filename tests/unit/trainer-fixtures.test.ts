import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileRangeReader, readSafetensorsHeader, type SafetensorsInfo } from '../../server/ingest/inspect/safetensors.ts';
import { parsePythonJson } from '../../server/outputs/python-json.ts';
import { sha256File } from '../fixtures/lora.ts';
import { f, pyDumps, pyFloatRepr, pyStr } from '../fixtures/py-format.ts';
import type { TrainerExpect } from '../fixtures/trainer-output.ts';
import { TRAINER_KINDS, type TrainerFixture, type TrainerKind, writeTrainerOutput } from '../fixtures/trainers.ts';

let root: string;
const fixtures = new Map<TrainerKind, { dir: string; fixture: TrainerFixture }>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'trainer-fixtures-'));
  for (const kind of TRAINER_KINDS) {
    const dir = join(root, kind);
    fixtures.set(kind, { dir, fixture: await writeTrainerOutput(dir, kind) });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const get = (kind: TrainerKind) => fixtures.get(kind)!;
const text = (kind: TrainerKind, path: string) => Bun.file(join(get(kind).dir, path)).text();
const json = async (kind: TrainerKind, path: string) => parsePythonJson(await text(kind, path)) as Record<string, unknown>;
const header = (kind: TrainerKind, path: string): Promise<SafetensorsInfo> => {
  const full = join(get(kind).dir, path);
  return readSafetensorsHeader(fileRangeReader(full), Bun.file(full).size, path);
};
const numeric = (name: string) => Number(/(\d+)/.exec(name.split('/').at(-1)!)![1]);

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** The rule: summary if train_runtime, else eval if any key starts with eval_, else train if it has loss. */
function classify(entry: Record<string, unknown>): 'summary' | 'eval' | 'train' | 'other' {
  if ('train_runtime' in entry) return 'summary';
  if (Object.keys(entry).some((k) => k.startsWith('eval_'))) return 'eval';
  return 'loss' in entry ? 'train' : 'other';
}

const SKIP = /^(\.git|runs|wandb|unsloth_compiled_cache|_unsloth_temporary_saved_buffers|tmp-checkpoint-\d+)\//;

describe.each(TRAINER_KINDS.map((k) => [k]))('%s fixture', (kind) => {
  test('lists exactly the files on disk, sorted, with their sizes and SHA-256, under 10 MB in all', async () => {
    const { dir, fixture } = get(kind);
    const paths = fixture.files.map((file) => file.path);
    expect(paths).toEqual([...paths].sort());
    expect([...(await walk(dir))].sort()).toEqual(paths);
    for (const file of fixture.files) {
      expect(Bun.file(join(dir, file.path)).size).toBe(file.size);
      expect(await sha256File(join(dir, file.path))).toBe(file.sha256);
    }
    expect(fixture.files.reduce((sum, file) => sum + file.size, 0)).toBeLessThan(10 * 1024 * 1024);
  });

  test('every JSON file parses (Python NaN included) and every JSONL line does', async () => {
    for (const file of get(kind).fixture.files) {
      if (file.path.endsWith('.json')) expect(typeof (await json(kind, file.path))).toBe('object');
      if (file.path.endsWith('.jsonl')) {
        const lines = (await text(kind, file.path)).split('\n');
        expect(lines.pop()).toBe('');
        for (const line of lines) expect(typeof parsePythonJson(line)).toBe('object');
      }
    }
  });

  test('every safetensors header parses, within its file', async () => {
    const tensors = get(kind).fixture.files.filter((file) => file.path.endsWith('.safetensors') && !SKIP.test(file.path));
    expect(tensors.length).toBeGreaterThan(0);
    for (const file of tensors) expect((await header(kind, file.path)).tensorCount).toBeGreaterThan(0);
  });

  test('the main adapter and each checkpoint adapter fit Qwen2.5-0.5B: layers < 24, right shapes, rank 8', async () => {
    const { expect: want } = get(kind).fixture;
    const adapters = [want.mainAdapter];
    for (const name of want.checkpoints) adapters.push(name.endsWith('.safetensors') ? name : `${name}/adapter_model.safetensors`);
    for (const path of adapters) {
      const info = await header(kind, path);
      const mlx = want.adapterFormat === 'mlx';
      const pattern = mlx
        ? /^model\.layers\.(\d+)\.self_attn\.(q_proj|v_proj)\.lora_(a|b)$/
        : /^base_model\.model\.model\.layers\.(\d+)\.self_attn\.(q_proj|v_proj)\.lora_(A|B)\.weight$/;
      const layers = new Set<number>();
      for (const t of info.tensors) {
        const m = pattern.exec(t.name);
        expect(m, t.name).not.toBeNull();
        const [, layer, module, which] = m!;
        layers.add(Number(layer));
        const out = module === 'q_proj' ? 896 : 128;
        const shape = mlx ? (which === 'a' ? [896, want.rank] : [want.rank, out]) : which === 'A' ? [want.rank, 896] : [out, want.rank];
        expect(t.shape).toEqual(shape);
      }
      const expected = mlx ? Array.from({ length: 16 }, (_, i) => i + 8) : Array.from({ length: 24 }, (_, i) => i);
      expect([...layers].sort((a, b) => a - b)).toEqual(expected);
      expect(info.tensorCount).toBe(expected.length * 4);
      if (mlx) {
        expect(info.metadata).toBeNull(); // mlx writes "__metadata__":null
        expect(info.dtypes).toEqual(['F32']);
      } else expect(info.metadata).toEqual({ format: 'pt' });
    }
  });

  test('its curve file holds the expected points, in the trainer’s own format', async () => {
    const want = get(kind).fixture.expect;
    if (want.curvePath === null) {
      expect(want.curveSource).toBeNull();
      expect(get(kind).fixture.files.some((file) => /trainer_state\.json$|trainer_log\.jsonl$|\/log_\d+\.(txt|jsonl)$/.test(file.path))).toBe(false);
      return;
    }
    const raw = await text(kind, want.curvePath);
    if (want.curveSource === 'torchtune_log') {
      const lines = raw.split('\n').filter(Boolean);
      const steps = lines.map((line) => /^Step (\d+) \| (?:[a-z_]+:\S+ )+$/.exec(line));
      expect(steps.every((m) => m !== null)).toBe(true);
      expect(lines.length).toBe(want.trainingPoints);
      expect(Number(/loss:(\S+)/.exec(lines.at(-1)!)![1])).toBe(want.finalTrainingLoss!);
      return;
    }
    expect(want.curveSource).toBe('trainer_state');
    const state = parsePythonJson(raw) as { log_history: Record<string, unknown>[]; best_model_checkpoint: string | null; global_step: number };
    const kinds = state.log_history.map(classify);
    const train = state.log_history.filter((_, i) => kinds[i] === 'train');
    const evals = state.log_history.filter((_, i) => kinds[i] === 'eval');
    expect(kinds).not.toContain('other');
    expect(new Set(train.map((e) => e.step)).size).toBe(want.trainingPoints);
    expect(new Set(evals.map((e) => e.step)).size).toBe(want.validationPoints);
    expect(train.at(-1)!.loss).toBe(want.finalTrainingLoss!);
    expect(evals.at(-1)?.eval_loss ?? null).toBe(want.finalValidationLoss);
    expect(state.best_model_checkpoint?.split('/').at(-1) ?? null).toBe(want.bestModelCheckpoint);
    expect(state.global_step).toBe(Math.max(...want.checkpoints.map(numeric)));
    // Python's json.dumps(indent=2, sort_keys=True) + "\n": a layout JSON.stringify does not reproduce.
    expect(raw.endsWith('}\n')).toBe(true);
    expect(raw).toMatch(/\n {2}"global_step": \d+,\n(.|\n)*\n {2}"log_history": \[\n {4}\{\n {6}"[a-z_]+": /);
  });

  test('checkpoints exist and are sorted by step numerically', async () => {
    const { fixture } = get(kind);
    const want = fixture.expect;
    expect(want.checkpoints.length).toBeGreaterThan(0);
    expect(want.checkpoints.map(numeric)).toEqual(want.checkpoints.map(numeric).sort((a, b) => a - b));
    for (const name of want.checkpoints) {
      expect(fixture.files.some((file) => file.path === name || file.path.startsWith(`${name}/`))).toBe(true);
    }
  });

  test('skipped paths lie under the skipped folders, and every file there is listed', () => {
    const { fixture } = get(kind);
    for (const path of fixture.expect.skipped) expect(SKIP.test(path), path).toBe(true);
    expect(fixture.expect.skipped).toEqual(fixture.files.map((file) => file.path).filter((path) => SKIP.test(path)));
  });

  test('pickles: exactly the stored files, safetensors aside, that start with a zip or a pickle opcode', async () => {
    const { dir, fixture } = get(kind);
    const found: string[] = [];
    for (const file of fixture.files) {
      // A safetensors file starts with its header length, whose low byte may well be 0x80.
      if (SKIP.test(file.path) || file.path.endsWith('.safetensors')) continue;
      const head = new Uint8Array(await Bun.file(join(dir, file.path)).slice(0, 4).arrayBuffer());
      const zip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
      if (zip) {
        // torch.save's zip: `<archive>/data.pkl` is its first record.
        expect(new TextDecoder().decode((await Bun.file(join(dir, file.path)).slice(30, 80).arrayBuffer()) as ArrayBuffer)).toMatch(
          /^[a-z_]+\/data\.pkl/,
        );
        found.push(file.path);
      } else if (head[0] === 0x80) found.push(file.path);
    }
    expect(fixture.expect.pickles).toEqual(found);
  });

  test('eval files carry the expected values; predictions count their lines and exact matches', async () => {
    const want = get(kind).fixture.expect;
    for (const set of want.evals) {
      const values = await json(kind, set.path);
      for (const [name, value] of Object.entries(set.metrics)) expect(values[name]).toBe(value);
    }
    if (want.predictions !== null) {
      const rows = (await text(kind, want.predictions.path))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { prompt: string; predict: string; label: string });
      expect(rows.length).toBe(want.predictions.lines);
      expect(rows.filter((r) => r.predict === r.label).length).toBe(want.predictions.exactMatches);
      expect(want.predictions.exactMatches).toBeGreaterThan(0);
      expect(want.predictions.exactMatches).toBeLessThan(rows.length);
    }
  });

  test('deterministic: the same seed gives the same bytes, another seed other weights', async () => {
    const again = await writeTrainerOutput(join(root, `${kind}-again`), kind);
    expect(again).toEqual(get(kind).fixture);
    const other = await writeTrainerOutput(join(root, `${kind}-seed-2`), kind, { seed: 2 });
    const hash = (fx: TrainerFixture, path: string) => fx.files.find((file) => file.path === path)!.sha256;
    expect(hash(other, get(kind).fixture.expect.mainAdapter)).not.toBe(hash(get(kind).fixture, get(kind).fixture.expect.mainAdapter));
  });
});

describe('layouts particular to each trainer', () => {
  const want = (kind: TrainerKind): TrainerExpect => get(kind).fixture.expect;
  const paths = (kind: TrainerKind) => get(kind).fixture.files.map((file) => file.path);

  test('hf: checkpoint names sort differently by name and by number; best is an absolute path from the training machine', async () => {
    expect(want('hf').checkpoints).toEqual(['checkpoint-500', 'checkpoint-1000', 'checkpoint-1500']);
    expect([...want('hf').checkpoints].sort()).not.toEqual(want('hf').checkpoints);
    const state = await json('hf', 'trainer_state.json');
    expect(state.best_model_checkpoint).toBe('/workspace/outputs/qwen-lora/checkpoint-1000');
    // load_best_model_at_end: the root adapter is checkpoint-1000's.
    const hash = (path: string) => get('hf').fixture.files.find((file) => file.path === path)!.sha256;
    expect(hash('adapter_model.safetensors')).toBe(hash('checkpoint-1000/adapter_model.safetensors'));
    // A bare NaN grad_norm, which JSON.parse refuses and the tolerant reader keeps.
    const raw = await text('hf', 'trainer_state.json');
    expect(raw).toContain('"grad_norm": NaN,');
    expect(() => JSON.parse(raw)).toThrow();
    const history = state.log_history as Record<string, unknown>[];
    expect(history.filter((e) => Number.isNaN(e.grad_norm)).length).toBe(1);
    expect(classify(history.at(-1)!)).toBe('summary');
    // Each checkpoint's log_history stops at its step.
    const mid = await json('hf', 'checkpoint-1000/trainer_state.json');
    expect(Math.max(...(mid.log_history as { step: number }[]).map((e) => e.step))).toBe(1000);
    for (const prefix of ['.git/', 'runs/', 'wandb/', 'tmp-checkpoint-1500/'])
      expect(want('hf').skipped.some((p) => p.startsWith(prefix))).toBe(true);
    const events = new Uint8Array(await Bun.file(join(get('hf').dir, want('hf').skipped.find((p) => p.startsWith('runs/'))!)).arrayBuffer());
    expect(new TextDecoder().decode(events.subarray(12, 40))).toContain('brain.Event:2');
  });

  test('trl: no root trainer_state.json; the highest checkpoint holds the whole curve', async () => {
    expect(paths('trl')).not.toContain('trainer_state.json');
    expect(want('trl').curvePath).toBe('checkpoint-1236/trainer_state.json');
    expect([...want('trl').checkpoints].sort()).not.toEqual(want('trl').checkpoints);
    const first = await json('trl', 'checkpoint-500/trainer_state.json');
    const last = await json('trl', 'checkpoint-1236/trainer_state.json');
    expect((last.log_history as unknown[]).length).toBeGreaterThan((first.log_history as unknown[]).length);
    expect(want('trl').skipped.some((p) => p.startsWith('unsloth_compiled_cache/'))).toBe(true);
    expect(want('trl').skipped.some((p) => p.startsWith('_unsloth_temporary_saved_buffers/'))).toBe(true);
  });

  test('mlx: adapter_config.json is the CLI config; alpha = scale · rank; zero-padded checkpoint files', async () => {
    const config = await json('mlx', 'adapter_config.json');
    expect(config.fine_tune_type).toBe('lora');
    expect(config.num_layers).toBe(16);
    expect(config.lora_parameters).toEqual({ keys: ['self_attn.q_proj', 'self_attn.v_proj'], rank: 8, scale: 20, dropout: 0 });
    // save_config sorts only the top level (utils.py: dict(sorted(config.items())), then json.dump(indent=4)).
    expect(Object.keys(config)).toEqual(Object.keys(config).sort());
    expect(Object.keys(config.lora_parameters as object)).toEqual(['keys', 'rank', 'scale', 'dropout']);
    expect(want('mlx').alpha).toBe(160);
    expect(want('mlx').checkpoints.every((name) => /^\d{7}_adapters\.safetensors$/.test(name))).toBe(true);
    // The last save and the final file are the same weights, as mlx-lm writes them.
    const hash = (path: string) => get('mlx').fixture.files.find((file) => file.path === path)!.sha256;
    expect(hash('adapters.safetensors')).toBe(hash('0001000_adapters.safetensors'));
    // mlx's header: compact, sorted, unpadded.
    const bytes = new Uint8Array(
      await Bun.file(join(get('mlx').dir, 'adapters.safetensors'))
        .slice(0, 100)
        .arrayBuffer(),
    );
    expect(new TextDecoder().decode(bytes.subarray(8, 30))).toBe('{"__metadata__":null,"');
  });

  test('torchtune: epoch_0 holds merged shards with an index, the adapter twice (pickle and PEFT) and the base files', async () => {
    const t = want('torchtune');
    const index = (await json('torchtune', 'epoch_0/model.safetensors.index.json')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    let total = 0;
    for (const shard of t.mergedModel.filter((p) => p.endsWith('.safetensors'))) {
      const info = await header('torchtune', shard);
      expect(Bun.file(join(get('torchtune').dir, shard)).size).toBeLessThan(1024 * 1024);
      for (const tensor of info.tensors) {
        expect(`epoch_0/${index.weight_map[tensor.name]}`).toBe(shard);
        total += tensor.end - tensor.begin;
      }
    }
    expect(Object.keys(index.weight_map).length).toBe(1 + 24 * 12 + 1);
    expect(index.metadata.total_size).toBe(total);
    expect(await json('torchtune', 'epoch_0/adapter_config.json')).toEqual({
      r: 8,
      lora_alpha: 16,
      target_modules: ['q_proj', 'v_proj'],
      peft_type: 'LORA',
      base_model_name_or_path: 'Qwen/Qwen2.5-0.5B',
    });
    for (const name of ['config.json', 'generation_config.json', 'LICENSE', 'README.md', 'original_repo_id.json', 'tokenizer.json']) {
      expect(paths('torchtune')).toContain(`epoch_0/${name}`);
    }
    expect(paths('torchtune')).not.toContain('epoch_0/recipe_state.pt'); // only intermediate epochs get one
    expect((await json('torchtune', 'epoch_0/config.json')).num_hidden_layers).toBe(24);
  });

  test('llamafactory: trainer_log.jsonl mirrors log_history; PNG plots; predict metrics in percent', async () => {
    const state = await json('llamafactory', 'trainer_state.json');
    const log = (await text('llamafactory', 'trainer_log.jsonl'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(log.length).toBe((state.log_history as unknown[]).length);
    expect(log.filter((l) => 'loss' in l).length).toBe(want('llamafactory').trainingPoints);
    expect(log.filter((l) => 'eval_loss' in l).length).toBe(want('llamafactory').validationPoints);
    expect(Object.keys(log[0]!)).toEqual(['current_steps', 'total_steps', 'loss', 'lr', 'epoch', 'percentage', 'elapsed_time', 'remaining_time']);
    for (const png of ['training_loss.png', 'training_eval_loss.png']) {
      const head = new Uint8Array(
        await Bun.file(join(get('llamafactory').dir, png))
          .slice(0, 24)
          .arrayBuffer(),
      );
      expect([...head.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const view = new DataView(head.buffer);
      expect([view.getUint32(16), view.getUint32(20)]).toEqual([640, 480]);
    }
    const predict = await json('llamafactory', 'predict_results.json');
    expect(predict['predict_bleu-4']).toBeGreaterThan(1); // percent, not a fraction
  });
});

describe('Python text formats (facts checked with CPython 3.11)', () => {
  test.each([
    [2e-5, '2e-05'],
    [1e-4, '0.0001'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    [2.42981480448e16, '2.42981480448e+16'],
    [0.1 + 0.2, '0.30000000000000004'],
    [-0.5, '-0.5'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [123456789012345680000, '1.2345678901234568e+20'],
    [Number.NaN, 'NaN'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ])('repr(%p) is %s', (x, repr) => {
    expect(pyFloatRepr(x)).toBe(repr);
  });

  test('json.dumps: ints stay ints, floats keep .0, indent/sort_keys/ensure_ascii as Python writes them', () => {
    expect(pyStr(3)).toBe('3');
    expect(pyStr(f(3))).toBe('3.0');
    expect(pyDumps({ b: [f(1), 2e-5, Number.NaN], a: {}, c: 'é"' }, { indent: 2, sortKeys: true })).toBe(
      '{\n  "a": {},\n  "b": [\n    1.0,\n    2e-05,\n    NaN\n  ],\n  "c": "\\u00e9\\""\n}',
    );
    expect(pyDumps({ x: [1, 2], y: 'ü', z: [] }, { ensureAscii: false })).toBe('{"x": [1, 2], "y": "ü", "z": []}');
  });
});
