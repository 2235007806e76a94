// Issue 14 item 4: "explain the score". From a run's loss points through the scoring rules (scoreRun) to the
// sentence the model page, the share page and the API (`quality.explanation`) show: every case the issue names.
import { describe, expect, test } from 'bun:test';
import { qualityExplanation } from '../../server/adapters/explain.ts';
import type { WeightHealth } from '../../server/adapters/types.ts';
import { lossStatsFromPoints, scoreRun } from '../../server/quality/score.ts';
import type { LossPoint } from '../../server/vocabulary.ts';

/** Points at steps 0, 100, 200…: training losses, and validation losses where given. */
const run = (training: (number | null)[], validation: (number | null)[] = []): LossPoint[] =>
  training.map((t, i) => ({ step: i * 100, trainingLoss: t, validationLoss: validation[i] ?? null }));

const healthy: WeightHealth = { file: 'adapter_model.safetensors', modules: [], warnings: [], untrained: false };
const untrained: WeightHealth = { ...healthy, untrained: true, warnings: [{ code: 'untrained', message: 'every lora_B is zero', subjects: [] }] };

/** The explanation of a run as the service makes it: points → stats → score → sentence. */
function explain(points: LossPoint[], weights: WeightHealth | null = healthy) {
  const quality = scoreRun(lossStatsFromPoints(points));
  return { score: quality.score, text: qualityExplanation(quality, weights) };
}

describe('the explanation states the rule that produced the score', () => {
  test.each([
    [
      'the issue example: a 62 % fall is 5 stars, a validation gap of 0.7 costs one',
      run([2.5, 1.5, 0.95], [null, null, 1.65]),
      4,
      'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.7 > 0.5: overfit, −1 → 4 stars.',
    ],
    [
      'a gap within the bound',
      run([2.5, 1.5, 0.95], [null, 1.6, 1.1]),
      5,
      'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.15 ≤ 0.5: not overfit.',
    ],
    [
      'no validation loss: the overfit check is not made',
      run([2, 1.5, 1.3]),
      4,
      'Loss fell 35 %, 2 → 1.3 (> 30 %: 4 stars); no validation loss, so overfitting was not checked.',
    ],
    ['3 stars', run([2, 1.6]), 3, 'Loss fell 20 %, 2 → 1.6 (> 15 %: 3 stars); no validation loss, so overfitting was not checked.'],
    ['2 stars', run([2, 1.8]), 2, 'Loss fell 10 %, 2 → 1.8 (> 5 %: 2 stars); no validation loss, so overfitting was not checked.'],
    [
      'a fall at a bound is not above it',
      run([20, 19]),
      1,
      'Loss fell 5 %, 20 → 19 (≤ 5 %: 1 star); no validation loss, so overfitting was not checked.',
    ],
    ['a loss that rose', run([2, 2.5]), 1, 'Loss rose 25 %, 2 → 2.5 (≤ 5 %: 1 star); no validation loss, so overfitting was not checked.'],
    [
      'overfit at 1 star stays at 1',
      run([2, 1.95], [null, 2.6]),
      1,
      'Loss fell 2.5 %, 2 → 1.95 (≤ 5 %: 1 star); validation − training = 0.65 > 0.5: overfit, −1, but never below 1 star.',
    ],
    [
      'not rated: one point',
      run([2.5]),
      null,
      'Fewer than two finite training losses were reported: too few points to judge convergence, so the run is not rated.',
    ],
    [
      'not rated: two points, one of them NaN at the start',
      run([Number.NaN, 2.5]),
      null,
      'Fewer than two finite training losses were reported: too few points to judge convergence, so the run is not rated.',
    ],
    ['diverged: the last loss is NaN', run([2.5, 1.2, Number.NaN]), 1, 'Loss ended as NaN or infinity: the run diverged, 1 star.'],
    [
      'diverged: the last loss is infinite, even alone',
      run([Number.POSITIVE_INFINITY]),
      1,
      'Loss ended as NaN or infinity: the run diverged, 1 star.',
    ],
    ['a first loss of zero', run([0, 0]), 1, 'The first training loss (0) is not above zero, so no fall can be measured: 1 star.'],
  ])('%s', (_name, points, score, text) => {
    const got = explain(points);
    expect({ score: got.score as number | null, text: got.text }).toEqual({ score, text });
    // The weights' report is not needed for a loss-curve reason.
    expect(explain(points, null).text).toBe(text);
  });

  test('an untrained adapter: 1 star whatever the curve says, and the curve is still told', () => {
    const { text } = explain(run([2.5, 1.5, 0.95]), untrained);
    expect(text).toBe(
      'Untrained: every lora_B is zero, so the adapter changes nothing (PEFT initialises B to zero): 1 star. ' +
        'Loss fell 62 %, 2.5 → 0.95, but none of that training reached the saved weights.',
    );
    // Without a rated curve: only the weights' reason.
    expect(explain(run([2.5]), untrained).text).toBe(
      'Untrained: every lora_B is zero, so the adapter changes nothing (PEFT initialises B to zero): 1 star.',
    );
  });

  test('a number that rounds onto a bound it did not reach is shown in full, so the rule never reads as false', () => {
    // 50.04 % rounds to "50", which would read "fell 50 % (> 50 %…)".
    expect(explain(run([20, 9.992])).text).toStartWith('Loss fell 50.04 %, 20 → 9.992 (> 50 %: 5 stars)');
    // 49.96 % would read "fell 50 % (> 30 %: 4 stars)", as if it had missed 5 stars by nothing.
    expect(explain(run([20, 10.008])).text).toStartWith('Loss fell 49.96 %, 20 → 10.01 (> 30 %: 4 stars)');
    // A gap of 0.50004 would read "0.5 > 0.5".
    const gap = explain(run([2.5, 1], [null, 1.50004])).text;
    expect(gap).toContain('validation − training = 0.5000');
    expect(gap).toContain('> 0.5: overfit, −1 → 4 stars');
    expect(gap).not.toContain('= 0.5 >');
  });

  test('a validation loss below the training loss reads with a minus sign', () => {
    expect(explain(run([2.5, 1], [null, 0.8])).text).toContain('validation − training = −0.2 ≤ 0.5: not overfit.');
  });
});
