import { A, useLocation, useNavigate, useSearchParams } from '@solidjs/router';
import { keepPreviousData, useQuery } from '@tanstack/solid-query';
import { createEffect, createSignal, For, on, onCleanup, onMount, Show } from 'solid-js';
import type { ConvergenceLabel } from '../../../server/vocabulary.ts';
import { CONVERGENCE_LABEL } from '../components/badges.tsx';
import { SelectionBar, type Trashed, TrashedNotice } from '../components/catalogue-actions.tsx';
import { ModelCard } from '../components/model-card.tsx';
import { StartTraining } from '../components/start-training.tsx';
import { CardGridSkeleton, EmptyState, Loaded } from '../components/states.tsx';
import { TrashList } from '../components/trash-list.tsx';
import { api, fieldError, type ModelSummary } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import { usePageTitle } from '../lib/title.ts';

type Params = {
  sort?: string;
  minScore?: string;
  convergence?: string;
  q?: string;
  page?: string;
  limit?: string;
  /** Comma-separated: models carrying every one of these tags. */
  tags?: string;
  /** `trash`: the models deleted and not yet purged. */
  view?: string;
  /** A dataset's id: models trained on it. */
  dataset?: string;
  /** `YYYY-MM-DD`, in the browser's zone: models created on or after this day, on or before that one. */
  from?: string;
  to?: string;
};

/** What the model page hands over when it moved a model to the trash (router state), so this page offers Undo. */
export interface CatalogueState {
  trashed?: Trashed;
}

// As the server accepts a tag (server/registry/schemas.ts); a URL with anything else just drops it.
const TAG = /^[a-z0-9][a-z0-9._:+-]{0,31}$/;
const MAX_TAGS = 20;

// Filter options, best first: the label map's keys (its object literal keeps the union's order).
const CONVERGENCE = Object.keys(CONVERGENCE_LABEL) as ConvergenceLabel[];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The instant a `YYYY-MM-DD` day starts (or ends, `end`) in the browser's zone, as ISO; undefined for anything else. */
function dayBound(day: string | undefined, end: boolean): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day ?? '');
  if (!m) return undefined;
  const d = end ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59, 999) : new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) || d.getFullYear() < 1 ? undefined : d.toISOString();
}

