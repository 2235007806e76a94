import type { QueryClient } from '@tanstack/solid-query';
import { createSignal } from 'solid-js';
import type { LiveEventData } from '../../../server/events/publish.ts';

const [live, setLive] = createSignal(false);

/**
 * Whether this tab's event stream is connected now. The bell and the jobs page poll only while it is not:
 * live, they are refreshed by the events themselves.
 */
export const isLive = live;

/** After the browser gives up (an HTTP error: 401, 429, 503), a new stream is tried this much later; polling covers meanwhile. */
const REOPEN_MS = 15_000;

/**
 * Opens this tab's one EventSource on GET /api/events (the session cookie goes with it) and turns events into
 * query invalidations: a notification refreshes the bell (which refreshes models and jobs when a model
 * arrived), a job event the jobs list, an export event that model's exports. EventSource reconnects by itself
 * after a network drop and sends Last-Event-ID, so the server replays what was missed; after an HTTP error it
 * stops for good, and a new one is opened later with `?lastEventId=`. Returns the function that closes it.
 */
export function startLiveUpdates(qc: QueryClient): () => void {
  if (typeof EventSource === 'undefined') return () => {};
  let source: EventSource | null = null;
  let lastEventId = '';
  let opened = false;
  let reopen: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const track = (e: MessageEvent) => {
    if (e.lastEventId) lastEventId = e.lastEventId;
  };
  const connect = () => {
    const url = lastEventId ? `/api/events?lastEventId=${encodeURIComponent(lastEventId)}` : '/api/events';
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    es.onopen = () => {
      setLive(true);
      // A reconnect: what changed while away may be older than the server keeps for replay, so read it all again.
      if (opened) void qc.invalidateQueries({ predicate: (q) => ['notifications', 'jobs', 'models'].includes(String(q.queryKey[0])) });
      opened = true;
    };
    es.onerror = () => {
      setLive(false);
      if (es.readyState === EventSource.CLOSED && !stopped) {
        es.close();
        reopen = setTimeout(connect, REOPEN_MS);
      }
    };
    es.addEventListener('notification', (e) => {
      track(e);
      void qc.invalidateQueries({ queryKey: ['notifications'] });
    });
    es.addEventListener('job', (e) => {
      track(e);
      void qc.invalidateQueries({ queryKey: ['jobs'] });
    });
    es.addEventListener('export', (e) => {
      track(e);
      const data = JSON.parse(e.data) as LiveEventData['export'];
      // The key of the model's exports (components/exports-panel.tsx); it reads the model again once one settles.
      void qc.invalidateQueries({ queryKey: ['models', 'exports', data.artifactId] });
    });
  };
  connect();
  return () => {
    stopped = true;
    if (reopen) clearTimeout(reopen);
    source?.close();
    setLive(false);
  };
}
