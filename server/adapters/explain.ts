/**
 * Why a model has its score, in words: the sentence the card and the detail page show under the stars.
 * Pure; the rules themselves live in server/quality/score.ts (`scoreRun`), whose thresholds this imports
 * rather than restating them.
 */
import { OVERFIT_GAP_THRESHOLD, STAR_BOUNDS } from '../quality/score.ts';
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

/** 0.80341 → "0.8034": four significant digits, no trailing zeros; a minus sign, as in "validation − training". */
const loss = (n: number): string => String(Number(n.toPrecision(4))).replace('-', '−');
/** 62.345 → "62.3": one decimal, so a reduction just above a star bound (50.4 %) does not read as the bound. */
const pct = (n: number): string => String(Number(Math.abs(n).toFixed(1)));
const stars = (n: number): string => (n === 1 ? '1 star' : `${n} stars`);

/** `shown`, unless it rounds onto one of `bounds` without being it (50.04 % shown as "50" beside "> 50 %"): then every digit. */
function beside(n: number, shown: string, bounds: readonly number[]): string {
  return bounds.some((b) => shown === String(b) && Math.abs(n) !== b) ? String(Math.abs(n)) : shown;
}

const BOUNDS = STAR_BOUNDS.map((b) => b.above);
/** The lowest star bound: a reduction at or below it earns 1 star. */
const LOWEST_BOUND = BOUNDS[BOUNDS.length - 1]!;

/** The star rule a loss reduction met (the bounds of `scoreRun`): "> 50 %: 5 stars", or "≤ 5 %: 1 star" under every bound. */
function starRule(reductionPct: number): { text: string; score: number } {
  const bound = STAR_BOUNDS.find((b) => reductionPct > b.above);
  return bound ? { text: `> ${bound.above} %: ${stars(bound.score)}`, score: bound.score } : { text: `≤ ${LOWEST_BOUND} %: ${stars(1)}`, score: 1 };
}

/** "Loss fell 62 %, 2.5 → 0.95": the percentage with as many digits as it takes not to read as a star bound. */
function lossMove(reductionPct: number, initial: number, final: number): string {
  const shown = reductionPct >= 0 ? beside(reductionPct, pct(reductionPct), BOUNDS) : pct(reductionPct);
  return `Loss ${reductionPct >= 0 ? 'fell' : 'rose'} ${shown} %, ${loss(initial)} → ${loss(final)}`;
}

/**
 * Why a model has its score, as the rules of `scoreRun` applied to its numbers, for example
 * "Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.7 > 0.5: overfit, −1 → 4 stars."
 * Covers: the star bound the loss reduction met; the overfit check (passed, failed and the star it cost, or not
 * made without a validation loss); not rated (fewer than two points); a diverged run (a NaN or infinite final
 * loss); a first loss not above zero; and, from the weights, an untrained adapter (1 star because every lora_B
 * is zero, whatever the loss curve says) or NaN/Inf weights.
 */
export function qualityExplanation(q: QualityFacts, weights: WeightHealth | null): string {
  const nonFinite = weights?.warnings.find((w) => w.code === 'non_finite');
  const nonFiniteNote = nonFinite
    ? ` The weights also hold NaN or infinite values (${nonFinite.subjects.length >= 20 ? 'at least 20' : nonFinite.subjects.length} ${nonFinite.subjects.length === 1 ? 'tensor' : 'tensors'}), so its outputs cannot be trusted.`
    : '';

  if (weights?.untrained) {
    const curve =
      q.lossReductionPct !== null && q.initialLoss !== null && q.finalTrainingLoss !== null
        ? ` ${lossMove(q.lossReductionPct, q.initialLoss, q.finalTrainingLoss)}, but none of that training reached the saved weights.`
        : '';
    return `Untrained: every lora_B is zero, so the adapter changes nothing (PEFT initialises B to zero): 1 star.${curve || nonFiniteNote}`;
  }

  let reason: string;
  if (q.score === null) {
    // Lower case: the page and the card show "Not rated" once, beside the stars; this sentence says why.
    reason = 'Fewer than two finite training losses were reported: too few points to judge convergence, so the run is not rated.';
  } else if (q.finalTrainingLoss === null) {
    // scoreRun nulls a non-finite final loss and gives it 1 star: the run diverged.
    reason = 'Loss ended as NaN or infinity: the run diverged, 1 star.';
  } else if (q.lossReductionPct === null || q.initialLoss === null) {
    reason = `The first training loss (${q.initialLoss === null ? 'unknown' : loss(q.initialLoss)}) is not above zero, so no fall can be measured: 1 star.`;
  } else {
    const rule = starRule(q.lossReductionPct);
    const moved = `${lossMove(q.lossReductionPct, q.initialLoss, q.finalTrainingLoss)} (${rule.text})`;
    let check: string;
    if (q.overfitGap === null) {
      check = 'no validation loss, so overfitting was not checked';
    } else {
      const gap = `validation − training = ${beside(q.overfitGap, loss(q.overfitGap), [OVERFIT_GAP_THRESHOLD])}`;
      if (q.convergence === 'overfit') {
        const cost = rule.score > q.score ? ` → ${stars(q.score)}` : `, but never below ${stars(1)}`;
        check = `${gap} > ${OVERFIT_GAP_THRESHOLD}: overfit, −1${cost}`;
      } else {
        check = `${gap} ≤ ${OVERFIT_GAP_THRESHOLD}: not overfit`;
      }
    }
    reason = `${moved}; ${check}.`;
  }
  return reason + nonFiniteNote;
}
