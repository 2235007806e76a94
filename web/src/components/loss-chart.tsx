import type uPlot from 'uplot';
import { createMemo, onMount, Show } from 'solid-js';
import type { LossPoint } from '../../../server/vocabulary.ts';
import { formatNumber } from '../lib/format.ts';
import { lossValue, mountLossPlot } from './loss-plot.ts';

const TRAIN = '#4338ca';
const VALID = '#0d9488';
const BEST = '#dc2626';

/** The lowest validation loss and its step, or null when the run reported none. */
function bestValidation(points: readonly LossPoint[]): { step: number; loss: number } | null {
  let best: { step: number; loss: number } | null = null;
  for (const p of points) {
    if (p.validationLoss !== null && Number.isFinite(p.validationLoss) && (!best || p.validationLoss < best.loss))
      best = { step: p.step, loss: p.validationLoss };
  }
  return best;
}

/**
 * Training and validation loss over steps (uPlot), the best validation point marked. The width
 * follows the container, so it fits phones and wide screens alike.
 */
export function LossChart(props: { points: LossPoint[] }) {
  let host!: HTMLDivElement;
  const best = createMemo(() => bestValidation(props.points));

  onMount(() => {
    const pts = props.points;
    const b = best();
    const data: uPlot.AlignedData = [
      pts.map((p) => p.step),
      pts.map((p) => p.trainingLoss),
      pts.map((p) => p.validationLoss),
      pts.map((p) => (b && p.step === b.step ? p.validationLoss : null)),
    ];
    mountLossPlot(
      host,
      [
        { label: 'Training', stroke: TRAIN, width: 1.5, spanGaps: true, value: lossValue },
        { label: 'Validation', stroke: VALID, width: 2, spanGaps: true, points: { show: true, size: 5 }, value: lossValue },
        {
          label: 'Best validation',
          stroke: BEST,
          width: 0,
          paths: () => null,
          points: { show: true, size: 11, fill: BEST, stroke: '#ffffff', width: 2 },
          value: lossValue,
        },
      ],
      data,
      { narrow: 220, wide: 300 },
    );
  });

  return (
    <figure class="chart">
      <div ref={host} class="chart-host" role="img" aria-label={`Loss over ${props.points.length} steps: training and validation`} />
      <figcaption class="muted small">
        <Show when={best()} fallback="No validation loss was reported for this run.">
          {(b) => (
            <>
              Best validation loss <strong>{formatNumber(b().loss)}</strong> at step <strong>{b().step.toLocaleString('en-US')}</strong> (red marker).
            </>
          )}
        </Show>
      </figcaption>
    </figure>
  );
}
