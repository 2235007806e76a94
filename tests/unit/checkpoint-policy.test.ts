// Which checkpoints a retention policy keeps, how files split by it, and the recommendation's sentence.
import { describe, expect, test } from 'bun:test';
import type { FileKind } from '../../server/vocabulary.ts';
import {
  asDelivered,
  type CheckpointScore,
  checkpointsView,
  folderOf,
  type KeepCheckpoints,
  parseKeepCheckpoints,
  planCheckpoints,
  rankByValidationLoss,
  recommend,
  splitByPlan,
} from '../../server/registry/checkpoints.ts';

const cp = (step: number, validationLoss: number | null): CheckpointScore => ({ name: `checkpoint-${step}`, step, validationLoss });

/** Five checkpoints: the best in the middle, the last one worse than the best, one unscored (no validation point before it). */
const RUN = [cp(100, null), cp(200, 0.61), cp(300, 0.412), cp(400, 0.43), cp(500, 0.448)];

describe('planCheckpoints: which checkpoints each policy keeps', () => {
  const cases: [string, readonly CheckpointScore[], KeepCheckpoints, string | null, number[]][] = [
    ['all keeps every checkpoint', RUN, 'all', null, [100, 200, 300, 400, 500]],
    ['best keeps the lowest validation loss', RUN, 'best', null, [300]],
    ['best+final keeps the best and the highest step', RUN, 'best+final', null, [300, 500]],
    ['best+final when the best is the last keeps one', [cp(100, 0.9), cp(200, 0.5)], 'best+final', null, [200]],
    ['N=1 is the best', RUN, 1, null, [300]],
    ['N=2 keeps the two lowest losses', RUN, 2, null, [300, 400]],
    ['N=4 reaches the scored ones only', RUN, 4, null, [200, 300, 400, 500]],
    ['N beyond the count keeps all, unscored last', RUN, 999, null, [100, 200, 300, 400, 500]],
    ['the main checkpoint is always kept', RUN, 'best', 'checkpoint-200', [200, 300]],
    ['a main checkpoint that is not among them changes nothing', RUN, 'best', 'checkpoint-999', [300]],
    ['no checkpoints', [], 'best', null, []],
  ];
  test.each(cases)('%s', (_name, checkpoints, keep, protect, kept) => {
    const plan = planCheckpoints(checkpoints, keep, protect);
    expect(plan.keep).toEqual(kept.map((s) => `checkpoint-${s}`));
    const all = checkpoints.map((c) => c.name);
    // Kept and pruned partition the checkpoints.
    expect([...plan.keep, ...plan.prune.map((p) => p.name)].sort()).toEqual([...all].sort());
    expect(plan.note).toBeNull();
  });

  test('equal losses: the later step ranks first (N=1 keeps it), unscored last, the later of those first', () => {
    const tied = [cp(100, 0.5), cp(200, 0.5), cp(300, null), cp(400, null), cp(50, 0.7)];
    expect(rankByValidationLoss(tied).map((c) => c.step)).toEqual([200, 100, 50, 400, 300]);
    expect(planCheckpoints(tied, 1).keep).toEqual(['checkpoint-200']);
  });

  test('a non-finite loss counts as unscored', () => {
    expect(rankByValidationLoss([cp(100, Number.NaN), cp(200, 0.9)]).map((c) => c.step)).toEqual([200, 100]);
  });

  test('no checkpoint scored: all are kept, and the note says why', () => {
    const plan = planCheckpoints([cp(100, null), cp(200, null)], 'best');
    expect(plan.keep).toEqual(['checkpoint-100', 'checkpoint-200']);
    expect(plan.prune).toEqual([]);
    expect(plan.note).toContain('no validation point');
  });

  test('each pruned checkpoint says why, with the policy, the best and its own loss', () => {
    const plan = planCheckpoints(RUN, 2);
    const reasons = Object.fromEntries(plan.prune.map((p) => [p.name, p.reason]));
    expect(reasons['checkpoint-500']).toBe('keeping the 2 best checkpoints (checkpoint-300: 0.412); this one: validation loss 0.448, 3rd of 5');
    expect(reasons['checkpoint-100']).toBe(
      'keeping the 2 best checkpoints (checkpoint-300: 0.412); this one: no validation loss at or before its step',
    );
    expect(planCheckpoints(RUN, 'best').prune[0]!.reason).toStartWith('keeping the best checkpoint (checkpoint-300: 0.412)');
  });
});

describe('parseKeepCheckpoints', () => {
  const cases: [string, KeepCheckpoints][] = [
    ['all', 'all'],
    ['best', 'best'],
    ['best+final', 'best+final'],
    ['3', 3],
    ['999', 999],
    ['0', 'all'],
    ['1000', 'all'],
    ['2.5', 'all'],
    ['nonsense', 'all'],
  ];
  test.each(cases)('%p → %p', (stored, keep) => expect(parseKeepCheckpoints(stored)).toBe(keep));
});

