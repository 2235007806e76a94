import type { UseQueryResult } from '@tanstack/solid-query';
import { type Accessor, type JSX, Match, Switch } from 'solid-js';
import { errorMessage } from '../lib/trpc.ts';

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
      <Match when={props.query.isError && !props.query.data}>
        <ErrorState error={props.query.error} onRetry={() => void props.query.refetch()} title={`Could not load ${props.what}`} />
      </Match>
      <Match when={props.query.data}>{(data) => props.children(data)}</Match>
      <Match when={props.query.isPending}>
        {props.skeleton ?? <div class="skeleton-block" role="status" aria-busy="true" aria-label={`Loading ${props.what}`} />}
      </Match>
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
