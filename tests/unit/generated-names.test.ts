// One rule for names the service generates at the top of a model.
import { describe, expect, test } from 'bun:test';
import { keepClearOfGeneratedNames, trainerName } from '../../server/storage/generated-names.ts';

describe('trainerName', () => {
  test.each([
    ['SHA256SUMS', 1, 'SHA256SUMS.trainer'],
    ['README.md', 1, 'README.trainer.md'],
    ['README.md', 2, 'README.trainer2.md'],
    ['.hidden', 1, '.hidden.trainer'],
  ])('%p #%p → %p', (name, n, expected) => {
    expect(trainerName(name, n)).toBe(expected);
  });
});

describe('keepClearOfGeneratedNames', () => {
  test('a top-level collision is renamed and its original recorded; the rest is untouched', () => {
    expect(keepClearOfGeneratedNames(['adapter_config.json', 'SHA256SUMS', 'checkpoint-1/SHA256SUMS'])).toEqual([
      { path: 'adapter_config.json', sourcePath: null },
      { path: 'SHA256SUMS.trainer', sourcePath: 'SHA256SUMS' },
      { path: 'checkpoint-1/SHA256SUMS', sourcePath: null },
    ]);
  });

  test('nothing is lost when the renamed name is taken too: a counter is added', () => {
    expect(keepClearOfGeneratedNames(['SHA256SUMS.trainer', 'SHA256SUMS', 'SHA256SUMS.trainer2'])).toEqual([
      { path: 'SHA256SUMS.trainer', sourcePath: null },
      { path: 'SHA256SUMS.trainer3', sourcePath: 'SHA256SUMS' },
      { path: 'SHA256SUMS.trainer2', sourcePath: null },
    ]);
  });

  test('the list of generated names is one argument away from the model card', () => {
    const generated = ['SHA256SUMS', 'README.md'];
    expect(keepClearOfGeneratedNames(['README.md', 'readme.md', 'README.trainer.md'], generated).map((r) => r.path)).toEqual([
      'README.trainer2.md',
      'readme.trainer3.md',
      'README.trainer.md',
    ]);
  });
});