describe('folderOf and splitByPlan', () => {
  test('a path lies in the innermost folder of those named, and only under a whole segment', () => {
    const names = ['run/checkpoint-5', 'run/checkpoint-5/inner/checkpoint-6', 'checkpoint-1'];
    expect(folderOf('run/checkpoint-5/adapter_model.safetensors', names)).toBe('run/checkpoint-5');
    expect(folderOf('run/checkpoint-5/inner/checkpoint-6/x.bin', names)).toBe('run/checkpoint-5/inner/checkpoint-6');
    // `checkpoint-1` is a string prefix of `checkpoint-10`, not its folder.
    expect(folderOf('checkpoint-10/adapter_model.safetensors', names)).toBeNull();
    expect(folderOf('adapter_model.safetensors', names)).toBeNull();
  });

  test('files of pruned checkpoints go, with their bytes and count per checkpoint; everything else stays in order', () => {
    const files = [
      { path: 'adapter_model.safetensors', size: 1000 },
      { path: 'checkpoint-1/adapter_model.safetensors', size: 10 },
      { path: 'checkpoint-1/trainer_state.json', size: 1 },
      { path: 'checkpoint-10/adapter_model.safetensors', size: 100 },
      { path: 'checkpoint-2/adapter_model.safetensors', size: 20 },
      { path: 'tokenizer.json', size: 5 },
    ];
    const plan = planCheckpoints([cp(1, 0.9), cp(2, 0.8), cp(10, 0.5)], 'best');
    const split = splitByPlan(files, plan, '2025-01-01T00:00:00.000Z');
    expect(split.kept.map((f) => f.path)).toEqual(['adapter_model.safetensors', 'checkpoint-10/adapter_model.safetensors', 'tokenizer.json']);
    expect(split.entries.map(({ reason: _r, ...e }) => e)).toEqual([
      { name: 'checkpoint-1', bytes: 11, files: 2, at: '2025-01-01T00:00:00.000Z' },
      { name: 'checkpoint-2', bytes: 20, files: 1, at: '2025-01-01T00:00:00.000Z' },
    ]);
    expect(split.prunedBytes).toBe(31);
  });

  test('keeping all splits nothing off', () => {
    const files = [{ path: 'checkpoint-1/a', size: 3 }];
    const split = splitByPlan(files, planCheckpoints([cp(1, 0.2)], 'all'), 'now');
    expect(split.kept).toEqual(files);
    expect(split.entries).toEqual([]);
    expect(split.prunedBytes).toBe(0);
  });
});

describe('recommend: the sentence a user reads', () => {
  const item = (c: CheckpointScore, pruned = false) => ({ ...c, pruned, bytes: 0 });
  test('against the final checkpoint, in percent', () => {
    expect(recommend(RUN.map((c) => item(c)))).toEqual({
      name: 'checkpoint-300',
      validationLoss: 0.412,
      reason: "lowest validation loss (0.412 at step 300), 8% below the final checkpoint's 0.448",
    });
  });
  test('the best is the last checkpoint', () => {
    expect(recommend([item(cp(100, 0.9)), item(cp(200, 0.5))])?.reason).toBe(
      'lowest validation loss (0.500 at step 200), and the last checkpoint of the run',
    );
  });
  test('a difference under 1%', () => {
    expect(recommend([item(cp(100, 0.5)), item(cp(200, 0.501))])?.reason).toBe(
      "lowest validation loss (0.500 at step 100), under 1% below the final checkpoint's 0.501",
    );
  });
  test('the final checkpoint has no validation loss', () => {
    expect(recommend([item(cp(100, 0.5)), item(cp(200, 0.6)), item(cp(300, null))])?.reason).toBe(
      'lowest validation loss (0.500 at step 100), among the 2 checkpoints with a validation loss',
    );
  });
  test('a pruned checkpoint is never recommended; none scored is null', () => {
    expect(recommend([item(cp(100, 0.1), true), item(cp(200, 0.5))])?.name).toBe('checkpoint-200');
    expect(recommend([item(cp(100, null))])).toBeNull();
  });
});

