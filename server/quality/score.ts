/**
 * Run quality from a loss curve: a 1–5 star score, a convergence label, and the numbers behind them.
 * Pure functions only. `lossStatsFromPoints` is the in-memory reference for the SQL aggregate that feeds
 * `scoreRun` in production, so the two must agree on every rule documented on `LossStats`.
 *
 * Precision: nothing is rounded here. Every number is an IEEE double as computed; display code rounds.
 */
import type { ConvergenceLabel, LossPoint } from '../vocabulary.ts';

/**
 * The aggregate a score is computed from.
 * - `pointCount`: all points, whatever their values.
 * - `finiteTrainingCount`: points whose training loss is a finite number.
 * - `initialLoss`: the finite training loss at the lowest step (a NaN first point would poison every
 *   ratio, so non-finite values are skipped here).
 * - `finalTrainingLoss`: the non-null training loss at the highest step, finite or not, so a run that
 *   ended in NaN/Infinity is seen as diverged.
 * - `finalValidationLoss`: the non-null validation loss at the highest step that has one.
 * Equal steps: the later point in input order wins (a re-report replaces the earlier one).
 */
export type LossStats = {
  pointCount: number;
  finiteTrainingCount: number;
  initialLoss: number | null;
  finalTrainingLoss: number | null;
  finalValidationLoss: number | null;
};

export type StarScore = 1 | 2 | 3 | 4 | 5;

/**
 * The quality shown for a model. Every number is finite or null (NaN/Infinity would turn into `null` in
 * JSON anyway, so they are made null here explicitly); a diverged run shows as score 1 "poor" with a null
 * `finalTrainingLoss`.
 */
export type Quality = {
  score: StarScore | null;
  convergence: ConvergenceLabel | null;
  lossReductionPct: number | null;
  initialLoss: number | null;
  finalTrainingLoss: number | null;
  finalValidationLoss: number | null;
  overfitGap: number | null;
  perplexity: number | null;
};

/** A validation loss this far above the training loss means the model memorised its training data. */
export const OVERFIT_GAP_THRESHOLD = 0.5;

/** Star thresholds on loss reduction in percent; strictly greater than the bound earns the stars (below all: 1 "poor"). */
export const STAR_BOUNDS: readonly { above: number; score: StarScore; label: ConvergenceLabel }[] = [
  { above: 50, score: 5, label: 'excellent' },
  { above: 30, score: 4, label: 'good' },
  { above: 15, score: 3, label: 'fair' },
  { above: 5, score: 2, label: 'poor' },
];

const finiteOrNull = (n: number | null): number | null => (n !== null && Number.isFinite(n) ? n : null);

/**
 * Scores a run.
 * - A non-finite final training loss (a diverged run) is 1 star "poor", even with a single point.
 * - Otherwise fewer than two finite training losses is "not rated": score, label and every derived
 *   number (reduction, gap, perplexity) are null.
 * - reduction % = (initial − final) × 100 / initial; > 50 → 5 excellent, > 30 → 4 good, > 15 → 3 fair,
 *   > 5 → 2 poor, else 1 poor. An initial loss ≤ 0 cannot be reduced by a percentage: 1 "poor",
 *   reduction null.
 * - With a finite final validation loss: gap = validation − training, perplexity = exp(validation)
 *   (null when it overflows to Infinity). A gap strictly above 0.5 relabels the run "overfit" and costs
 *   one star, never going below 1. Without a finite validation loss, gap and perplexity are null and no
 *   overfit check is made.
 */
