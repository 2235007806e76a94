import { A } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createEffect, createSignal, For, Show } from 'solid-js';
import { Stat } from '../components/model-panels.tsx';
import { FormError, Loaded } from '../components/states.tsx';
import { formatBytes } from '../lib/format.ts';
import { api, errorMessage, fieldError } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';

type Usage = Awaited<ReturnType<typeof api.workspaces.usage.query>>;
type KeepCheckpoints = Awaited<ReturnType<typeof api.workspaces.get.query>>['settings']['keepCheckpoints'];

function keepText(keep: KeepCheckpoints): string {
  if (keep === 'all') return 'every checkpoint';
  if (keep === 'best') return 'the best checkpoint';
  if (keep === 'best+final') return 'the best and the final checkpoints';
  return keep === 1 ? 'the best checkpoint' : `the ${keep} best checkpoints`;
}

/** The current workspace's storage: totals (against the quota when there is one), by family, the biggest models, and checkpoint retention. */
export default function UsagePage() {
  usePageTitle(() => 'Storage usage');
  const ws = useWorkspace();
  const id = () => ws.current().id;
  const usage = useQuery(() => ({ queryKey: ['workspaces', 'usage', id()], queryFn: () => api.workspaces.usage.query({ workspaceId: id() }) }));
  const info = useQuery(() => ({ queryKey: ['workspaces', 'get', id()], queryFn: () => api.workspaces.get.query({ workspaceId: id() }) }));

  return (
    <section aria-labelledby="usage-title">
      <div class="page-head">
        <div>
          <h1 id="usage-title">Storage usage</h1>
          <p class="muted">
            <strong>{ws.current().name}</strong>: what its models take in storage, live and in the trash.
          </p>
        </div>
      </div>
      <Loaded
        query={usage}
        what="the usage"
        skeleton={
          <div class="detail-skeleton" role="status" aria-busy="true" aria-label="Loading the usage">
            <div class="panel skeleton-block" />
            <div class="panel skeleton-block" />
          </div>
        }
      >
        {(u) => <UsageView usage={u()} />}
      </Loaded>
      <Show when={info.data}>
        {(w) => (
          <Show
            when={can(w().role, 'admin')}
            fallback={
              <section class="panel" aria-labelledby="h-keep">
                <h2 id="h-keep">Checkpoints kept</h2>
                <p class="muted" data-testid="keep-setting">
                  New models keep {keepText(w().settings.keepCheckpoints)}. Admins change this.
                </p>
              </section>
            }
          >
            <KeepForm workspaceId={w().id} keep={w().settings.keepCheckpoints} />
          </Show>
        )}
      </Show>
      <Show when={info.data}>{(w) => <SkippedForm workspaceId={w().id} include={w().settings.includeSkipped} admin={can(w().role, 'admin')} />}</Show>
    </section>
  );
}