describe('checkpointsView: models.get', () => {
  test('present and pruned checkpoints side by side, by step, with bytes, losses and the recommendation', () => {
    const best = {
      name: 'checkpoint-200',
      step: 200,
      validationLoss: 0.4,
      checkpoints: [
        { name: 'checkpoint-100', step: 100, validationLoss: 0.6 },
        { name: 'checkpoint-200', step: 200, validationLoss: 0.4 },
        { name: 'checkpoint-300', step: 300, validationLoss: 0.5 },
      ],
    };
    const files = [
      { path: 'adapter_model.safetensors', kind: 'adapter_weights' as const, sizeBytes: 1000 },
      { path: 'checkpoint-200/adapter_model.safetensors', kind: 'checkpoint' as const, sizeBytes: 900 },
      { path: 'checkpoint-200/adapter_config.json', kind: 'checkpoint' as const, sizeBytes: 50 },
      { path: 'checkpoint-300/adapter_model.safetensors', kind: 'checkpoint' as const, sizeBytes: 800 },
    ];
    const pruned = [{ name: 'checkpoint-100', bytes: 777, files: 2, at: '2025-01-01T00:00:00.000Z', reason: 'x' }];
    const view = checkpointsView(best, { mainCheckpoint: 'checkpoint-200', prunedCheckpoints: pruned, prunedBytes: 777 }, files);
    expect(view.main).toBe('checkpoint-200');
    expect(view.prunedBytes).toBe(777);
    expect(view.items).toEqual([
      { name: 'checkpoint-100', step: 100, validationLoss: 0.6, pruned: true, bytes: 777 },
      { name: 'checkpoint-200', step: 200, validationLoss: 0.4, pruned: false, bytes: 950 },
      { name: 'checkpoint-300', step: 300, validationLoss: 0.5, pruned: false, bytes: 800 },
    ]);
    expect(view.recommended).toEqual({
      name: 'checkpoint-200',
      validationLoss: 0.4,
      reason: "lowest validation loss (0.400 at step 200), 20% below the final checkpoint's 0.500",
    });
  });

  test('a model without checkpoints', () => {
    const view = checkpointsView(null, { mainCheckpoint: null, prunedCheckpoints: [], prunedBytes: 0 }, []);
    expect(view).toEqual({ main: null, recommended: null, items: [], prunedBytes: 0 });
  });
});

describe('asDelivered: a promoted checkpoint served in place of the run’s own adapter', () => {
  const file = (path: string, kind: FileKind, tag: string) => ({
    id: `id-${path}`,
    path,
    kind,
    sizeBytes: tag.length * 100,
    sha256: `sha-${tag}`,
    contentType: 'application/octet-stream',
    storageKey: `key-${tag}`,
  });
  const files = [
    file('README.md', 'other', 'readme'),
    file('adapter_config.json', 'adapter_config', 'final-config'),
    file('adapter_model.safetensors', 'adapter_weights', 'final-weights'),
    file('checkpoint-500/adapter_config.json', 'checkpoint', 'c500-config'),
    file('checkpoint-500/adapter_model.safetensors', 'checkpoint', 'c500-weights'),
    file('checkpoint-500/optimizer.pt', 'checkpoint', 'c500-optimizer'),
    file('tokenizer.json', 'tokenizer', 'tokenizer'),
    file('nested/adapter_model.safetensors', 'adapter_weights', 'nested'),
  ];

  test('with no promotion, every file is served as stored', () => {
    expect(asDelivered(files, null)).toEqual(files as never);
  });

  test('top-level adapter files take the checkpoint twin’s key, size and hash, under their own path and id', () => {
    const out = asDelivered(files, 'checkpoint-500');
    const by = new Map(out.map((f) => [f.path, f]));
    expect(by.get('adapter_model.safetensors')).toMatchObject({
      id: 'id-adapter_model.safetensors',
      storageKey: 'key-c500-weights',
      sha256: 'sha-c500-weights',
      sizeBytes: 1200,
    });
    expect(by.get('adapter_config.json')).toMatchObject({ id: 'id-adapter_config.json', storageKey: 'key-c500-config', sha256: 'sha-c500-config' });
    // Everything else, the checkpoint's own files and a nested adapter included, stays as stored.
    for (const path of [
      'README.md',
      'tokenizer.json',
      'checkpoint-500/adapter_model.safetensors',
      'checkpoint-500/optimizer.pt',
      'nested/adapter_model.safetensors',
    ]) {
      expect(by.get(path)).toEqual(files.find((f) => f.path === path) as never);
    }
    expect(out.map((f) => f.path)).toEqual(files.map((f) => f.path));
  });

  test('a top-level adapter file the checkpoint has no twin of, or a checkpoint that is not there, is served as stored', () => {
    const noConfig = files.filter((f) => f.path !== 'checkpoint-500/adapter_config.json');
    expect(asDelivered(noConfig, 'checkpoint-500').find((f) => f.path === 'adapter_config.json')).toEqual(files[1] as never);
    expect(asDelivered(files, 'checkpoint-900')).toEqual(files as never);
  });

  test("an mlx-lm checkpoint is one file: it stands in for the adapter weights, the run's config stays", () => {
    const mlx = [
      file('adapter_config.json', 'adapter_config', 'mlx-config'),
      file('adapters.safetensors', 'adapter_weights', 'mlx-final'),
      file('0000100_adapters.safetensors', 'checkpoint', 'mlx-100'),
      file('0000200_adapters.safetensors', 'checkpoint', 'mlx-200'),
    ];
    const by = new Map(asDelivered(mlx, '0000100_adapters.safetensors').map((f) => [f.path, f]));
    expect(by.get('adapters.safetensors')).toMatchObject({ id: 'id-adapters.safetensors', storageKey: 'key-mlx-100', sha256: 'sha-mlx-100' });
    expect(by.get('adapter_config.json')).toEqual(mlx[0] as never);
    expect(by.get('0000200_adapters.safetensors')).toEqual(mlx[3] as never);
  });
});
