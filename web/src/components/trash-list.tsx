import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { formatBytes } from '../lib/format.ts';
import { api, type ModelSummary, type Role } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import { EmptyState, FormError, Loaded, TableSkeleton } from './states.tsx';
import { Time } from './time.tsx';

const PAGE_SIZE = 20;

/**
 * When the hourly purge may remove a trashed model: the server's `purgeAfter` when its summary carries one
 * (deletion + TRASH_RETENTION_DAYS); until then the page shows when it was deleted only.
 */
function purgeAfterOf(m: ModelSummary): string | null {
  return 'purgeAfter' in m && typeof m.purgeAfter === 'string' ? m.purgeAfter : null;
}

/**
 * The trash of the current workspace (models.list with `deleted`): when each model was deleted, Restore
 * (members and up) and Delete forever (admins, after a confirmation; models.purge).
 */
export function TrashList(props: { role: Role; page: number; onPage: (page: number) => void }) {
  const qc = useQueryClient();
  const ws = useWorkspace();
  const [confirming, setConfirming] = createSignal<string | null>(null);
  const [done, setDone] = createSignal<string | null>(null);
  const input = () => ({ workspaceId: ws.current().id, page: props.page, limit: PAGE_SIZE, filter: { deleted: true } });
  const query = useQuery(() => ({
    queryKey: ['models', 'list', input()],
    queryFn: () => api.models.list.query(input()),
    placeholderData: keepPreviousData,
  }));
  const refresh = () => qc.invalidateQueries({ queryKey: ['models'] });
  const restore = useMutation(() => ({
    mutationFn: (m: ModelSummary) => api.models.restore.mutate({ modelIds: [m.id] }),
    onSuccess: (_res, m) => setDone(`${m.name} restored to the catalogue.`),
    onSettled: refresh,
  }));
  const purge = useMutation(() => ({
    mutationFn: (m: ModelSummary) => api.models.purge.mutate({ modelIds: [m.id] }),
    onSuccess: (_res, m) => {
      setConfirming(null);
      setDone(`${m.name} deleted for good; its files are being removed from storage.`);
    },
    onSettled: refresh,
  }));
  const total = () => query.data?.pagination.total ?? 0;
  const totalPages = () => query.data?.pagination.totalPages ?? 0;

  return (
    <div>
      <p class="muted" data-testid="trash-total">
        <Show when={query.data} fallback={<span class="skeleton-text skeleton-count" />}>
          {total() === 1 ? '1 model in the trash' : `${total().toLocaleString('en-US')} models in the trash`}. A deleted model can be restored until
          the trash is emptied of it; then its files are deleted for good.
        </Show>
      </p>
      <div aria-live="polite">
        <Show when={done()}>
          <p class="notice notice-success">{done()}</p>
        </Show>
      </div>
      <FormError when={restore.isError || purge.isError} error={restore.error ?? purge.error} />
      <Loaded query={query} what="the trash" skeleton={<TableSkeleton label="Loading the trash" />}>
        {(data) => (
          <Show
            when={total() > 0}
            fallback={
              <EmptyState title="The trash is empty">
                <p class="muted">Models you delete wait here for a while before their files are removed.</p>
              </EmptyState>
            }
          >
            <ul class="panel trash-list" aria-label="Models in the trash" aria-busy={query.isPlaceholderData} data-testid="trash-list">
              <For each={data().models}>
                {(m) => (
                  <li class="trash-item" data-testid="trash-row" data-model-id={m.id}>
                    <div class="trash-who">
                      <span class="trash-name">{m.name}</span>
                      <span class="muted small">
                        <code>{m.ref}</code> · {formatBytes(m.totalBytes)} · deleted <Time value={m.deletedAt} />
                        <Show when={purgeAfterOf(m)}>
                          {(at) => (
                            <>
                              {' '}
                              · purged after <Time value={at()} />
                            </>
                          )}
                        </Show>
                      </span>
                    </div>
                    <div class="trash-actions">
                      <Show when={can(props.role, 'write')}>
                        <button
                          type="button"
                          class="btn btn-small btn-secondary"
                          disabled={restore.isPending && restore.variables?.id === m.id}
                          onClick={() => restore.mutate(m)}
                          aria-label={`Restore ${m.name}`}
                        >
                          Restore
                        </button>
                      </Show>
                      <Show when={can(props.role, 'admin')}>
                        <Show
                          when={confirming() === m.id}
                          fallback={
                            <button
                              type="button"
                              class="btn btn-small btn-danger"
                              onClick={() => setConfirming(m.id)}
                              aria-label={`Delete ${m.name} forever`}
                            >
                              Delete forever
                            </button>
                          }
                        >
                          <span class="confirm-row">
                            <button type="button" class="btn btn-small btn-danger" disabled={purge.isPending} onClick={() => purge.mutate(m)}>
                              {purge.isPending ? 'Deleting…' : 'Yes, delete forever'}
                            </button>
                            <button type="button" class="btn btn-small btn-secondary" onClick={() => setConfirming(null)}>
                              Cancel
                            </button>
                          </span>
                        </Show>
                      </Show>
                    </div>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        )}
      </Loaded>
      <Show when={totalPages() > 1}>
        <nav class="pagination" aria-label="Pagination">
          <button type="button" class="btn btn-secondary" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
            Previous
          </button>
          <span class="muted" aria-live="polite">
            Page {props.page} of {totalPages()}
          </span>
          <button type="button" class="btn btn-secondary" disabled={props.page >= totalPages()} onClick={() => props.onPage(props.page + 1)}>
            Next
          </button>
        </nav>
      </Show>
    </div>
  );
}
