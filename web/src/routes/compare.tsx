import { A, useSearchParams } from '@solidjs/router';
import { keepPreviousData, useQuery } from '@tanstack/solid-query';
import { For, type JSX, Match, Show, Switch } from 'solid-js';
import { ConvergenceBadge } from '../components/badges.tsx';
import { CompareChart, RUN_COLOURS } from '../components/compare-chart.tsx';
import { EmptyState, Loaded } from '../components/states.tsx';
import { Stars } from '../components/stars.tsx';
import { formatCost, formatCount, formatInt, formatNumber } from '../lib/format.ts';
import { api, type Comparison, errorCode } from '../lib/trpc.ts';
import { useWorkspace } from '../lib/workspace.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';

type Compared = Comparison['models'][number];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COMPARE = { min: 2, max: 4 };

/** Which value of a row is best: the lowest, the highest, or none (a row where "best" means nothing). */
type Better = 'lower' | 'higher' | null;

interface MetricRow {
  label: string;
  better: Better;
  value: (m: Compared) => number | null;
  format: (n: number | null) => string;
}

const QUALITY: MetricRow[] = [
  { label: 'Score', better: 'higher', value: (m) => m.quality.score, format: (n) => (n === null ? '—' : `${n} / 5`) },
  { label: 'Final validation loss', better: 'lower', value: (m) => m.quality.finalValidationLoss, format: formatNumber },
  { label: 'Final training loss', better: 'lower', value: (m) => m.quality.finalTrainingLoss, format: formatNumber },
  { label: 'Initial loss', better: null, value: (m) => m.quality.initialLoss, format: formatNumber },
  {
    label: 'Loss reduction',
    better: 'higher',
    value: (m) => m.quality.lossReductionPct,
    format: (n) => (n === null ? '—' : `${n.toFixed(1)}%`),
  },
  { label: 'Perplexity', better: 'lower', value: (m) => m.quality.perplexity, format: formatNumber },
  { label: 'Overfit gap', better: 'lower', value: (m) => m.quality.overfitGap, format: formatNumber },
];

const TRAINING: MetricRow[] = [
  { label: 'Epochs', better: null, value: (m) => m.trainingSummary.epochsCompleted, format: formatInt },
  { label: 'Steps', better: null, value: (m) => m.trainingSummary.totalSteps, format: formatInt },
  {
    label: 'Duration',
    better: null,
    value: (m) => m.trainingSummary.durationHours,
    format: (n) => (n === null ? '—' : `${n.toFixed(2)} h`),
  },
  { label: 'Cost', better: null, value: (m) => m.trainingSummary.totalCost, format: formatCost },
  { label: 'Adapter parameters', better: null, value: (m) => m.adapter?.parameterCount ?? null, format: formatCount },
];

/** The indexes holding the best value of a row; none when fewer than two values are known or all are equal. */
function bestOf(values: readonly (number | null)[], better: Better): Set<number> {
  const known = values.flatMap((v, i) => (v === null || !Number.isFinite(v) ? [] : [{ v, i }]));
  if (!better || known.length < 2) return new Set();
  const target = better === 'lower' ? Math.min(...known.map((k) => k.v)) : Math.max(...known.map((k) => k.v));
  if (known.every((k) => k.v === target)) return new Set();
  return new Set(known.filter((k) => k.v === target).map((k) => k.i));
}

/** A configuration or adapter value as text: strings as they are, lists joined, anything else as JSON. */
function showValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v, 6);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(', ') || '—';
  return JSON.stringify(v);
}

function Swatch(props: { index: number }) {
  return (
    <svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">
      <rect width="12" height="12" rx="3" fill={RUN_COLOURS[props.index % RUN_COLOURS.length]} />
    </svg>
  );
}

/** 2 to 4 models side by side (`?ids=a,b,c`): their loss curves in one chart and a table of their differences. */
export default function ComparePage() {
  usePageTitle(() => 'Compare models');
  const ws = useWorkspace();
  const [params, setParams] = useSearchParams<{ ids?: string; all?: string }>();
  const ids = () => [...new Set((params.ids ?? '').split(',').map((id) => id.trim().toLowerCase()))].filter((id) => UUID.test(id));
  const valid = () => ids().length >= COMPARE.min && ids().length <= COMPARE.max;
  const all = () => params.all === '1';
  const query = useQuery(() => ({
    queryKey: ['models', 'compare', ids(), all()],
    queryFn: () => api.models.compare.query({ modelIds: ids(), allHyperparameters: all() }),
    enabled: valid(),
    placeholderData: keepPreviousData,
  }));

  return (
    <section aria-labelledby="compare-title">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <A href={ws.href('/models')}>Models</A> <span aria-hidden="true">/</span> <span aria-current="page">Compare</span>
      </nav>
      <div class="page-head">
        <div>
          <h1 id="compare-title">Compare models</h1>
          <p class="muted">Loss curves in one chart, and what differs between the runs.</p>
        </div>
      </div>
      <Switch>
        <Match when={!valid()}>
          <EmptyState title="Choose 2 to 4 models">
            <p class="muted">Select the models to compare with the checkboxes in the catalogue, then press Compare.</p>
            <A href={ws.href('/models')} class="btn btn-primary">
              Open the catalogue
            </A>
          </EmptyState>
        </Match>
        <Match when={errorCode(query.error) === 'NOT_FOUND'}>
          <EmptyState title="A model is missing">
            <p class="muted">One of these models is in the trash, was deleted, or belongs to a workspace you are not a member of.</p>
            <A href={ws.href('/models')} class="btn btn-primary">
              Back to the catalogue
            </A>
          </EmptyState>
        </Match>
        <Match when={true}>
          <Loaded
            query={query}
            what="the comparison"
            skeleton={
              <div class="detail-skeleton" role="status" aria-busy="true" aria-label="Loading the comparison">
                <div class="panel skeleton-block" />
                <div class="panel skeleton-block tall" />
              </div>
            }
          >
            {(data) => (
              <ComparisonView
                data={data()}
                all={all()}
                onAll={(on) => setParams({ all: on ? '1' : undefined }, { replace: true })}
                busy={query.isFetching}
              />
            )}
          </Loaded>
        </Match>
      </Switch>
    </section>
  );
}