export function scoreRun(stats: LossStats): Quality {
  const base = {
    initialLoss: finiteOrNull(stats.initialLoss),
    finalTrainingLoss: finiteOrNull(stats.finalTrainingLoss),
    finalValidationLoss: finiteOrNull(stats.finalValidationLoss),
  };
  const unrated: Quality = {
    ...base,
    score: null,
    convergence: null,
    lossReductionPct: null,
    overfitGap: null,
    perplexity: null,
  };

  const diverged = stats.finalTrainingLoss !== null && !Number.isFinite(stats.finalTrainingLoss);
  if (diverged) {
    return { ...unrated, score: 1, convergence: 'poor', perplexity: perplexityOf(base.finalValidationLoss) };
  }
  if (stats.finiteTrainingCount < 2 || base.initialLoss === null || base.finalTrainingLoss === null) {
    return unrated;
  }

  const initial = base.initialLoss;
  const final = base.finalTrainingLoss;
  // Multiplying before dividing keeps round inputs exact (3 × 100 / 10 is 30, 3 / 10 × 100 is not).
  const lossReductionPct = initial > 0 ? ((initial - final) * 100) / initial : null;
  const stars = lossReductionPct === null ? undefined : STAR_BOUNDS.find((b) => lossReductionPct > b.above);
  let score: StarScore = stars?.score ?? 1;
  let convergence: ConvergenceLabel = stars?.label ?? 'poor';

  const validation = base.finalValidationLoss;
  const overfitGap = validation === null ? null : finiteOrNull(validation - final);
  if (overfitGap !== null && overfitGap > OVERFIT_GAP_THRESHOLD) {
    convergence = 'overfit';
    score = Math.max(1, score - 1) as StarScore;
  }

  return { ...base, score, convergence, lossReductionPct, overfitGap, perplexity: perplexityOf(validation) };
}

/** exp(loss), or null when there is no loss or the result overflows (loss above ~709). */
function perplexityOf(validationLoss: number | null): number | null {
  return validationLoss === null ? null : finiteOrNull(Math.exp(validationLoss));
}

/** The in-memory `LossStats` of a set of points, in any order; see `LossStats` for the exact rules. */
export function lossStatsFromPoints(points: readonly LossPoint[]): LossStats {
  let finiteTrainingCount = 0;
  let initial: { step: number; loss: number } | null = null;
  let finalTraining: { step: number; loss: number } | null = null;
  let finalValidation: { step: number; loss: number } | null = null;

  for (const p of points) {
    const t = p.trainingLoss;
    if (t !== null) {
      if (Number.isFinite(t)) {
        finiteTrainingCount++;
        // `<=` so that among equal steps the later point wins, as documented on LossStats.
        if (initial === null || p.step <= initial.step) initial = { step: p.step, loss: t };
      }
      if (finalTraining === null || p.step >= finalTraining.step) finalTraining = { step: p.step, loss: t };
    }
    const v = p.validationLoss;
    if (v !== null && (finalValidation === null || p.step >= finalValidation.step)) {
      finalValidation = { step: p.step, loss: v };
    }
  }

  return {
    pointCount: points.length,
    finiteTrainingCount,
    initialLoss: initial?.loss ?? null,
    finalTrainingLoss: finalTraining?.loss ?? null,
    finalValidationLoss: finalValidation?.loss ?? null,
  };
}

/** A checkpoint folder of an output (`checkpoint-500/`), with the step parsed from its name if any. */
export type CheckpointRef = { name: string; step: number | null };
export type BestCheckpoint = { name: string; step: number; validationLoss: number };

/**
 * The checkpoint with the lowest validation loss. A checkpoint is judged by the nearest finite
 * validation point at or before its step (evaluation usually runs at the save step, sometimes a little
 * earlier). Checkpoints without a step or without any earlier validation point are skipped; null when
 * none remain. Ties go to the earlier checkpoint: the same loss with less training.
 */
export function bestCheckpoint(checkpoints: readonly CheckpointRef[], points: readonly LossPoint[]): BestCheckpoint | null {
  const validation = points
    .filter((p): p is LossPoint & { validationLoss: number } => p.validationLoss !== null && Number.isFinite(p.validationLoss))
    .map((p) => ({ step: p.step, loss: p.validationLoss }))
    // Stable sort: among equal steps the later report stays last and wins the lookup below.
    .sort((a, b) => a.step - b.step);

  const candidates = checkpoints
    .filter((c): c is { name: string; step: number } => c.step !== null && Number.isFinite(c.step))
    .sort((a, b) => a.step - b.step);

  let best: BestCheckpoint | null = null;
  for (const c of candidates) {
    const at = lastAtOrBefore(validation, c.step);
    if (at === undefined) continue;
    if (best === null || at.loss < best.validationLoss) best = { name: c.name, step: c.step, validationLoss: at.loss };
  }
  return best;
}

/** Binary search in points sorted by step: the last one with step ≤ `step`. */
function lastAtOrBefore<P extends { step: number }>(sorted: readonly P[], step: number): P | undefined {
  let lo = 0;
  let hi = sorted.length; // first index with step > `step`
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.step <= step) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : sorted[lo - 1];
}
