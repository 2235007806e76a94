import { useMutation, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { formatBytes, formatNumber } from '../lib/format.ts';
import { api, errorMessage, fieldError, type ModelDetail } from '../lib/trpc.ts';
import { can } from '../lib/workspace.ts';
import { TableWrap } from './table-wrap.tsx';

type Keep = 'best' | 'best+final' | number;
type Pruned = Awaited<ReturnType<typeof api.models.pruneCheckpoints.mutate>>;

const KEEP_TEXT: Record<Exclude<Keep, number>, string> = {
  best: 'the best checkpoint',
  'best+final': 'the best and the final checkpoints',
};
const keepText = (keep: Keep) => (typeof keep === 'number' ? (keep === 1 ? 'the best checkpoint' : `the ${keep} best checkpoints`) : KEEP_TEXT[keep]);

/**
 * The run's checkpoints ranked by validation loss: which one is recommended and why, which adapter downloads
 * serve (members promote a checkpoint's, or go back to the final one; nothing is copied), and pruning
 * (admins: the other checkpoints' files are deleted for good) with the bytes it freed.
 */
export function CheckpointsPanel(props: { model: ModelDetail }) {
  const qc = useQueryClient();
  const cp = () => props.model.checkpoints;
  const refresh = () => qc.invalidateQueries({ queryKey: ['models'] });
  const promote = useMutation(() => ({
    mutationFn: (checkpoint: string) => api.models.promoteCheckpoint.mutate({ modelId: props.model.id, checkpoint }),
    onSettled: refresh,
  }));

  return (
    <section class="panel" aria-labelledby="h-checkpoints" data-testid="checkpoints-panel">
      <h2 id="h-checkpoints">Checkpoints</h2>
      <Show when={cp().items.length > 0} fallback={<p class="muted">This run saved no checkpoints: downloads serve its final adapter.</p>}>
        <Show when={cp().recommended}>
          {(r) => (
            <p class="recommendation" data-testid="recommended">
              Recommended: <code>{r().name}</code>, {r().reason}.
            </p>
          )}
        </Show>
        <Show when={cp().trainerBest}>
          {(t) => (
            <p classList={{ 'trainer-best': true, notice: t().agrees === false, 'notice-warn': t().agrees === false }} data-testid="trainer-best">
              The trainer's own pick (<code>best_model_checkpoint</code>): <code>{t().checkpoint ?? t().name}</code>
              {t().agrees === true ? ', the same as the recommendation.' : '.'}
              <Show when={t().note}>{(n) => <> {n()}</>}</Show>
            </p>
          )}
        </Show>
        <div class="main-adapter">
          <p data-testid="main-adapter">
            Downloads serve{' '}
            <Show when={cp().main} fallback={<strong>the run's final adapter</strong>}>
              {(main) => (
                <>
                  the adapter of <code>{main()}</code> (promoted)
                </>
              )}
            </Show>
            .
          </p>
          <Show when={cp().main && can(props.model.role, 'write')}>
            <button type="button" class="btn btn-small btn-secondary" disabled={promote.isPending} onClick={() => promote.mutate('final')}>
              Use final adapter
            </button>
          </Show>
        </div>
        <Show when={promote.isError}>
          <p class="form-error" role="alert">
            {fieldError(promote.error, 'checkpoint') ?? errorMessage(promote.error)}
          </p>
        </Show>
        <TableWrap>
          <table class="table checkpoints">
            <caption class="sr-only">Checkpoints by step</caption>
            <thead>
              <tr>
                <th scope="col">Checkpoint</th>
                <th scope="col" class="num">
                  Step
                </th>
                <th scope="col" class="num">
                  Validation loss
                </th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              <For each={cp().items}>
                {(c) => (
                  <tr classList={{ highlight: c.name === cp().recommended?.name }} data-testid="checkpoint-row" data-checkpoint={c.name}>
                    <th scope="row">
                      <code>{c.name}</code>
                    </th>
                    <td class="num">{c.step === null ? '—' : c.step.toLocaleString('en-US')}</td>
                    <td class="num">{c.validationLoss === null ? 'not evaluated' : formatNumber(c.validationLoss)}</td>
                    <td class="num">{formatBytes(c.bytes)}</td>
                    <td>
                      <span class="badges">
                        <Show when={c.name === cp().recommended?.name}>
                          <span class="badge badge-tone-good">Recommended</span>
                        </Show>
                        <Show when={c.name === cp().main}>
                          <span class="badge badge-tone-info">Main adapter</span>
                        </Show>
                        <Show when={c.pruned}>
                          <span class="badge badge-tone-neutral">Pruned</span>
                        </Show>
                        <Show when={c.name === cp().trainerBest?.checkpoint}>
                          <span class="badge badge-tone-neutral">Trainer's best</span>
                        </Show>
                      </span>
                    </td>
                    <td class="actions">
                      <Show when={can(props.model.role, 'write') && !c.pruned && c.name !== cp().main}>
                        <button
                          type="button"
                          class="btn btn-small btn-secondary"
                          disabled={promote.isPending}
                          onClick={() => promote.mutate(c.name)}
                          aria-label={`Promote ${c.name} to main adapter`}
                        >
                          Promote
                        </button>
                      </Show>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </TableWrap>
      </Show>
      <p class="muted small" data-testid="pruned-bytes">
        Freed by pruning so far: <strong>{formatBytes(cp().prunedBytes)}</strong>.
      </p>
      <Show when={can(props.model.role, 'admin') && cp().items.length > 0}>
        <PruneForm modelId={props.model.id} />
      </Show>
    </section>
  );
}

/** Prune… : choose what to keep, confirm, and see what was freed. */
function PruneForm(props: { modelId: string }) {
  const qc = useQueryClient();
  const [open, setOpen] = createSignal(false);
  const [choice, setChoice] = createSignal<'best' | 'best+final' | 'n'>('best');
  const [count, setCount] = createSignal(3);
  const [confirming, setConfirming] = createSignal<Keep | null>(null);
  const [result, setResult] = createSignal<Pruned | null>(null);
  const prune = useMutation(() => ({
    mutationFn: (keep: Keep) => api.models.pruneCheckpoints.mutate({ modelId: props.modelId, keep }),
    onSuccess: (res) => {
      setResult(res);
      setConfirming(null);
      setOpen(false);
    },
    onSettled: () => qc.invalidateQueries({ queryKey: ['models'] }),
  }));
  const keep = (): Keep => (choice() === 'n' ? count() : (choice() as 'best' | 'best+final'));

  return (
    <div class="prune">
      <div aria-live="polite">
        <Show when={result()}>
          {(r) => (
            <p class="notice notice-success" data-testid="prune-result">
              {r().pruned.length === 0
                ? (r().note ?? 'Nothing to prune: every checkpoint is kept.')
                : `Pruned ${r().pruned.join(', ')}; freed ${formatBytes(r().freedBytes)}. Kept ${r().kept.join(', ')}.`}
            </p>
          )}
        </Show>
      </div>
      <Show
        when={open()}
        fallback={
          <button type="button" class="btn btn-secondary" aria-expanded="false" aria-controls="prune-form" onClick={() => setOpen(true)}>
            Prune…
          </button>
        }
      >
        <form
          id="prune-form"
          class="prune-form"
          onSubmit={(e) => {
            e.preventDefault();
            setConfirming(keep());
          }}
        >
          <fieldset>
            <legend>Keep</legend>
            <label class="radio">
              <input type="radio" name="keep" value="best" checked={choice() === 'best'} onChange={() => setChoice('best')} /> The best checkpoint
            </label>
            <label class="radio">
              <input type="radio" name="keep" value="best+final" checked={choice() === 'best+final'} onChange={() => setChoice('best+final')} /> The
              best and the final
            </label>
            <label class="radio">
              <input type="radio" name="keep" value="n" checked={choice() === 'n'} onChange={() => setChoice('n')} /> The N best:
            </label>
            <label class="sr-only" for="prune-n">
              How many of the best to keep
            </label>
            <input
              id="prune-n"
              type="number"
              inputmode="numeric"
              min={1}
              max={999}
              value={count()}
              disabled={choice() !== 'n'}
              onInput={(e) => setCount(Math.max(1, Math.min(999, Math.trunc(Number(e.currentTarget.value)) || 1)))}
            />
          </fieldset>
          <p class="hint">Ranked by validation loss. The promoted checkpoint and the final adapter are always kept.</p>
          <Show
            when={confirming() !== null}
            fallback={
              <div class="confirm-row actions-start">
                <button type="submit" class="btn btn-danger">
                  Prune
                </button>
                <button type="button" class="btn btn-secondary" onClick={() => setOpen(false)}>
                  Cancel
                </button>
              </div>
            }
          >
            <div class="confirm-row actions-start">
              <p class="confirm-text">Keep {keepText(confirming()!)} and delete the other checkpoints' files for good?</p>
              <button type="button" class="btn btn-danger" disabled={prune.isPending} onClick={() => prune.mutate(confirming()!)}>
                {prune.isPending ? 'Pruning…' : 'Yes, delete them'}
              </button>
              <button type="button" class="btn btn-secondary" onClick={() => setConfirming(null)}>
                Cancel
              </button>
            </div>
          </Show>
          <Show when={prune.isError}>
            <p class="form-error" role="alert">
              {fieldError(prune.error, 'keep') ?? errorMessage(prune.error)}
            </p>
          </Show>
        </form>
      </Show>
    </div>
  );
}
