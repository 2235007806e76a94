import { useNavigate } from '@solidjs/router';
import { useMutation, useQueryClient } from '@tanstack/solid-query';
import { createSignal, Show } from 'solid-js';
import { api, errorMessage, type ModelSummary, type Role } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';

/** What compare lays side by side (models.compare takes 2 to 4) and what one zip or one trash call takes. */
const COMPARE = { min: 2, max: 4 };
const MAX_DOWNLOAD = 50;
const MAX_TRASH = 100;

/** Models just moved to the trash: their ids (for Undo) and how to name them. */
export interface Trashed {
  ids: string[];
  label: string;
}

/** "support-bot" or "3 models": how a notice names what it acted on. */
function modelsLabel(models: readonly { name: string }[]): string {
  return models.length === 1 ? models[0]!.name : `${models.length} models`;
}

/**
 * The bar over a catalogue selection: Compare (2 to 4, on their own page), Download (one zip) and, for
 * members and up, Delete (to the trash, after a confirmation; the caller offers Undo).
 */
export function SelectionBar(props: { selected: ModelSummary[]; role: Role; onClear: () => void; onTrashed: (t: Trashed) => void }) {
  const qc = useQueryClient();
  const ws = useWorkspace();
  const navigate = useNavigate();
  const [confirming, setConfirming] = createSignal(false);
  const ids = () => props.selected.map((m) => m.id);
  const count = () => props.selected.length;
  const comparable = () => count() >= COMPARE.min && count() <= COMPARE.max;

  const download = useMutation(() => ({
    mutationFn: (modelIds: string[]) => api.models.downloadMany.mutate({ modelIds }),
    // The zip is served as an attachment: the browser downloads it and stays on this page.
    onSuccess: (res) => window.location.assign(res.url),
  }));
  const trash = useMutation(() => ({
    mutationFn: (models: ModelSummary[]) => api.models.delete.mutate({ modelIds: models.map((m) => m.id) }),
    onSuccess: (_res, models) => {
      setConfirming(false);
      props.onTrashed({ ids: models.map((m) => m.id), label: modelsLabel(models) });
    },
    onSettled: () => qc.invalidateQueries({ queryKey: ['models'] }),
  }));

  const compareHint = () =>
    comparable() ? null : count() < COMPARE.min ? 'Select at least 2 models to compare.' : `Compare takes at most ${COMPARE.max} models.`;

  return (
    <section class="selection-bar" aria-label="Selected models" data-testid="selection-bar">
      <p class="selection-count" aria-live="polite">
        <strong>{count() === 1 ? '1 model selected' : `${count()} models selected`}</strong>
      </p>
      <div class="selection-actions">
        <button
          type="button"
          class="btn btn-primary"
          disabled={!comparable()}
          aria-describedby={compareHint() ? 'compare-hint' : undefined}
          onClick={() => navigate(ws.href(`/compare?ids=${ids().join(',')}`))}
        >
          Compare
        </button>
        <button
          type="button"
          class="btn btn-secondary"
          disabled={download.isPending || count() > MAX_DOWNLOAD}
          onClick={() => download.mutate(ids())}
        >
          {download.isPending ? 'Preparing…' : 'Download'}
        </button>
        <Show when={can(props.role, 'write')}>
          <Show
            when={confirming()}
            fallback={
              <button type="button" class="btn btn-danger" disabled={count() > MAX_TRASH} onClick={() => setConfirming(true)}>
                Delete
              </button>
            }
          >
            <span class="confirm-row">
              <button type="button" class="btn btn-danger" disabled={trash.isPending} onClick={() => trash.mutate(props.selected)}>
                {trash.isPending ? 'Moving…' : `Move ${modelsLabel(props.selected)} to the trash`}
              </button>
              <button type="button" class="btn btn-secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </span>
          </Show>
        </Show>
        <button type="button" class="btn btn-ghost" onClick={() => props.onClear()}>
          Clear selection
        </button>
      </div>
      <Show when={compareHint()}>
        {(hint) => (
          <p id="compare-hint" class="hint">
            {hint()}
          </p>
        )}
      </Show>
      <Show when={count() > MAX_DOWNLOAD}>
        <p class="hint">One download takes at most {MAX_DOWNLOAD} models.</p>
      </Show>
      <Show when={download.isError || trash.isError}>
        <p class="form-error" role="alert">
          {download.isError ? `Could not prepare the download: ${errorMessage(download.error)}` : `Could not delete: ${errorMessage(trash.error)}`}
        </p>
      </Show>
    </section>
  );
}

/** "… moved to the trash" with Undo (models.restore), until dismissed. Rendered inside an aria-live region. */
export function TrashedNotice(props: { trashed: Trashed; onDismiss: () => void }) {
  const qc = useQueryClient();
  const restore = useMutation(() => ({
    mutationFn: (modelIds: string[]) => api.models.restore.mutate({ modelIds }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['models'] }),
  }));
  return (
    <div class="notice notice-success undo-notice" data-testid="trashed-notice">
      <p>
        <Show when={restore.isSuccess} fallback={<>{props.trashed.label} moved to the trash.</>}>
          {props.trashed.label} restored.
        </Show>
      </p>
      <div class="confirm-row">
        <Show when={!restore.isSuccess}>
          <button type="button" class="btn btn-small btn-secondary" disabled={restore.isPending} onClick={() => restore.mutate(props.trashed.ids)}>
            {restore.isPending ? 'Restoring…' : 'Undo'}
          </button>
        </Show>
        <button type="button" class="btn btn-small btn-ghost" onClick={() => props.onDismiss()} aria-label="Dismiss this message">
          Dismiss
        </button>
      </div>
      <Show when={restore.isError}>
        <p class="form-error" role="alert">
          Could not restore: {errorMessage(restore.error)}
        </p>
      </Show>
    </div>
  );
}
