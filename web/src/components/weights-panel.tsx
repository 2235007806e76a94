import { createMemo, createUniqueId, For, Show } from 'solid-js';
import type { WeightWarningCode } from '../../../server/adapters/types.ts';
import { formatNumber } from '../lib/format.ts';
import type { ModelDetail } from '../lib/trpc.ts';
import { TableWrap } from './table-wrap.tsx';

type Weights = NonNullable<ModelDetail['weights']>;

/** One bar: the modules of a layer (`layer` null: the modules outside the numbered layers, e.g. lm_head). */
interface LayerUpdate {
  layer: number | null;
  label: string;
  modules: number;
  /** Modules whose update size was not finite (NaN/Inf weights); left out of sum and mean. */
  nonFinite: number;
  /** Over the finite norms; null when the layer has none. */
  sum: number | null;
  mean: number | null;
}

/** Update sizes per layer, in layer order, "other" last. */
function layerUpdates(modules: Weights['modules']): LayerUpdate[] {
  const groups = new Map<number | null, { modules: number; finite: number; sum: number }>();
  for (const m of modules) {
    const g = groups.get(m.layer) ?? { modules: 0, finite: 0, sum: 0 };
    g.modules++;
    if (m.updateNorm !== null && Number.isFinite(m.updateNorm)) {
      g.finite++;
      g.sum += m.updateNorm;
    }
    groups.set(m.layer, g);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a - b))
    .map(([layer, g]) => ({
      layer,
      label: layer === null ? 'other' : `layer ${layer}`,
      modules: g.modules,
      nonFinite: g.modules - g.finite,
      sum: g.finite > 0 ? g.sum : null,
      mean: g.finite > 0 ? g.sum / g.finite : null,
    }));
}

/** What a warning's subjects are. */
const SUBJECTS: Record<WeightWarningCode, string> = {
  untrained: 'tensors',
  non_finite: 'tensors',
  untrained_modules: 'modules',
  duplicate_checkpoint: 'files',
  pickle_not_read: 'files',
};

/** The server's message as a sentence: it may end without a full stop. */
const sentence = (text: string) => (/[.!?]$/.test(text.trim()) ? text.trim() : `${text.trim()}.`);

const WARNING_TONE: Record<WeightWarningCode, 'error' | 'warn'> = {
  untrained: 'error',
  non_finite: 'error',
  untrained_modules: 'warn',
  duplicate_checkpoint: 'warn',
  pickle_not_read: 'warn',
};

/**
 * What the weights say: warnings (an untrained adapter says why it scored 1), and how large each layer's
 * update is as a small bar chart, with its numbers in a table for screen readers.
 */
export function WeightsPanel(props: { weights: ModelDetail['weights'] }) {
  return (
    <section class="panel adapter-panel" aria-labelledby="h-weights" data-testid="weights-panel">
      <h2 id="h-weights">Weights</h2>
      <Show when={props.weights} fallback={<p class="muted">Not checked (ingested before weight checks).</p>}>
        {(w) => <WeightHealthView weights={w()} />}
      </Show>
    </section>
  );
}

function WeightHealthView(props: { weights: Weights }) {
  const w = () => props.weights;
  const layers = createMemo(() => layerUpdates(w().modules));
  return (
    <>
      <Show when={w().file} fallback={<p class="muted">The output had no safetensors adapter to analyse.</p>}>
        {(file) => (
          <p class="muted small">
            Analysed <code class="break">{file()}</code>: {w().modules.length.toLocaleString('en-US')} adapted module
            {w().modules.length === 1 ? '' : 's'}.
          </p>
        )}
      </Show>
      <Show when={w().warnings.length === 0 && w().file}>
        <p class="notice notice-success" data-testid="weights-ok">
          No problems found: every module is trained and every value is finite.
        </p>
      </Show>
      <For each={w().warnings}>
        {(warning) => (
          <div class={`notice notice-${WARNING_TONE[warning.code]}`} data-testid="weight-warning" data-code={warning.code}>
            <p>
              <Show when={warning.code === 'untrained'}>
                <strong>Untrained: </strong>
              </Show>
              {sentence(warning.message)}
              {warning.code === 'untrained' ? ' That is why its quality score is 1, whatever its loss curve says.' : ''}
            </p>
            <Show when={warning.subjects.length > 0}>
              <details>
                <summary>
                  {warning.subjects.length} {SUBJECTS[warning.code]}
                </summary>
                <ul class="subjects">
                  <For each={warning.subjects}>
                    {(s) => (
                      <li>
                        <code class="break">{s}</code>
                      </li>
                    )}
                  </For>
                </ul>
              </details>
            </Show>
          </div>
        )}
      </For>
      <Show when={layers().length > 0}>
        <LayerChart layers={layers()} />
      </Show>
    </>
  );
}

