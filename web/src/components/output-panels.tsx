import { For, Show } from 'solid-js';
import { formatBytes, formatInt } from '../lib/format.ts';
import type { ModelDetail } from '../lib/trpc.ts';
import { LossChart } from './loss-chart.tsx';
import { TableWrap } from './table-wrap.tsx';

type Evaluations = ModelDetail['evaluations'];
type Metric = Evaluations[number]['metrics'][number];

const FORMAT: Record<Evaluations[number]['format'], string> = {
  hf_results: 'Hugging Face Trainer results',
  lm_eval: 'lm-evaluation-harness',
  llamafactory_predict: "LLaMA-Factory's predict results (BLEU and ROUGE in percent, its own tokenizers)",
  predictions: 'computed here from the predictions and their references (sacrebleu BLEU, rouge-score ROUGE)',
};

const SCALE: Record<Metric['scale'], string> = { fraction: '0–1', percent: '0–100', raw: '' };

function formatValue(v: Metric['value']): string {
  if (typeof v === 'string') return v === 'NaN' ? 'NaN' : v === 'Infinity' ? '∞' : '−∞';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 1000 ? v.toLocaleString('en-US', { maximumFractionDigits: 1 }) : v.toPrecision(4).replace(/\.?0+$/, '');
}

/** The loss curve panel of a model (its page and its share page): the chart, and where the curve came from. */
export function LossCurvePanel(props: { points: ModelDetail['lossCurve']; source: ModelDetail['curveSource'] }) {
  return (
    <section class="panel" aria-labelledby="h-chart">
      <h2 id="h-chart">Loss curve</h2>
      <Show when={props.points.length > 0} fallback={<p class="muted">No metrics were reported for this run.</p>}>
        <LossChart points={props.points} />
      </Show>
      <CurveSourceNote source={props.source} />
    </section>
  );
}

/** Where the loss curve came from, in a sentence under the chart. */
function CurveSourceNote(props: { source: ModelDetail['curveSource'] }) {
  const points = (n: number) => `${formatInt(n)} ${n === 1 ? 'point' : 'points'}`;
  return (
    <Show when={props.source}>
      {(s) => {
        const file = () => s().file;
        const worker = () => s().workerPoints;
        return (
          <p class="muted small" data-testid="curve-source">
            <Show when={file()} fallback={<>Curve from the worker's reports ({points(worker())}); the output had no trainer log.</>}>
              {(f) => (
                <Show
                  when={f().added > 0}
                  fallback={
                    <>
                      Curve from the worker's reports ({points(worker())}); <code>{f().path}</code> had {points(f().points)}, not used.
                    </>
                  }
                >
                  <Show
                    when={worker() > 0}
                    fallback={
                      <>
                        Curve read from <code>{f().path}</code> ({points(f().added)}): the worker reported none.
                      </>
                    }
                  >
                    Curve from the worker's reports ({points(worker())}) and <code>{f().path}</code> ({points(f().added)} more); the worker's points
                    win on a step both have.
                  </Show>
                </Show>
              )}
            </Show>
          </p>
        );
      }}
    </Show>
  );
}

/** Evaluation results that came with the output, a table per file, each number with its scale. */
export function EvaluationsPanel(props: { evaluations: Evaluations }) {
  return (
    <Show when={props.evaluations.length > 0}>
      <section class="panel" aria-labelledby="h-evals" data-testid="evaluations-panel">
        <h2 id="h-evals">Evaluation results</h2>
        <For each={props.evaluations}>
          {(set) => (
            <div class="eval-set" data-testid="eval-set" data-path={set.path}>
              <h3>
                <code class="path">{set.path}</code> <span class="muted small">{FORMAT[set.format]}</span>
              </h3>
              <TableWrap>
                <table class="table evals">
                  <thead>
                    <tr>
                      <th scope="col">Metric</th>
                      <th scope="col" class="num">
                        Value
                      </th>
                      <th scope="col">Scale</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={set.metrics}>
                      {(m) => (
                        <tr data-testid="eval-metric" data-metric={m.name}>
                          <th scope="row">
                            <Show when={m.task}>{(t) => <span class="muted">{t()} · </span>}</Show>
                            <code>{m.name}</code>
                          </th>
                          <td class="num">{formatValue(m.value)}</td>
                          <td class="muted">{SCALE[m.scale]}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </TableWrap>
            </div>
          )}
        </For>
      </section>
    </Show>
  );
}

/** What the ingest left out of the output, and the problems it met reading trainer files (none stopped it). */
export function OutputPanel(props: { output: ModelDetail['output'] }) {
  return (
    <Show when={props.output && (props.output.skipped.length > 0 || props.output.warnings.length > 0) ? props.output : null}>
      {(o) => (
        <section class="panel" aria-labelledby="h-output" data-testid="output-panel">
          <h2 id="h-output">Reading the output</h2>
          <Show when={o().skipped.length > 0}>
            <p>Not copied (a workspace admin can include these on the Usage page):</p>
            <ul class="plain-list" data-testid="skipped">
              <For each={o().skipped}>
                {(s) => (
                  <li data-rule={s.rule}>
                    <code>{s.rule}</code>: {formatInt(s.files)} {s.files === 1 ? 'file' : 'files'}, {formatBytes(s.bytes)}
                  </li>
                )}
              </For>
            </ul>
          </Show>
          <Show when={o().warnings.length > 0}>
            <p>Problems reading trainer files (the model was delivered; these parts are missing from it):</p>
            <ul class="plain-list" data-testid="output-warnings">
              <For each={o().warnings}>
                {(w) => (
                  <li data-code={w.code}>
                    <code class="path">{w.path}</code> {w.message}
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </section>
      )}
    </Show>
  );
}
