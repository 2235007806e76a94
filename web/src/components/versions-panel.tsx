import { A } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { formatBytes, formatNumber } from '../lib/format.ts';
import { api, errorMessage, fieldError, type ModelDetail } from '../lib/trpc.ts';
import { can } from '../lib/workspace.ts';
import { ConvergenceBadge } from './badges.tsx';
import { FormError, Loaded } from './states.tsx';
import { Stars } from './stars.tsx';
import { TableWrap } from './table-wrap.tsx';
import { Time } from './time.tsx';

type Version = Awaited<ReturnType<typeof api.models.versions.query>>[number];
type AliasEvent = ModelDetail['aliasHistory'][number];

/** The version a history line offers to go back to: before a move, the one it left; before a removal, the one it held. */
function rollbackVersion(e: AliasEvent): number | null {
  return e.action === 'set' ? e.previousVersion : e.version;
}

/**
 * The model's family: its versions with their quality side by side (this one highlighted), the aliases each
 * holds (members and up set and remove them), and the history of alias moves with a rollback of the latest.
 */
export function VersionsPanel(props: { model: ModelDetail }) {
  const qc = useQueryClient();
  const m = () => props.model;
  const mayWrite = () => can(m().role, 'write');
  const versions = useQuery(() => ({
    queryKey: ['models', 'versions', m().workspaceId, m().family],
    queryFn: () => api.models.versions.query({ family: m().family, workspaceId: m().workspaceId }),
  }));
  const [done, setDone] = createSignal<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ['models'] });
  const setAlias = useMutation(() => ({
    mutationFn: (v: { modelId: string; alias: string; version: number }) => api.models.setAlias.mutate({ modelId: v.modelId, alias: v.alias }),
    onSuccess: (res) =>
      setDone(
        res.previousVersion === null || res.previousVersion === undefined
          ? `${res.alias} now points at v${res.version}.`
          : `${res.alias} moved from v${res.previousVersion} to v${res.version}.`,
      ),
    onSettled: refresh,
  }));
  const removeAlias = useMutation(() => ({
    mutationFn: (v: { modelId: string; alias: string }) => api.models.removeAlias.mutate(v),
    onSuccess: (res) => setDone(`${res.alias} removed from v${res.version}.`),
    onSettled: refresh,
  }));
  const byVersion = (n: number | null) => (n === null ? undefined : versions.data?.find((v) => v.version === n));

  // Only the newest line of each alias can be rolled back: older ones describe a state that has moved on.
  const latestOfAlias = () => {
    const seen = new Set<string>();
    const latest = new Set<AliasEvent>();
    for (const e of m().aliasHistory) {
      if (seen.has(e.alias)) continue;
      seen.add(e.alias);
      latest.add(e);
    }
    return latest;
  };

  const onSet = (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const alias = String(data.get('alias') ?? '').trim();
    const target = versions.data?.find((v) => v.id === data.get('version')) ?? null;
    if (!alias) return;
    setDone(null);
    setAlias.mutate({ modelId: target?.id ?? m().id, alias, version: target?.version ?? m().version }, { onSuccess: () => form.reset() });
  };

  return (
    <section class="panel" aria-labelledby="h-versions" data-testid="versions-panel">
      <h2 id="h-versions">
        Versions of <code>{m().family}</code>
      </h2>
      <div aria-live="polite">
        <Show when={done()}>
          <p class="notice notice-success">{done()}</p>
        </Show>
      </div>
      <FormError when={removeAlias.isError} error={removeAlias.error} />
      <Loaded query={versions} what="the versions">
        {(rows) => (
          <TableWrap>
            <table class="table versions">
              <caption class="sr-only">Versions of {m().family}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Aliases</th>
                  <th scope="col">Score</th>
                  <th scope="col">Convergence</th>
                  <th scope="col" class="num">
                    Validation loss
                  </th>
                  <th scope="col" class="num">
                    Perplexity
                  </th>
                  <th scope="col" class="num">
                    Size
                  </th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                <For each={rows()}>
                  {(v) => (
                    <VersionRow
                      version={v}
                      current={v.id === m().id}
                      mayWrite={mayWrite()}
                      onRemove={(alias) => removeAlias.mutate({ modelId: v.id, alias })}
                    />
                  )}
                </For>
              </tbody>
            </table>
          </TableWrap>
        )}
      </Loaded>

      <Show when={mayWrite()}>
        <form class="inline-form alias-form" onSubmit={onSet} aria-labelledby="h-set-alias">
          <h3 id="h-set-alias" class="sr-only">
            Set an alias
          </h3>
          <div class="field">
            <label for="alias-name">Alias</label>
            <input
              id="alias-name"
              name="alias"
              required
              autocomplete="off"
              placeholder="production"
              maxLength={32}
              aria-invalid={fieldError(setAlias.error, 'alias') ? 'true' : undefined}
              aria-describedby={fieldError(setAlias.error, 'alias') ? 'alias-hint alias-error' : 'alias-hint'}
            />
            <p id="alias-hint" class="hint">
              Lower case, like production or staging; it moves from whichever version holds it.
            </p>
          </div>
          <div class="field">
            <label for="alias-version">Version</label>
            <select id="alias-version" name="version">
              <For each={versions.data ?? []}>
                {(v) => (
                  <option value={v.id} selected={v.id === m().id}>
                    v{v.version}
                    {v.id === m().id ? ' (this model)' : ''}
                  </option>
                )}
              </For>
            </select>
          </div>
          <button type="submit" class="btn btn-primary" disabled={setAlias.isPending}>
            {setAlias.isPending ? 'Setting…' : 'Set alias'}
          </button>
        </form>
        <Show when={setAlias.isError}>
          <p id="alias-error" class="form-error" role="alert">
            {fieldError(setAlias.error, 'alias') ?? errorMessage(setAlias.error)}
          </p>
        </Show>
      </Show>

      <h3 class="subhead" id="h-alias-history">
        Alias history
      </h3>
      <Show when={m().aliasHistory.length > 0} fallback={<p class="muted">No alias has been set in this family yet.</p>}>
        <ol class="history" aria-labelledby="h-alias-history" data-testid="alias-history">
          <For each={m().aliasHistory}>
            {(e) => {
              const back = () => (latestOfAlias().has(e) ? byVersion(rollbackVersion(e)) : undefined);
              return (
                <li class="history-item" data-testid="alias-event">
                  <span>
                    <strong>{e.actor?.name ?? 'Someone'}</strong>{' '}
                    {e.action === 'set' ? (
                      <>
                        {e.previousVersion === null ? 'pointed' : 'moved'} <code>{e.alias}</code>
                        {e.previousVersion === null ? '' : ` from v${e.previousVersion}`} to v{e.version}
                      </>
                    ) : (
                      <>
                        removed <code>{e.alias}</code> from v{e.version}
                      </>
                    )}
                    <span class="muted small">
                      {' '}
                      · <Time value={e.at} />
                    </span>
                  </span>
                  <Show when={mayWrite() && back()}>
                    {(target) => (
                      <button
                        type="button"
                        class="btn btn-small btn-secondary"
                        disabled={setAlias.isPending}
                        onClick={() => {
                          setDone(null);
                          setAlias.mutate({ modelId: target().id, alias: e.alias, version: target().version });
                        }}
                        aria-label={`Roll back ${e.alias} to v${target().version}`}
                      >
                        Roll back
                      </button>
                    )}
                  </Show>
                </li>
              );
            }}
          </For>
        </ol>
      </Show>
    </section>
  );
}

