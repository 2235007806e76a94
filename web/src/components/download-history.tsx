import { useInfiniteQuery } from '@tanstack/solid-query';
import { For, Match, Show, Switch } from 'solid-js';
import { api, errorMessage } from '../lib/trpc.ts';
import { Time } from './time.tsx';

type DownloadRecord = Awaited<ReturnType<typeof api.models.downloads.query>>['downloads'][number];

/** Paths shown per record before "and N more". */
const SHOWN_PATHS = 3;

/** Who: a teammate by name, a share link, or a member whose account is gone (or who left and is no longer visible). */
function who(d: DownloadRecord): string {
  if (d.user) return d.user.name || d.user.email;
  return d.via === 'share' ? 'Someone with the share link' : 'A former member';
}

function What(props: { files: DownloadRecord['files'] }) {
  return (
    <Switch>
      <Match when={props.files === 'bundle'}>the zip of all files</Match>
      <Match when={props.files === 'all'}>all files</Match>
      <Match when={Array.isArray(props.files) && props.files}>
        {(files) => (
          <Show when={files().length > 0} fallback="files since removed">
            <For each={files().slice(0, SHOWN_PATHS)}>
              {(f, i) => (
                <>
                  {i() > 0 ? ', ' : ''}
                  <code class="path">{f.path}</code>
                </>
              )}
            </For>
            <Show when={files().length > SHOWN_PATHS}> and {(files().length - SHOWN_PATHS).toLocaleString('en-US')} more</Show>
          </Show>
        )}
      </Match>
    </Switch>
  );
}

/** Who downloaded this model's files, when, and how (as a member or through its share link): the latest 20, then "More". */
export function DownloadHistoryPanel(props: { modelId: string }) {
  const history = useInfiniteQuery(() => ({
    queryKey: ['models', 'downloads', props.modelId],
    queryFn: ({ pageParam }) => api.models.downloads.query({ modelId: props.modelId, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
  }));
  const records = () => history.data?.pages.flatMap((p) => p.downloads) ?? [];

  return (
    <section class="panel" aria-labelledby="h-downloads" data-testid="download-history">
      <h2 id="h-downloads">Download history</h2>
      <Switch>
        <Match when={history.isError && !history.data}>
          <p class="form-error" role="alert">
            Could not load the download history: {errorMessage(history.error)}{' '}
            <button type="button" class="btn btn-small btn-secondary" onClick={() => void history.refetch()}>
              Retry
            </button>
          </p>
        </Match>
        <Match when={history.isPending}>
          <p class="skeleton-text w-75" role="status" aria-busy="true" aria-label="Loading the download history" />
        </Match>
        <Match when={records().length === 0}>
          <p class="muted">Nobody has downloaded this model yet.</p>
        </Match>
        <Match when={records().length > 0}>
          <ul class="history-list">
            <For each={records()}>
              {(d) => (
                <li class="history-item" data-testid="download-record">
                  <span class="history-when">
                    <Time value={d.at} />
                  </span>
                  <span class="history-who">
                    <strong>{who(d)}</strong>
                    <Show when={d.via === 'share'}>
                      {' '}
                      <span class="badge badge-tone-neutral">share link</span>
                    </Show>
                  </span>
                  <span class="history-what">
                    <What files={d.files} />
                  </span>
                </li>
              )}
            </For>
          </ul>
          <Show when={history.hasNextPage}>
            <button
              type="button"
              class="btn btn-small btn-secondary"
              disabled={history.isFetchingNextPage}
              onClick={() => void history.fetchNextPage()}
            >
              {history.isFetchingNextPage ? 'Loading…' : 'More'}
            </button>
          </Show>
        </Match>
      </Switch>
    </section>
  );
}
