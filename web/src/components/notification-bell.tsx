import { A } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createEffect, createSignal, For, on, onCleanup, Show } from 'solid-js';
import { isLive, startLiveUpdates } from '../lib/events.ts';
import { api } from '../lib/trpc.ts';
import { Time } from './time.tsx';

/** How many the bell lists; the rest are on /notifications (routes/notifications.tsx). */
const LATEST = 10;

/**
 * The bell: the unread count (the server's, of all of them, not of the 10 listed) follows the tab's event stream
 * (lib/events.ts, which the bell opens, being there once while signed in), and is polled every 5 s only while the
 * stream is down (and on window focus); opening the list marks what it shows as read, and its foot links to the
 * full history. A rising count also refreshes the catalogue and jobs, since a new model has just arrived.
 */
export function NotificationBell() {
  const qc = useQueryClient();
  onCleanup(startLiveUpdates(qc));
  const [open, setOpen] = createSignal(false);
  /** Ids that were unread when the list opened: still highlighted as new while it stays open. */
  const [fresh, setFresh] = createSignal<Set<string>>(new Set());
  let root!: HTMLDivElement;
  let button!: HTMLButtonElement;

  const list = useQuery(() => ({
    queryKey: ['notifications'],
    queryFn: () => api.notifications.list.query({ limit: LATEST }),
    refetchInterval: isLive() ? false : 5000,
    refetchOnWindowFocus: true,
  }));
  const unread = () => list.data?.unreadCount ?? 0;

  createEffect(
    on(unread, (n, prev) => {
      if (prev !== undefined && n > prev) {
        void qc.invalidateQueries({ queryKey: ['models'] });
        void qc.invalidateQueries({ queryKey: ['jobs'] });
      }
    }),
  );

  const markRead = useMutation(() => ({
    mutationFn: (ids: string[]) => api.notifications.markRead.mutate({ ids }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['notifications'] }),
  }));

  const unreadIds = () => (list.data?.notifications ?? []).filter((n) => !n.readAt).map((n) => n.id);
  const markShown = () => {
    const ids = unreadIds();
    if (ids.length) markRead.mutate(ids);
  };
  // Every unread one, not only the few the list shows.
  const markAllRead = useMutation(() => ({
    mutationFn: () => api.notifications.markAllRead.mutate(),
    onSettled: () => qc.invalidateQueries({ queryKey: ['notifications'] }),
  }));

  const toggle = () => {
    if (open()) return close();
    setFresh(new Set(unreadIds()));
    setOpen(true);
    markShown();
  };
  const close = (focusButton = false) => {
    setOpen(false);
    if (focusButton) button.focus();
  };

  const onKey = (e: KeyboardEvent) => {
    if (!open()) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      close(true);
      return;
    }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const items = [...root.querySelectorAll<HTMLElement>('[data-bell-item]')];
      if (!items.length) return;
      e.preventDefault();
      const at = items.indexOf(document.activeElement as HTMLElement);
      const next = e.key === 'ArrowDown' ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
      items[next]?.focus();
    }
  };
  const onOutside = (e: MouseEvent) => {
    if (open() && !root.contains(e.target as Node)) close();
  };
  document.addEventListener('keydown', onKey);
  document.addEventListener('mousedown', onOutside);
  onCleanup(() => {
    document.removeEventListener('keydown', onKey);
    document.removeEventListener('mousedown', onOutside);
  });

  return (
    <div class="bell" ref={root}>
      <button
        ref={button}
        type="button"
        class="btn btn-icon bell-button"
        aria-expanded={open()}
        aria-controls="bell-panel"
        aria-label={unread() ? `Notifications, ${unread()} unread` : 'Notifications'}
        onClick={toggle}
      >
        <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">
          <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.7 21a2 2 0 0 1-3.4 0" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
        <Show when={unread() > 0}>
          <span class="bell-count" data-testid="bell-count" aria-hidden="true">
            {unread() > 99 ? '99+' : unread()}
          </span>
        </Show>
      </button>
      <Show when={open()}>
        <section id="bell-panel" class="bell-panel" aria-label="Notifications">
          <div class="bell-head">
            <h2>Notifications</h2>
            <button
              type="button"
              class="btn btn-small btn-ghost"
              data-bell-item
              onClick={() => markAllRead.mutate()}
              disabled={unread() === 0 || markAllRead.isPending}
            >
              Mark all read
            </button>
          </div>
          <Show
            when={(list.data?.notifications.length ?? 0) > 0}
            fallback={<p class="bell-empty muted">Nothing yet. You will hear here when a model is ready.</p>}
          >
            <ul class="bell-list">
              <For each={list.data?.notifications}>
                {(n) => (
                  <li classList={{ 'bell-new': fresh().has(n.id) || !n.readAt }}>
                    <A href={n.link ?? '/models'} data-bell-item onClick={() => close()}>
                      <span class="bell-title">{n.title}</span>
                      <Show when={n.body}>
                        <span class="bell-body">{n.body}</span>
                      </Show>
                      <span class="bell-time">
                        <Time value={n.createdAt} show="relative" />
                      </span>
                    </A>
                  </li>
                )}
              </For>
            </ul>
          </Show>
          <A href="/notifications" class="bell-foot" data-bell-item data-testid="bell-all" onClick={() => close()}>
            {unread() > unreadIds().length ? `See all notifications (${unread() - unreadIds().length} more unread)` : 'See all notifications'}
          </A>
        </section>
      </Show>
    </div>
  );
}