function int(v: string | undefined, min: number, max: number, fallback: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

/**
 * The catalogue: sort, filters, tags, page and the trash view live in the URL, so a view can be shared or
 * reloaded. Models are selected with checkboxes for Compare, Download and Delete.
 */
export default function Models() {
  const ws = useWorkspace();
  const location = useLocation<CatalogueState>();
  const [params, setParams] = useSearchParams<Params>();
  const trashView = () => params.view === 'trash';
  usePageTitle(() => (trashView() ? 'Trash' : 'Models'));
  const tags = () => [...new Set((params.tags ?? '').split(',').filter((t) => TAG.test(t)))].slice(0, MAX_TAGS);
  const sort = () => (params.sort === 'quality' ? 'quality' : 'recent') as 'recent' | 'quality';
  const page = () => int(params.page, 1, 1_000_000, 1);
  const limit = () => int(params.limit, 1, 100, 12);
  const minScore = () => (params.minScore ? int(params.minScore, 1, 5, 0) || undefined : undefined);
  const convergence = () => (CONVERGENCE.includes(params.convergence as ConvergenceLabel) ? (params.convergence as ConvergenceLabel) : undefined);
  const search = () => params.q?.trim() || undefined;
  const datasetId = () => (params.dataset && UUID.test(params.dataset) ? params.dataset : undefined);
  const createdAfter = () => dayBound(params.from, false);
  const createdBefore = () => dayBound(params.to, true);
  const datasets = useQuery(() => ({
    queryKey: ['datasets', ws.current().id],
    queryFn: () => api.datasets.list.query({ workspaceId: ws.current().id }),
    enabled: !trashView(),
  }));

  const input = () => ({
    workspaceId: ws.current().id,
    page: page(),
    limit: limit(),
    sort: sort(),
    filter: {
      minScore: minScore(),
      convergence: convergence(),
      search: search(),
      tags: tags().length ? tags() : undefined,
      datasetId: datasetId(),
      createdAfter: createdAfter(),
      createdBefore: createdBefore(),
    },
  });
  const query = useQuery(() => ({
    queryKey: ['models', 'list', input()],
    queryFn: () => api.models.list.query(input()),
    placeholderData: keepPreviousData,
    enabled: !trashView(),
  }));

  // The selection outlives paging and filtering (Compare may take models from two pages); a workspace switch clears it.
  const [selected, setSelected] = createSignal<ReadonlyMap<string, ModelSummary>>(new Map());
  const [trashed, setTrashed] = createSignal<Trashed | null>(location.state?.trashed ?? null);
  // Taken once: the browser keeps history state across a reload, which must not bring the notice back.
  const navigate = useNavigate();
  onMount(() => {
    if (location.state?.trashed) navigate(`${location.pathname}${location.search}`, { replace: true, scroll: false });
  });
  createEffect(on([() => ws.current().id, trashView], () => setSelected(new Map()), { defer: true }));
  const select = (models: readonly ModelSummary[], checked: boolean) => {
    const next = new Map(selected());
    for (const m of models) {
      if (checked) next.set(m.id, m);
      else next.delete(m.id);
    }
    setSelected(next);
  };
  const pageModels = () => query.data?.models ?? [];
  const pageSelected = () => pageModels().filter((m) => selected().has(m.id)).length;
  let selectAll: HTMLInputElement | undefined;
  createEffect(() => {
    // `indeterminate` is a property only (no attribute): some, not all, of this page is selected.
    if (selectAll) selectAll.indeterminate = pageSelected() > 0 && pageSelected() < pageModels().length;
  });
  const onTrashed = (t: Trashed) => {
    setSelected(new Map());
    setTrashed(t);
  };

  const setTags = (next: string[]) => setParams({ tags: next.length ? next.join(',') : undefined, page: undefined });
  const addTag = (tag: string) => {
    if (!tags().includes(tag)) setTags([...tags(), tag]);
  };

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

  // The server's word on the search (too long, say), as a sentence next to the box rather than an error page.
  const searchError = () => fieldError(query.error, 'filter.search', 'Search');
  const filtered = () => Boolean(minScore() || convergence() || search() || tags().length || datasetId() || createdAfter() || createdBefore());
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
          <h1 id="models-title">{trashView() ? 'Trash' : 'Models'}</h1>
          <Show when={!trashView()}>
            <p class="muted" aria-live="polite" data-testid="model-total">
              <Show when={query.data} fallback={<span class="skeleton-text skeleton-count" />}>
                {total() === 1 ? '1 model' : `${total().toLocaleString('en-US')} models`}
              </Show>
            </p>
          </Show>
        </div>
        <A href={ws.href('/jobs')} class="btn btn-secondary">
          Training jobs
        </A>
      </div>

      <nav class="view-tabs" aria-label="Catalogue views">
        {/* Plain links (the router still handles them): A would mark both current, as it matches the path alone. */}
        <a href={ws.href('/models')} aria-current={trashView() ? undefined : 'page'}>
          Catalogue
        </a>
        <a href={ws.href('/models?view=trash')} aria-current={trashView() ? 'page' : undefined}>
          Trash
        </a>
      </nav>

      <div aria-live="polite">
        {/* Keyed: each deletion gets a fresh notice (and Undo), not the last one's "restored". */}
        <Show when={trashed()} keyed>
          {(t) => <TrashedNotice trashed={t} onDismiss={() => setTrashed(null)} />}
        </Show>
      </div>

      <Show when={trashView()}>
        <TrashList role={ws.current().role} page={page()} onPage={goto} />
      </Show>

      <Show when={!trashView()}>
        {/* The search landmark as its element; the form inside only keeps Enter in the search box from navigating. */}
        <search aria-label="Filter models">
          <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
            <div class="field field-inline field-grow">
              <label for="m-search">Search</label>
              <input
                id="m-search"
                type="search"
                placeholder="Names and descriptions"
                value={term()}
                onInput={(e) => onSearch(e.currentTarget.value)}
                aria-invalid={searchError() ? 'true' : undefined}
                aria-describedby={searchError() ? 'm-search-error' : undefined}
              />
              <Show when={searchError()}>
                {(message) => (
                  <p id="m-search-error" class="field-error" role="alert">
                    {message()}
                  </p>
                )}
              </Show>
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
            <div class="field field-inline">
              <label for="m-dataset">Dataset</label>
              <select
                id="m-dataset"
                class="dataset-filter"
                onChange={(e) => setParams({ dataset: e.currentTarget.value || undefined, page: undefined })}
              >
                <option value="" selected={!datasetId()}>
                  Any
                </option>
                {/* Selected per option: the list arrives after the select is made. */}
                <For each={datasets.data ?? []}>
                  {(d) => (
                    <option value={d.id} selected={d.id === datasetId()}>
                      {d.name}
                    </option>
                  )}
                </For>
              </select>
            </div>
            <div class="field field-inline">
              <label for="m-from">Created from</label>
              <input
                id="m-from"
                type="date"
                value={params.from ?? ''}
                max={params.to}
                onChange={(e) => setParams({ from: e.currentTarget.value || undefined, page: undefined })}
              />
            </div>
            <div class="field field-inline">
              <label for="m-to">Created until</label>
              <input
                id="m-to"
                type="date"
                value={params.to ?? ''}
                min={params.from}
                onChange={(e) => setParams({ to: e.currentTarget.value || undefined, page: undefined })}
              />
            </div>
          </form>
          <Show when={tags().length > 0}>
            <div class="active-tags" data-testid="tag-filter">
              <span class="muted small">Tagged</span>
              <ul class="tag-list" aria-label="Tag filter">
                <For each={tags()}>
                  {(t) => (
                    <li>
                      <button
                        type="button"
                        class="tag tag-button tag-active"
                        onClick={() => setTags(tags().filter((x) => x !== t))}
                        aria-label={`Remove tag filter ${t}`}
                      >
                        {t} <span aria-hidden="true">×</span>
                      </button>
                    </li>
                  )}
                </For>
              </ul>
            </div>
          </Show>
        </search>

        <Show when={selected().size > 0}>
          <SelectionBar selected={[...selected().values()]} role={ws.current().role} onClear={() => setSelected(new Map())} onTrashed={onTrashed} />
        </Show>

        {/* A refused search is said next to the box; the list waits for a search it can run. */}
        <Show when={searchError()}>
          <p class="muted">Shorten the search to see your models.</p>
        </Show>
        <Show when={!searchError()}>
          <Loaded query={query} what="your models" skeleton={<CardGridSkeleton count={Math.min(limit(), 6)} />}>
            {(data) => (
              <Show when={total() > 0} fallback={<NoModels filtered={filtered()} />}>
                <div class="select-page">
                  <input
                    ref={selectAll}
                    id="m-select-page"
                    type="checkbox"
                    checked={pageModels().length > 0 && pageSelected() === pageModels().length}
                    onChange={(e) => select(data().models, e.currentTarget.checked)}
                  />
                  <label for="m-select-page">Select all on this page</label>
                </div>
                <ul class="model-grid" aria-busy={query.isPlaceholderData} aria-label="Models" data-testid="model-grid">
                  <For each={data().models}>
                    {(m) => <ModelCard model={m} selected={selected().has(m.id)} onSelect={(checked) => select([m], checked)} onTag={addTag} />}
                  </For>
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
              </Show>
            )}
          </Loaded>
        </Show>
      </Show>
    </section>
  );
}

/** The catalogue with nothing to list: nothing matches the filters, or the workspace has no models yet. */
function NoModels(props: { filtered: boolean }) {
  const ws = useWorkspace();
  return (
    <Show
      when={!props.filtered}
      fallback={
        <EmptyState title="No models match these filters">
          <p class="muted">Try a lower minimum score, another convergence class, fewer tags or a shorter search.</p>
          <A href={ws.href('/models')} class="btn btn-secondary">
            Clear filters
          </A>
        </EmptyState>
      }
    >
      <EmptyState title="No models yet">
        <p class="muted">A model appears here when a training job completes and its files are delivered.</p>
        <Show
          when={can(ws.current().role, 'write')}
          fallback={<p class="muted">Members of this workspace start training runs; their models will show here.</p>}
        >
          <StartTraining />
        </Show>
      </EmptyState>
    </Show>
  );
}