function VersionRow(props: { version: Version; current: boolean; mayWrite: boolean; onRemove: (alias: string) => void }) {
  const v = () => props.version;
  return (
    <tr
      classList={{ highlight: props.current }}
      aria-current={props.current ? 'true' : undefined}
      data-testid="version-row"
      data-version={v().version}
    >
      <th scope="row">
        <Show when={!props.current} fallback={<span>v{v().version} (this model)</span>}>
          <A href={`/models/${v().id}`} aria-label={`v${v().version}: ${v().name}`}>
            v{v().version}
          </A>
        </Show>
        <span class="muted small block">{v().name}</span>
      </th>
      <td>
        <ul class="alias-list" aria-label={`Aliases of v${v().version}`}>
          <For each={v().aliases}>
            {(alias) => (
              <li class="badge badge-alias" data-testid="alias-badge">
                {alias}
                <Show when={props.mayWrite}>
                  <button
                    type="button"
                    class="badge-remove"
                    onClick={() => props.onRemove(alias)}
                    aria-label={`Remove alias ${alias} from v${v().version}`}
                  >
                    ×
                  </button>
                </Show>
              </li>
            )}
          </For>
        </ul>
      </td>
      <td>
        {/* A dash in the table: the page's header says "Not rated" once. */}
        <Show when={v().qualityScore} fallback="—">
          <Stars score={v().qualityScore} />
        </Show>
      </td>
      <td>
        <ConvergenceBadge value={v().convergenceQuality} fallback="—" />
      </td>
      <td class="num">{formatNumber(v().finalValidationLoss)}</td>
      <td class="num">{formatNumber(v().perplexity)}</td>
      <td class="num">{formatBytes(v().totalBytes)}</td>
      <td>
        <Time value={v().createdAt} />
      </td>
    </tr>
  );
}