const VIEW = { width: 600, height: 140 };

/**
 * Mean update size per layer as an inline SVG bar chart. The drawing stretches to the panel's width (no text
 * inside it, so nothing distorts); labels and the numbers are HTML, the numbers in a <details> table.
 */
function LayerChart(props: { layers: LayerUpdate[] }) {
  const id = createUniqueId();
  const max = () => props.layers.reduce((m, l) => Math.max(m, l.mean ?? 0), 0);
  const slot = () => VIEW.width / props.layers.length;
  // A few layers get bars of a bar's width, not wide blocks.
  const barWidth = () => Math.min(Math.max(slot() * 0.78, 0.5), 36);
  const height = (v: number | null) => (v === null || max() === 0 ? 0 : (v / max()) * (VIEW.height - 2));
  const first = () => props.layers[0]!.label;
  const last = () => props.layers[props.layers.length - 1]!.label;
  const missing = () => props.layers.filter((l) => l.mean === null).length;
  const describe = () =>
    `${props.layers.length} bars from ${first()} to ${last()}; ${max() > 0 ? `the largest mean update is ${formatNumber(max())}` : 'every update is zero'}` +
    (missing() > 0 ? `; ${missing()} with no finite value, marked in red` : '') +
    '. The table below lists every value.';

  return (
    <figure class="chart layer-chart" data-testid="layer-chart">
      <figcaption class="small">
        <strong>Update size per layer</strong> <span class="muted">mean ‖(α/r)·B·A‖ of the layer's adapted modules</span>
      </figcaption>
      <div class="layer-chart-plot">
        <span class="muted small layer-chart-max" aria-hidden="true">
          {max() > 0 ? `max ${formatNumber(max())}` : 'Every update is zero: no bar has a height.'}
        </span>
        <svg
          viewBox={`0 0 ${VIEW.width} ${VIEW.height}`}
          preserveAspectRatio="none"
          width="100%"
          height={VIEW.height}
          role="img"
          aria-labelledby={`${id}-title`}
          aria-describedby={`${id}-desc`}
        >
          <title id={`${id}-title`}>Mean update size per layer</title>
          <desc id={`${id}-desc`}>{describe()}</desc>
          <line class="axis" x1="0" x2={VIEW.width} y1={VIEW.height - 0.5} y2={VIEW.height - 0.5} />
          <For each={props.layers}>
            {(l, i) => (
              <Show
                when={l.mean !== null}
                fallback={
                  <rect class="bar bar-missing" x={i() * slot() + (slot() - barWidth()) / 2} y={VIEW.height - 8} width={barWidth()} height={8}>
                    <title>{`${l.label}: no finite value`}</title>
                  </rect>
                }
              >
                <rect
                  class="bar"
                  x={i() * slot() + (slot() - barWidth()) / 2}
                  y={VIEW.height - height(l.mean)}
                  width={barWidth()}
                  height={height(l.mean)}
                >
                  <title>{`${l.label}: ${formatNumber(l.mean)}`}</title>
                </rect>
              </Show>
            )}
          </For>
        </svg>
        <div class="layer-chart-axis muted small" aria-hidden="true">
          <span>{first()}</span>
          <Show when={props.layers.length > 1}>
            <span>{last()}</span>
          </Show>
        </div>
      </div>
      <details class="layer-table">
        <summary>Values per layer</summary>
        <TableWrap>
          <table class="table">
            <caption class="sr-only">Update size per layer</caption>
            <thead>
              <tr>
                <th scope="col">Layer</th>
                <th scope="col" class="num">
                  Modules
                </th>
                <th scope="col" class="num">
                  Mean
                </th>
                <th scope="col" class="num">
                  Sum
                </th>
              </tr>
            </thead>
            <tbody>
              <For each={props.layers}>
                {(l) => (
                  <tr data-testid="layer-row">
                    <th scope="row">{l.label}</th>
                    <td class="num">{l.modules}</td>
                    <td class="num">{l.mean === null ? 'not finite' : formatNumber(l.mean)}</td>
                    <td class="num">
                      {l.sum === null ? 'not finite' : formatNumber(l.sum)}
                      {l.nonFinite > 0 && l.sum !== null ? ` (${l.nonFinite} not finite)` : ''}
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </TableWrap>
      </details>
    </figure>
  );
}
