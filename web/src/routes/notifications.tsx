import { A } from '@solidjs/router';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { EmptyState, ErrorState } from '../components/states.tsx';
import { Time } from '../components/time.tsx';
import { api, errorMessage } from '../lib/trpc.ts';
import { usePageTitle } from '../lib/title.ts';

/** Rows per page: twice the bell's 10, so the page goes further back than the bell. */
const PAGE = 20;

/**
 * Every notification, newest first, a page at a time ("Show older" follows the server's `nextCursor`); the bell
 * shows the latest 10 and links here. The unread count is the server's, for all of them; "Mark all read" marks
 * them all on the server, however many pages they fill. Opening one marks it read.
 */
export default function Notifications() {
  usePageTitle(() => 'Notifications');
  const qc = useQueryClient();
  const [unreadOnly, setUnreadOnly] = createSignal(false);
  const list = useInfiniteQuery(() => ({
    // Under ['notifications'], so the bell's invalidations (live events, marking read) refresh this too.
    queryKey: ['notifications', 'history', { unreadOnly: unreadOnly() }],
    queryFn: ({ pageParam }) => api.notifications.list.query({ limit: PAGE, unreadOnly: unreadOnly(), cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
  }));
  const rows = () => list.data?.pages.flatMap((p) => p.notifications) ?? [];
  // The newest page's count is the freshest.
  const unread = () => list.data?.pages[0]?.unreadCount ?? 0;

  const refresh = () => qc.invalidateQueries({ queryKey: ['notifications'] });
  const markAll = useMutation(() => ({ mutationFn: () => api.notifications.markAllRead.mutate(), onSettled: refresh }));
  const markOne = useMutation(() => ({ mutationFn: (id: string) => api.notifications.markRead.mutate({ ids: [id] }), onSettled: refresh }));

  return (
    <section aria-labelledby="notifications-title">
      <div class="page-head">
        <div>
          <h1 id="notifications-title">Notifications</h1>
          <p class="muted" data-testid="notifications-unread">
            {list.data ? (unread() === 0 ? 'All read.' : `${unread().toLocaleString('en-US')} unread.`) : '\u00a0'}
          </p>
        </div>
        <div class="notifications-actions">
          <label class="check">
            <input type="checkbox" checked={unreadOnly()} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} />
            Unread only
          </label>
          <button type="button" class="btn btn-secondary" onClick={() => markAll.mutate()} disabled={unread() === 0 || markAll.isPending}>
            Mark all read
          </button>
        </div>
      </div>
      <Show when={markAll.isError}>
        <p class="notice notice-error" role="alert">
          Could not mark them read: {errorMessage(markAll.error)}
        </p>
      </Show>
      <Show when={list.isError && !list.data}>
        <ErrorState error={list.error} onRetry={() => void list.refetch()} title="Could not load your notifications" />
      </Show>
      <Show when={list.isPending}>
        <div class="panel skeleton-block tall" role="status" aria-busy="true" aria-label="Loading notifications" />
      </Show>
      <Show when={list.data}>
        <Show
          when={rows().length > 0}
          fallback={
            <EmptyState title={unreadOnly() ? 'Nothing unread' : 'No notifications yet'}>
              <p class="muted">You will hear here when a model is ready, an export finishes or a delivery fails.</p>
            </EmptyState>
          }
        >
          <ul class="panel flush notification-list" aria-label="Notifications, newest first">
            <For each={rows()}>
              {(n) => (
                <li class="notification-item" classList={{ 'is-unread': !n.readAt }} data-testid="notification">
                  <A href={n.link ?? '/models'} class="notification-link" onClick={() => !n.readAt && markOne.mutate(n.id)}>
                    <span class="notification-title">
                      <Show when={!n.readAt}>
                        <span class="unread-dot" aria-hidden="true" />
                        <span class="sr-only">Unread: </span>
                      </Show>
                      {n.title}
                    </span>
                  </A>
                  <Show when={n.body}>
                    <p class="notification-body">{n.body}</p>
                  </Show>
                  <p class="notification-time">
                    <Time value={n.createdAt} />
                  </p>
                </li>
              )}
            </For>
          </ul>
          <div class="notifications-more">
            <Show
              when={list.hasNextPage}
              fallback={
                <p class="muted small" data-testid="notifications-end">
                  {rows().length === 1 ? 'That is the only one.' : `That is all ${rows().length.toLocaleString('en-US')}.`}
                </p>
              }
            >
              <button type="button" class="btn btn-secondary" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
                {list.isFetchingNextPage ? 'Loading…' : 'Show older'}
              </button>
            </Show>
          </div>
          <Show when={list.isFetchNextPageError}>
            <p class="notice notice-error" role="alert">
              Could not load older ones: {errorMessage(list.error)}
            </p>
          </Show>
        </Show>
      </Show>
    </section>
  );
}
