import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createEffect, createSignal, For, on, Show } from 'solid-js';
import { isLive } from '../lib/events.ts';
import { formatBytes } from '../lib/format.ts';
import { api, errorMessage, fieldError, type ModelDetail } from '../lib/trpc.ts';
import { can } from '../lib/workspace.ts';
import { StatusBadge } from './badges.tsx';
import { startDownload } from './model-panels.tsx';
import { Time } from './time.tsx';

type ExportRow = Awaited<ReturnType<typeof api.models.exports.query>>[number];

/** How often the list is asked again while an export is queued or running (the job takes seconds to minutes). */
const POLL_MS = 2000;

const active = (rows: readonly ExportRow[] | undefined) => (rows ?? []).some((r) => r.status === 'queued' || r.status === 'running');

/**
 * GGUF exports for llama.cpp and Ollama: members ask for one (of the main adapter or a checkpoint's); everyone
 * who may read the model sees the list and downloads a ready one. The list is polled while one is in progress.
 */
export function ExportsPanel(props: { model: ModelDetail }) {
  const qc = useQueryClient();
  const modelId = () => props.model.id;
  const key = () => ['models', 'exports', modelId()];
  const exports = useQuery(() => ({
    queryKey: key(),
    queryFn: () => api.models.exports.query({ modelId: modelId() }),
    // The event stream (lib/events.ts) refreshes it while connected; polling only while it is down.
    refetchInterval: isLive() ? false : (query) => (active(query.state.data) ? POLL_MS : false),
  }));

  // An export that settles adds a file and changes the usage snippets: the model's page is read again. (Not on the
  // first load: the page read then is already current.)
  const settled = (rows: readonly ExportRow[]) => new Set(rows.filter((r) => r.status === 'ready' || r.status === 'failed').map((r) => r.id));
  createEffect(
    on(
      () => exports.data,
      (rows, prev) => {
        if (!rows || !prev) return;
        const before = settled(prev);
        if ([...settled(rows)].some((id) => !before.has(id))) void qc.invalidateQueries({ queryKey: ['models', 'get', modelId()] });
      },
    ),
  );

  const request = useMutation(() => ({
    mutationFn: (checkpoint: string | null) =>
      api.models.export.mutate({ modelId: modelId(), format: 'gguf', ...(checkpoint ? { checkpoint } : {}) }),
    onSettled: () => qc.invalidateQueries({ queryKey: key() }),
  }));

  const [checkpoint, setCheckpoint] = createSignal('');
  const checkpoints = () => props.model.checkpoints.items.filter((c) => !c.pruned);
  const mainLabel = () => (props.model.checkpoints.main ? `Main adapter (${props.model.checkpoints.main}, promoted)` : 'Main adapter (final)');
  const writer = () => can(props.model.role, 'write');

  const onSubmit = (e: SubmitEvent) => {
    e.preventDefault();
    request.mutate(checkpoint() || null);
  };

  return (
    <section class="panel" aria-labelledby="h-exports" data-testid="exports-panel">
      <h2 id="h-exports">Exports</h2>
      <p class="muted">
        A GGUF LoRA adapter (F16) for llama.cpp <code>--lora</code> and an Ollama <code>ADAPTER</code> line, converted here and checked with llama.cpp
        in our tests. Llama, Mistral and Qwen2 bases.
      </p>
      <Show when={writer()}>
        <form class="inline-form export-form" onSubmit={onSubmit}>
          <Show when={checkpoints().length > 0}>
            <div class="field">
              <label for="export-checkpoint">Adapter</label>
              <select id="export-checkpoint" value={checkpoint()} onChange={(e) => setCheckpoint(e.currentTarget.value)}>
                <option value="">{mainLabel()}</option>
                <For each={checkpoints()}>{(c) => <option value={c.name}>{c.name}</option>}</For>
              </select>
            </div>
          </Show>
          <button type="submit" class="btn btn-primary" disabled={request.isPending}>
            {request.isPending ? 'Asking…' : 'Export GGUF'}
          </button>
        </form>
        <Show when={request.isError}>
          <p class="form-error" role="alert" data-testid="export-error">
            {fieldError(request.error, 'checkpoint') ?? errorMessage(request.error)}
          </p>
        </Show>
      </Show>
      <Show when={exports.isError && !exports.data}>
        <p class="notice notice-error" role="alert">
          Could not load the exports: {errorMessage(exports.error)}
        </p>
      </Show>
      <Show when={exports.data}>
        {(rows) => (
          <Show
            when={rows().length > 0}
            fallback={<p class="muted">{writer() ? 'No exports yet.' : 'No exports yet. A member of the workspace can make one.'}</p>}
          >
            <ul class="export-list" aria-live="polite">
              <For each={rows()}>
                {(r) => (
                  <ExportItem
                    row={r}
                    modelId={modelId()}
                    main={props.model.checkpoints.main}
                    retry={writer() ? () => request.mutate(r.checkpoint) : null}
                    retrying={request.isPending}
                  />
                )}
              </For>
            </ul>
          </Show>
        )}
      </Show>
    </section>
  );
}

function ExportItem(props: { row: ExportRow; modelId: string; main: string | null; retry: (() => void) | null; retrying: boolean }) {
  const r = () => props.row;
  const download = useMutation(() => ({
    mutationFn: (fileId: string) => api.models.download.mutate({ modelId: props.modelId, fileIds: [fileId] }),
    onSuccess: (res) => {
      const f = res.files[0];
      if (f) startDownload(f.url, f.path.split('/').pop() ?? f.path);
    },
  }));
  const source = () =>
    r().checkpoint === null ? 'Main adapter' : r().checkpoint === props.main ? `${r().checkpoint} (main adapter)` : r().checkpoint;
  return (
    <li class="export-item" data-testid="export-row" data-status={r().status}>
      <div class="export-what">
        <span class="export-source">{source()}</span>
        <StatusBadge status={r().status} />
        <span class="muted small">
          <Show
            when={r().path}
            fallback={
              <>
                asked <Time value={r().createdAt} />
              </>
            }
          >
            {(p) => (
              <>
                <code class="break">{p()}</code> · {formatBytes(r().sizeBytes)}
              </>
            )}
          </Show>
        </span>
      </div>
      <Show when={r().status === 'ready' && r().fileId}>
        {(fileId) => (
          <div class="export-actions">
            <button
              type="button"
              class="btn btn-small btn-secondary"
              disabled={download.isPending}
              onClick={() => download.mutate(fileId())}
              aria-label={`Download ${r().path ?? 'the export'}`}
            >
              {download.isPending ? 'Preparing…' : 'Download'}
            </button>
          </div>
        )}
      </Show>
      <Show when={r().status === 'failed'}>
        <p class="cell-error" data-testid="export-failure">
          {r().error ?? 'The export failed.'}
        </p>
        <Show when={props.retry}>
          {(retry) => (
            <div class="export-actions">
              <button type="button" class="btn btn-small btn-secondary" disabled={props.retrying} onClick={() => retry()()}>
                Try again
              </button>
            </div>
          )}
        </Show>
      </Show>
      <Show when={download.isError}>
        <p class="cell-error" role="alert">
          Could not prepare the download: {errorMessage(download.error)}
        </p>
      </Show>
    </li>
  );
}