function UsageView(props: { usage: Usage }) {
  const ws = useWorkspace();
  const u = () => props.usage;
  const share = () => (u().quotaBytes ? Math.min(100, (u().totalBytes * 100) / u().quotaBytes!) : 0);
  return (
    <>
      <section class="panel" aria-labelledby="h-total">
        <h2 id="h-total">Total</h2>
        <p class="usage-total" data-testid="usage-total">
          {formatBytes(u().totalBytes)}
          <Show when={u().quotaBytes}>{(q) => <span class="muted"> of {formatBytes(q())}</span>}</Show>
        </p>
        <Show when={u().quotaBytes}>
          {(q) => (
            <>
              <meter
                class="quota"
                min={0}
                max={q()}
                value={Math.min(u().totalBytes, q())}
                low={q() * 0.75}
                high={q() * 0.9}
                optimum={0}
                aria-label="Storage used of the quota"
              />
              <p class="hint">
                {share().toFixed(0)}% of the workspace quota. A delivery that would pass it is refused before copying; emptying the trash frees space.
              </p>
            </>
          )}
        </Show>
        <dl class="stats usage-stats">
          <Stat label="Live models">{formatBytes(u().liveBytes)}</Stat>
          <Stat label="In the trash">{formatBytes(u().trashBytes)}</Stat>
          <Stat label="In checkpoints">{formatBytes(u().checkpointBytes)}</Stat>
          <Stat label="Freed by pruning">{formatBytes(u().prunedBytes)}</Stat>
        </dl>
      </section>

      <div class="detail-grid">
        <section class="panel" aria-labelledby="h-families">
          <h2 id="h-families">By family</h2>
          <Show when={u().families.length > 0} fallback={<p class="muted">No models yet.</p>}>
            <TableWrap>
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Family</th>
                    <th scope="col" class="num">
                      Models
                    </th>
                    <th scope="col" class="num">
                      Size
                    </th>
                  </tr>
                </thead>
                <tbody>
                  <For each={u().families}>
                    {(f) => (
                      <tr data-testid="usage-family">
                        <th scope="row">
                          <code>{f.family}</code>
                        </th>
                        <td class="num">{f.models}</td>
                        <td class="num">{formatBytes(f.totalBytes)}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </TableWrap>
          </Show>
        </section>

        <section class="panel" aria-labelledby="h-top">
          <h2 id="h-top">Largest models</h2>
          <Show when={u().models.length > 0} fallback={<p class="muted">No models yet.</p>}>
            <TableWrap>
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col" class="num">
                      Size
                    </th>
                    <th scope="col" class="num">
                      Checkpoints
                    </th>
                  </tr>
                </thead>
                <tbody>
                  <For each={u().models}>
                    {(m) => (
                      <tr data-testid="usage-model">
                        <th scope="row">
                          <Show when={!m.deleted} fallback={<span>{m.name}</span>}>
                            <A href={`/models/${m.id}`}>{m.name}</A>
                          </Show>
                          <span class="muted small block">
                            <code>
                              {m.family}@v{m.version}
                            </code>
                            <Show when={m.deleted}>
                              {' '}
                              · <a href={ws.href('/models?view=trash')}>in the trash</a>
                            </Show>
                          </span>
                        </th>
                        <td class="num">{formatBytes(m.totalBytes)}</td>
                        <td class="num">{formatBytes(m.checkpointBytes)}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </TableWrap>
          </Show>
        </section>
      </div>
    </>
  );
}

/** Admins: which checkpoints a delivery keeps (workspaces.update). */
function KeepForm(props: { workspaceId: string; keep: KeepCheckpoints }) {
  const qc = useQueryClient();
  const [choice, setChoice] = createSignal<'all' | 'best' | 'best+final' | 'n'>('all');
  const [count, setCount] = createSignal(3);
  createEffect(() => {
    const keep = props.keep;
    setChoice(typeof keep === 'number' ? 'n' : keep);
    if (typeof keep === 'number') setCount(keep);
  });
  const save = useMutation(() => ({
    mutationFn: (keepCheckpoints: KeepCheckpoints) => api.workspaces.update.mutate({ workspaceId: props.workspaceId, settings: { keepCheckpoints } }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workspaces', 'get', props.workspaceId] }),
  }));
  const chosen = (): KeepCheckpoints => (choice() === 'n' ? count() : (choice() as Exclude<KeepCheckpoints, number>));
  const error = () => (save.isError ? (fieldError(save.error, 'settings.keepCheckpoints') ?? errorMessage(save.error)) : null);

  return (
    <form
      class="panel"
      aria-labelledby="h-keep"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(chosen());
      }}
    >
      <h2 id="h-keep">Keep checkpoints</h2>
      <p class="muted">
        When a model is delivered, only the chosen checkpoints are copied, ranked by their validation loss; the others are never stored. Models
        already delivered keep theirs until they are pruned from their page. The final adapter is always kept.
      </p>
      <fieldset class="keep-options">
        <legend class="sr-only">Checkpoints to keep</legend>
        <label class="radio">
          <input type="radio" name="keep" value="all" checked={choice() === 'all'} onChange={() => setChoice('all')} /> All checkpoints
        </label>
        <label class="radio">
          <input type="radio" name="keep" value="best" checked={choice() === 'best'} onChange={() => setChoice('best')} /> The best
        </label>
        <label class="radio">
          <input type="radio" name="keep" value="best+final" checked={choice() === 'best+final'} onChange={() => setChoice('best+final')} /> The best
          and the final
        </label>
        <span class="radio-with-input">
          <label class="radio">
            <input type="radio" name="keep" value="n" checked={choice() === 'n'} onChange={() => setChoice('n')} /> The N best:
          </label>
          <input
            id="keep-n"
            type="number"
            inputmode="numeric"
            min={1}
            max={999}
            value={count()}
            aria-label="How many of the best checkpoints to keep"
            aria-invalid={error() ? 'true' : undefined}
            onInput={(e) => setCount(Math.trunc(Number(e.currentTarget.value)) || 0)}
            onFocus={() => setChoice('n')}
          />
        </span>
      </fieldset>
      <div class="confirm-row actions-start">
        <button type="submit" class="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save'}
        </button>
      </div>
      <div aria-live="polite">
        <Show when={save.isSuccess && !save.isPending}>
          <p class="hint" data-testid="keep-saved">
            Saved: new models keep {keepText(save.data!.settings.keepCheckpoints)}.
          </p>
        </Show>
      </div>
      <Show when={error()}>
        <p class="form-error" role="alert">
          {error()}
        </p>
      </Show>
    </form>
  );
}

/**
 * Whether an ingest copies the folders no model needs (.git/, TensorBoard runs/, wandb/, unsloth's caches, interrupted
 * tmp-checkpoint-* saves): skipped and listed on the model by default; admins may include them.
 */
function SkippedForm(props: { workspaceId: string; include: boolean; admin: boolean }) {
  const qc = useQueryClient();
  const save = useMutation(() => ({
    mutationFn: (includeSkipped: boolean) => api.workspaces.update.mutate({ workspaceId: props.workspaceId, settings: { includeSkipped } }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workspaces', 'get', props.workspaceId] }),
  }));
  return (
    <section class="panel" aria-labelledby="h-skipped" data-testid="skipped-setting">
      <h2 id="h-skipped">Folders skipped at ingest</h2>
      <p class="muted">
        <code>.git/</code>, <code>runs/</code> (TensorBoard), <code>wandb/</code>, <code>unsloth_compiled_cache/</code>,{' '}
        <code>_unsloth_temporary_saved_buffers/</code> and interrupted <code>tmp-checkpoint-*</code> saves are not copied by default; each model lists
        what was left out.
      </p>
      <label class="radio">
        <input
          type="checkbox"
          checked={props.include}
          disabled={!props.admin || save.isPending}
          onChange={(e) => save.mutate(e.currentTarget.checked)}
        />{' '}
        Copy them too
      </label>
      <Show when={!props.admin}>
        <p class="muted small">Admins change this.</p>
      </Show>
      <FormError when={save.isError} error={save.error} />
    </section>
  );
}
