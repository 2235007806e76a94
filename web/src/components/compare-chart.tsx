import type uPlot from 'uplot';
import { createEffect, For } from 'solid-js';
import type { LossPoint } from '../../../server/vocabulary.ts';
import { lossValue, mountLossPlot } from './loss-plot.ts';

/**
 * One colour per run, in the order compared: Okabe–Ito's blue, vermilion, bluish green and reddish purple,
 * told apart with the common colour-vision deficiencies and dark enough on white. The compare page's
 * headers and table use the same order (`.run-0`…`.run-3` in styles.css).
 */
export const RUN_COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7'] as const;

export interface Run {
  label: string;
  /** Short, for the chart's live legend: the model's reference (`family@v3`). */
  short: string;
  points: readonly LossPoint[];
}

/**
 * The runs' curves over the union of their steps: runs log at different steps, and uPlot wants one x axis,
 * so each series has null where its run has no point (drawn across with `spanGaps`).
 */
function align(runs: readonly Run[]): uPlot.AlignedData {
  const steps = [...new Set(runs.flatMap((r) => r.points.map((p) => p.step)))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const series: (number | null)[][] = [];
  for (const run of runs) {
    const training = new Array<number | null>(steps.length).fill(null);
    const validation = new Array<number | null>(steps.length).fill(null);
    for (const p of run.points) {
      const i = at.get(p.step)!;
      training[i] = p.trainingLoss;
      validation[i] = p.validationLoss;
    }
    series.push(training, validation);
  }
  return [steps, ...series];
}

/** Training (solid) and validation (dashed) loss of every run in one uPlot chart, its width following the container. */
export function CompareChart(props: { runs: readonly Run[] }) {
  let host!: HTMLDivElement;

  createEffect(() => {
    const runs = props.runs;
    mountLossPlot(
      host,
      runs.flatMap((r, i): uPlot.Series[] => {
        const colour = RUN_COLOURS[i % RUN_COLOURS.length]!;
        return [
          { label: `${r.short} training`, stroke: colour, width: 1.5, spanGaps: true, value: lossValue },
          {
            label: `${r.short} validation`,
            stroke: colour,
            width: 2,
            dash: [6, 4],
            spanGaps: true,
            points: { show: true, size: 4 },
            value: lossValue,
          },
        ];
      }),
      align(runs),
      { narrow: 240, wide: 340 },
    );
  });

  return (
    <figure class="chart">
      <div
        ref={host}
        class="chart-host compare-chart"
        role="img"
        aria-label={`Loss over steps of ${props.runs.length} runs: ${props.runs.map((r) => r.label).join(', ')}; training solid, validation dashed`}
      />
      <figcaption>
        <ul class="run-legend" aria-label="Runs">
          <For each={props.runs}>
            {(r, i) => (
              <li class="run-legend-item">
                <svg width="28" height="10" viewBox="0 0 28 10" aria-hidden="true">
                  <line x1="0" y1="5" x2="28" y2="5" stroke={RUN_COLOURS[i() % RUN_COLOURS.length]} stroke-width="3" />
                </svg>
                {r.label}
              </li>
            )}
          </For>
          <li class="run-legend-item muted small">Solid: training · dashed: validation</li>
        </ul>
      </figcaption>
    </figure>
  );
}
