/**
 * Why a model has its score, in words: the sentence the card and the detail page show under the stars.
 * Pure; the rules themselves live in server/quality/score.ts (`scoreRun`), which this reuses rather than
 * restating its thresholds.
 */
import { scoreRun } from '../quality/score.ts';
import type { WeightHealth } from './types.ts';

/** The quality fields an explanation reads: those of `Quality` (server/quality/score.ts), as the model row stores them. */
export interface QualityFacts {
  score: number | null;
  convergence: string | null;
  lossReductionPct: number | null;
  initialLoss: number | null;
  finalTrainingLoss: number | null;
  finalValidationLoss: number | null;
  overfitGap: number | null;
}

/** 0.80341 → "0.8034": four significant digits, no trailing zeros. */
const loss = (n: number): string => String(Number(n.toPrecision(4)));
/** 62.345 → "62.3": one decimal, so a reduction just above a star bound (50.4 %) does not read as the bound. */
const pct = (n: number): string => String(Number(Math.abs(n).toFixed(1)));
const stars = (n: number): string => (n === 1 ? '1 star' : `${n} stars`);

/**
 * One or two sentences: why this score. The loss reduction and the stars it earns; the star an overfit gap
 * costs; "not rated" with too few points; a diverged run; and, from the weights, an untrained adapter
 * (score 1 because every lora_B is zero, whatever the loss curve says) or NaN/Inf weights.
 */
export function qualityExplanation(q: QualityFacts, weights: WeightHealth | null): string {
  const nonFinite = weights?.warnings.find((w) => w.code === 'non_finite');
  const nonFiniteNote = nonFinite
    ? ` The weights also hold NaN or infinite values (${nonFinite.subjects.length >= 20 ? 'at least 20' : nonFinite.subjects.length} ${nonFinite.subjects.length === 1 ? 'tensor' : 'tensors'}), so its outputs cannot be trusted.`
    : '';

  if (weights?.untrained) {
    const curve =
      q.lossReductionPct !== null && q.initialLoss !== null && q.finalTrainingLoss !== null
        ? ` Its loss curve ${q.lossReductionPct >= 0 ? 'fell' : 'rose'} ${pct(q.lossReductionPct)}% (${loss(q.initialLoss)} → ${loss(q.finalTrainingLoss)}), but none of that training reached the saved weights.`
        : '';
    return `Rated 1 star because every lora_B is zero: the adapter was never trained and changes nothing (PEFT initialises B to zero).${curve || nonFiniteNote}`;
  }

  let reason: string;
  if (q.score === null) {
    reason = 'Not rated: the run reported fewer than two finite training losses, too few points to judge convergence.';
  } else if (q.finalTrainingLoss === null) {
    // scoreRun nulls a non-finite final loss and gives it 1 star: the run diverged.
    reason = 'Rated 1 star because the training loss ended as NaN or infinity: the run diverged.';
  } else if (q.lossReductionPct === null || q.initialLoss === null) {
    reason = `Rated 1 star because the first training loss (${q.initialLoss === null ? 'unknown' : loss(q.initialLoss)}) is not above zero, so no reduction can be measured.`;
  } else {
    const moved = `The training loss ${q.lossReductionPct >= 0 ? 'fell' : 'rose'} ${pct(q.lossReductionPct)}% (${loss(q.initialLoss)} → ${loss(q.finalTrainingLoss)})`;
    // The stars of the loss curve alone: scoreRun without a validation loss, so the overfit rule is not applied twice.
    const earned = scoreRun({
      pointCount: 2,
      finiteTrainingCount: 2,
      initialLoss: q.initialLoss,
      finalTrainingLoss: q.finalTrainingLoss,
      finalValidationLoss: null,
    }).score;
    if (q.convergence === 'overfit' && q.overfitGap !== null && q.finalValidationLoss !== null) {
      const cost = earned !== null && earned > q.score ? `, which costs a star: ${stars(q.score)}` : `; the score cannot go below ${stars(1)}`;
      reason = `${moved}, worth ${stars(earned ?? q.score)}, but the validation loss (${loss(q.finalValidationLoss)}) is ${loss(q.overfitGap)} above it (overfitting, more than 0.5)${cost}.`;
    } else {
      reason = `${moved}: ${stars(q.score)}${q.convergence ? ` (${q.convergence})` : ''}.`;
    }
  }
  return reason + nonFiniteNote;
}
