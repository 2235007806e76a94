import { A, useSearchParams } from '@solidjs/router';
import { keepPreviousData, useQuery } from '@tanstack/solid-query';
import { createEffect, createSignal, For, Match, on, onCleanup, Show, Switch } from 'solid-js';
import type { ConvergenceLabel } from '../../../server/vocabulary.ts';
import { CONVERGENCE_LABEL, ConvergenceBadge } from '../components/badges.tsx';
import { EmptyState, ErrorState } from '../components/states.tsx';
import { Stars } from '../components/stars.tsx';
import { formatBytes, formatCost, formatDate } from '../lib/format.ts';
import { api, type ModelSummary } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';

type Params = { sort?: string; minScore?: string; convergence?: string; q?: string; page?: string; limit?: string };

// Filter options, best first: the label map's keys (its object literal keeps the union's order).
const CONVERGENCE = Object.keys(CONVERGENCE_LABEL) as ConvergenceLabel[];

function int(v: string | undefined, min: number, max: number, fallback: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

/** The catalogue: sort, filters and page live in the URL, so a view can be shared or reloaded. */
export default function Models() {
  const ws = useWorkspace();
  const [params, setParams] = useSearchParams<Params>();
  const sort = () => (params.sort === 'quality' ? 'quality' : 'recent') as 'recent' | 'quality';
  const page = () => int(params.page, 1, 1_000_000, 1);
  const limit = () => int(params.limit, 1, 100, 12);
  const minScore = () => (params.minScore ? int(params.minScore, 1, 5, 0) || undefined : undefined);
  const convergence = () => (CONVERGENCE.includes(params.convergence as ConvergenceLabel) ? (params.convergence as ConvergenceLabel) : undefined);
  const search = () => params.q?.trim() || undefined;

  const input = () => ({
    workspaceId: ws.current().id,
    page: page(),
    limit: limit(),
    sort: sort(),
    filter: { minScore: minScore(), convergence: convergence(), search: search() },
  });
  const query = useQuery(() => ({
    queryKey: ['models', 'list', input()],
    queryFn: () => api.models.list.query(input()),
    placeholderData: keepPreviousData,
  }));

  // Search typed into the box reaches the URL after a short pause, not on every key.
  const [term, setTerm] = createSignal(params.q ?? '');
  createEffect(
    on(
      () => params.q,
      (q) => setTerm(q ?? ''),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  onCleanup(() => clearTimeout(timer));
  const onSearch = (v: string) => {
    setTerm(v);
    clearTimeout(timer);
    timer = setTimeout(() => setParams({ q: v.trim() || undefined, page: undefined }), 300);
  };

  const filtered = () => Boolean(minScore() || convergence() || search());
  const total = () => query.data?.pagination.total ?? 0;
  const totalPages = () => query.data?.pagination.totalPages ?? 0;
  const shownPage = () => query.data?.pagination.page ?? page();
  const goto = (p: number) => {
    setParams({ page: p > 1 ? String(p) : undefined });
    window.scrollTo({ top: 0 });
  };

  return (
    <section aria-labelledby="models-title">
      <div class="page-head">
        <div>
          <h1 id="models-title">Models</h1>
          <p class="muted" aria-live="polite" data-testid="model-total">
            <Show when={query.data} fallback={<span class="skeleton-text skeleton-count" />}>
              {total() === 1 ? '1 model' : `${total().toLocaleString('en-US')} models`}
            </Show>
          </p>
        </div>
        <A href={ws.href('/jobs')} class="btn btn-secondary">
          Training jobs
        </A>
      </div>

      {/* The search landmark as its element; the form inside only keeps Enter in the search box from navigating. */}
      <search aria-label="Filter models">
        <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
          <div class="field field-inline field-grow">
            <label for="m-search">Search</label>
            <input id="m-search" type="search" placeholder="Model name" value={term()} onInput={(e) => onSearch(e.currentTarget.value)} />
          </div>
          <div class="field field-inline">
            <label for="m-sort">Sort by</label>
            <select
              id="m-sort"
              value={sort()}
              onChange={(e) => setParams({ sort: e.currentTarget.value === 'quality' ? 'quality' : undefined, page: undefined })}
            >
              <option value="recent">Most recent</option>
              <option value="quality">Highest quality</option>
            </select>
          </div>
          <div class="field field-inline">
            <label for="m-min">Min score</label>
            <select
              id="m-min"
              value={String(minScore() ?? '')}
              onChange={(e) => setParams({ minScore: e.currentTarget.value || undefined, page: undefined })}
            >
              <option value="">Any</option>
              <For each={[5, 4, 3, 2, 1]}>{(n) => <option value={String(n)}>{n === 5 ? '5 stars' : `${n}+ stars`}</option>}</For>
            </select>
          </div>
          <div class="field field-inline">
            <label for="m-conv">Convergence</label>
            <select
              id="m-conv"
              value={convergence() ?? ''}
              onChange={(e) => setParams({ convergence: e.currentTarget.value || undefined, page: undefined })}
            >
              <option value="">Any</option>
              <For each={CONVERGENCE}>{(c) => <option value={c}>{CONVERGENCE_LABEL[c]}</option>}</For>
            </select>
          </div>
        </form>
      </search>

      <Switch>
        <Match when={query.isError && !query.data}>
          <ErrorState error={query.error} onRetry={() => void query.refetch()} title="Could not load your models" />
        </Match>
        <Match when={query.isPending}>
          <ul class="model-grid" aria-busy="true" aria-label="Loading models">
            <For each={Array.from({ length: Math.min(limit(), 6) })}>
              {() => (
                <li class="card model-card skeleton-card" aria-hidden="true">
                  <span class="skeleton-text skeleton-card-title" />
                  <span class="skeleton-text w-40" />
                  <span class="skeleton-text w-90" />
                  <span class="skeleton-text w-75" />
                </li>
              )}
            </For>
          </ul>
        </Match>
        <Match when={total() === 0 && filtered()}>
          <EmptyState title="No models match these filters">
            <p class="muted">Try a lower minimum score, another convergence class or a shorter search.</p>
            <A href={ws.href('/models')} class="btn btn-secondary">
              Clear filters
            </A>
          </EmptyState>
        </Match>
        <Match when={total() === 0}>
          <EmptyState title="No models yet">
            <p class="muted">A model appears here when a training job completes and its files are delivered.</p>
            <Show when={can(ws.current().role, 'write')}>
              {/* A bare path: it opens the workspace this browser showed last, which is this one. */}
              <A href="/jobs" class="btn btn-primary">
                Start training
              </A>
              <details class="how-to">
                <summary>How to train through the API</summary>
                <ol>
                  <li>
                    Create an <A href={ws.href('/tokens')}>API token</A>.
                  </li>
                  <li>
                    <code>datasets.create</code>, then <code>jobs.create</code> returns a worker token.
                  </li>
                  <li>
                    Your GPU worker calls <code>jobs.reportMetrics</code> and <code>jobs.complete</code> with its output folder.
                  </li>
                </ol>
              </details>
            </Show>
          </EmptyState>
        </Match>
        <Match when={query.data}>
          {(data) => (
            <>
              <ul class="model-grid" aria-busy={query.isPlaceholderData} aria-label="Models" data-testid="model-grid">
                <For each={data().models}>{(m) => <ModelCard model={m} />}</For>
              </ul>
              <Show when={totalPages() > 1}>
                <nav class="pagination" aria-label="Pagination">
                  <button type="button" class="btn btn-secondary" disabled={shownPage() <= 1} onClick={() => goto(shownPage() - 1)}>
                    Previous
                  </button>
                  <span class="muted" aria-live="polite" data-testid="page-indicator">
                    Page {shownPage()} of {totalPages()}
                  </span>
                  <button type="button" class="btn btn-secondary" disabled={shownPage() >= totalPages()} onClick={() => goto(shownPage() + 1)}>
                    Next
                  </button>
                </nav>
              </Show>
            </>
          )}
        </Match>
      </Switch>
    </section>
  );
}

function ModelCard(props: { model: ModelSummary }) {
  const m = () => props.model;
  return (
    <li class="card model-card" data-testid="model-card" data-model-id={m().id}>
      <div class="card-top">
        <h2 class="card-title">
          <A href={`/models/${m().id}`} class="stretched">
            {m().name}
          </A>
        </h2>
        <ConvergenceBadge value={m().convergenceQuality} />
      </div>
      <Stars score={m().qualityScore} />
      <dl class="card-meta">
        <div>
          <dt>Dataset</dt>
          <dd title={m().dataset.name}>{m().dataset.name}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <time datetime={m().createdAt}>{formatDate(m().createdAt)}</time>
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{formatCost(m().totalCost)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(m().totalBytes)}</dd>
        </div>
      </dl>
    </li>
  );
}