function ComparisonView(props: { data: Comparison; all: boolean; onAll: (on: boolean) => void; busy: boolean }) {
  const models = () => props.data.models;
  const runs = () => models().map((m) => ({ label: `${m.name} (${m.ref})`, short: m.ref, points: m.lossCurve }));
  return (
    <>
      <ul class="compare-heads" aria-label="Compared models">
        <For each={models()}>
          {(m, i) => (
            <li class="card compare-head" data-testid="compare-head" data-model-id={m.id}>
              <h2 class="card-title">
                <Swatch index={i()} /> <A href={`/models/${m.id}`}>{m.name}</A>
              </h2>
              <code class="card-ref" title={m.ref}>
                {m.ref}
              </code>
              <div class="card-line">
                <Stars score={m.quality.score} />
                <ConvergenceBadge value={m.quality.convergence} />
              </div>
            </li>
          )}
        </For>
      </ul>

      <section class="panel" aria-labelledby="h-curves">
        <h2 id="h-curves">Loss curves</h2>
        <Show when={models().some((m) => m.lossCurve.length > 0)} fallback={<p class="muted">None of these runs reported metrics.</p>}>
          <CompareChart runs={runs()} />
        </Show>
      </section>

      <section class="panel" aria-labelledby="h-diff" aria-busy={props.busy}>
        <div class="section-head">
          <h2 id="h-diff">Differences</h2>
          <label class="check">
            <input type="checkbox" checked={props.all} onChange={(e) => props.onAll(e.currentTarget.checked)} /> Show all hyperparameters
          </label>
        </div>
        <p class="muted small">The best value of a row is marked where lower or higher is better (losses, score).</p>
        <TableWrap>
          <table class="table compare-table" data-testid="compare-table">
            <caption class="sr-only">Quality, training, hyperparameters and adapter of each model</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="sr-only">Field</span>
                </th>
                <For each={models()}>
                  {(m, i) => (
                    <th scope="col" class="run-col">
                      <Swatch index={i()} /> {m.name}
                    </th>
                  )}
                </For>
              </tr>
            </thead>
            <tbody>
              <GroupRow label="Quality" span={models().length} />
              <For each={QUALITY}>{(row) => <MetricTableRow row={row} models={models()} />}</For>
              <tr>
                <th scope="row">Convergence</th>
                <For each={models()}>
                  {(m) => (
                    <td>
                      <ConvergenceBadge value={m.quality.convergence} fallback="—" />
                    </td>
                  )}
                </For>
              </tr>
              <GroupRow label="Training" span={models().length} />
              <For each={TRAINING}>{(row) => <MetricTableRow row={row} models={models()} />}</For>
              <GroupRow label={props.all ? 'Hyperparameters' : 'Hyperparameters that differ'} span={models().length} />
              <DiffRows rows={props.data.hyperparameters.rows} span={models().length} none="The runs used the same hyperparameters." />
              <GroupRow label={props.all ? 'Adapter' : 'Adapter fields that differ'} span={models().length} />
              <DiffRows rows={props.data.adapterDiff.rows} span={models().length} none="The adapters have the same shape." />
            </tbody>
          </table>
        </TableWrap>
      </section>
    </>
  );
}

function GroupRow(props: { label: string; span: number }) {
  return (
    <tr class="group-row">
      <th scope="colgroup" colSpan={props.span + 1}>
        {props.label}
      </th>
    </tr>
  );
}

function MetricTableRow(props: { row: MetricRow; models: Compared[] }) {
  const values = () => props.models.map(props.row.value);
  const best = () => bestOf(values(), props.row.better);
  return (
    <tr data-testid="compare-row">
      <th scope="row">{props.row.label}</th>
      <For each={values()}>
        {(v, i) => (
          <td class="metric" classList={{ best: best().has(i()) }}>
            {props.row.format(v)}
            <Show when={best().has(i())}>
              <span class="best-mark"> best</span>
            </Show>
          </td>
        )}
      </For>
    </tr>
  );
}

function DiffRows(props: { rows: Comparison['hyperparameters']['rows']; span: number; none: string }): JSX.Element {
  return (
    <Show
      when={props.rows.length > 0}
      fallback={
        <tr>
          <td colSpan={props.span + 1} class="muted">
            {props.none}
          </td>
        </tr>
      }
    >
      <For each={props.rows}>
        {(r) => (
          <tr data-testid="diff-row" data-key={r.key} classList={{ differs: r.differs }}>
            <th scope="row">
              <code>{r.key}</code>
            </th>
            <For each={r.values}>
              {(v) => (
                <td>
                  <code class="diff-value">{showValue(v)}</code>
                </td>
              )}
            </For>
          </tr>
        )}
      </For>
    </Show>
  );
}
