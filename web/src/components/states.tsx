import type { UseQueryResult } from '@tanstack/solid-query';
import { type Accessor, For, type JSX, Match, Show, Switch } from 'solid-js';
import { errorMessage } from '../lib/trpc.ts';

/**
 * The server's sentence about one field (`fieldError`), under it: give the input `aria-invalid` and
 * `aria-describedby={id}` while there is one, so a screen reader reads it with the field.
 */
export function FieldError(props: { id: string; message: string | null }) {
  return (
    <Show when={props.message}>
      {(message) => (
        <p id={props.id} class="field-error" role="alert">
          {message()}
        </p>
      )}
    </Show>
  );
}

/** A form's refusal as a sentence, under the form, while `when` holds (a field's own goes in FieldError). */
export function FormError(props: { when: unknown; error: unknown }) {
  return (
    <Show when={props.when}>
      <p class="form-error" role="alert">
        {errorMessage(props.error)}
      </p>
    </Show>
  );
}

/** A failed load, with the reason and a way to try again. */
export function ErrorState(props: { error: unknown; onRetry: () => void; title?: string }) {
  return (
    <div class="panel state state-error" role="alert">
      <h2>{props.title ?? 'Could not load this page'}</h2>
      <p class="muted">{errorMessage(props.error)}</p>
      <button type="button" class="btn btn-primary" onClick={() => props.onRetry()}>
        Retry
      </button>
    </div>
  );
}

export function EmptyState(props: { title: string; children: JSX.Element }) {
  return (
    <div class="panel state state-empty">
      <svg class="state-icon" width="48" height="48" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.5" aria-hidden="true">
        <path d="M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z" />
        <path d="M3.3 7L12 12l8.7-5M12 22V12" />
      </svg>
      <h2>{props.title}</h2>
      {props.children}
    </div>
  );
}

/**
 * A query's three states in one shape: the error with Retry (`Could not load ${what}`), the skeleton while it
 * is pending, then `children` with the data. A failed background refetch keeps the data it already shows.
 */
export function Loaded<T>(props: {
  query: UseQueryResult<T>;
  what: string;
  skeleton?: JSX.Element;
  children: (data: Accessor<NonNullable<T>>) => JSX.Element;
}) {
  return (
    <Switch>
      {/* Pending first: reading `data` before it exists would suspend the page (solid-query's data is a resource). */}
      <Match when={props.query.isPending}>{props.skeleton ?? <LinesSkeleton label={`Loading ${props.what}`} />}</Match>
      <Match when={props.query.isError && !props.query.data}>
        <ErrorState error={props.query.error} onRetry={() => void props.query.refetch()} title={`Could not load ${props.what}`} />
      </Match>
      <Match when={props.query.data}>{(data) => props.children(data)}</Match>
    </Switch>
  );
}

/** A model page loading (members' page and share page): title, then the panels' outlines. */
export function DetailSkeleton() {
  return (
    <div class="detail-skeleton" role="status" aria-busy="true" aria-label="Loading model">
      <span class="skeleton-text skeleton-title" />
      <div class="panel skeleton-block" />
      <div class="panel skeleton-block tall" />
    </div>
  );
}

/** A list or a panel loading: a few lines of text's outline. */
function LinesSkeleton(props: { label: string; lines?: number }) {
  return (
    <div class="panel skeleton-lines" role="status" aria-busy="true" aria-label={props.label}>
      <For each={Array.from({ length: props.lines ?? 4 })}>{(_, i) => <span class={`skeleton-text ${i() % 2 ? 'w-75' : 'w-90'}`} />}</For>
    </div>
  );
}

/** A table loading: its header row, then `rows` rows of cells, in the panel the table will fill. */
export function TableSkeleton(props: { label: string; rows?: number; columns?: number }) {
  const columns = () => Array.from({ length: props.columns ?? 4 });
  return (
    <div class="panel skeleton-table" role="status" aria-busy="true" aria-label={props.label}>
      <For each={Array.from({ length: (props.rows ?? 5) + 1 })}>
        {(_, row) => (
          <div class={`skeleton-row${row() === 0 ? ' skeleton-row-head' : ''}`}>
            <For each={columns()}>{() => <span class="skeleton-text" />}</For>
          </div>
        )}
      </For>
    </div>
  );
}

/** The catalogue's cards loading: the same boxes as the cards, so nothing shifts when they arrive. */
export function CardGridSkeleton(props: { count?: number }) {
  return (
    <ul class="model-grid" aria-busy="true" aria-label="Loading models">
      <For each={Array.from({ length: props.count ?? 6 })}>
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
  );
}

/** A page's heading and its one-line description, loading. */
function HeadSkeleton() {
  return (
    <div class="page-head skeleton-head" aria-hidden="true">
      <div>
        <span class="skeleton-text skeleton-title" />
        <span class="skeleton-text skeleton-subtitle" />
      </div>
    </div>
  );
}

const TABLE_PAGES = new Set(['/jobs', '/tokens', '/members', '/webhooks', '/notifications']);

/**
 * A whole page loading (its code or its first data), shaped like the page at `pathname`: cards for the
 * catalogue, the panels of a model, a table for the lists, the form for sign-in. What the frame and the
 * router show while a page is on its way, so no navigation ever shows an empty area.
 */
export function PageSkeleton(props: { pathname: string }) {
  const path = () => props.pathname.replace(/\/+$/, '') || '/';
  return (
    <Switch
      fallback={
        <div class="page-skeleton" role="status" aria-busy="true" aria-label="Loading the page">
          <HeadSkeleton />
          <div class="detail-skeleton">
            <div class="panel skeleton-block" />
            <div class="panel skeleton-block" />
          </div>
        </div>
      }
    >
      <Match when={/^\/(sign-in|sign-up|invite\/)/.test(path())}>
        <div class="auth-page">
          <div class="auth-card panel skeleton-form" role="status" aria-busy="true" aria-label="Loading the page">
            <span class="skeleton-text skeleton-title" />
            <For each={[1, 2, 3]}>
              {() => (
                <>
                  <span class="skeleton-text w-40" />
                  <span class="skeleton-text skeleton-input" />
                </>
              )}
            </For>
          </div>
        </div>
      </Match>
      <Match when={path() === '/models' || path() === '/'}>
        <div class="page-skeleton" role="status" aria-busy="true" aria-label="Loading models">
          <HeadSkeleton />
          <span class="skeleton-text skeleton-toolbar" aria-hidden="true" />
          <CardGridSkeleton />
        </div>
      </Match>
      <Match when={/^\/(models\/|s\/)/.test(path())}>
        <DetailSkeleton />
      </Match>
      <Match when={TABLE_PAGES.has(path())}>
        <div class="page-skeleton">
          <HeadSkeleton />
          <TableSkeleton label="Loading the page" />
        </div>
      </Match>
    </Switch>
  );
}
