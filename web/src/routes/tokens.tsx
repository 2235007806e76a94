import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Match, Show, Switch } from 'solid-js';
import { CopyButton } from '../components/copy-button.tsx';
import { FieldError, FormError, Loaded, TableSkeleton } from '../components/states.tsx';
import { api, fieldError } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

type Scope = 'read' | 'write';

/** Lifetimes offered for a new token, in days; none (the default) lives until it is revoked. */
const EXPIRY_DAYS = [7, 30, 90, 365];

/**
 * The workspace's API tokens: the secret is shown once, right after it is made. A member sees and revokes
 * their own; an admin sees and may revoke every token of the workspace; a viewer makes none.
 */
export default function Tokens() {
  usePageTitle(() => 'API tokens');
  const qc = useQueryClient();
  const ws = useWorkspace();
  const workspaceId = () => ws.current().id;
  const [created, setCreated] = createSignal<{ name: string; token: string } | null>(null);
  const tokens = useQuery(() => ({ queryKey: ['tokens', workspaceId()], queryFn: () => api.tokens.list.query({ workspaceId: workspaceId() }) }));
  const create = useMutation(() => ({
    mutationFn: (v: { name: string; scope: Scope; expiresAt?: string }) =>
      api.tokens.create.mutate({ workspaceId: workspaceId(), name: v.name, scope: v.scope, ...(v.expiresAt ? { expiresAt: v.expiresAt } : {}) }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['tokens'] }),
  }));
  const nameError = () => fieldError(create.error, 'name', 'Name');
  const revoke = useMutation(() => ({
    mutationFn: (id: string) => api.tokens.revoke.mutate({ id }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['tokens'] }),
  }));

  const onCreate = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const scope: Scope = data.get('scope') === 'read' ? 'read' : 'write';
    if (!name) return;
    const days = Number(data.get('expires'));
    const expiresAt = EXPIRY_DAYS.includes(days) ? new Date(Date.now() + days * 86_400_000).toISOString() : undefined;
    const res = await create.mutateAsync({ name, scope, ...(expiresAt ? { expiresAt } : {}) }).catch(() => null);
    if (res) {
      setCreated({ name, token: res.token });
      form.reset();
    }
  };

  return (
    <section aria-labelledby="tokens-title">
      <div class="page-head">
        <div>
          <h1 id="tokens-title">API tokens</h1>
          <p class="muted">
            For scripts and the typed client in <strong>{ws.current().name}</strong>: send <code>Authorization: Bearer &lt;token&gt;</code>.
          </p>
        </div>
      </div>

      <Show when={can(ws.current().role, 'write')}>
        <form class="panel token-form" onSubmit={onCreate} aria-labelledby="new-token">
          <h2 id="new-token">New token</h2>
          <div class="row">
            <div class="field field-grow">
              <label for="t-name">Name</label>
              <input
                id="t-name"
                name="name"
                required
                maxLength={100}
                placeholder="e.g. laptop, CI"
                aria-invalid={nameError() ? 'true' : undefined}
                aria-describedby={nameError() ? 't-name-error' : undefined}
              />
              <FieldError id="t-name-error" message={nameError()} />
            </div>
            <div class="field">
              <label for="t-scope">Scope</label>
              <select id="t-scope" name="scope">
                <option value="write">Read and write</option>
                <option value="read">Read only (list, get, download)</option>
              </select>
            </div>
            <div class="field">
              <label for="t-expires">Expires</label>
              <select id="t-expires" name="expires">
                <option value="">Never</option>
                <For each={EXPIRY_DAYS}>{(d) => <option value={String(d)}>{d === 365 ? 'In a year' : `In ${d} days`}</option>}</For>
              </select>
            </div>
            <button type="submit" class="btn btn-primary" disabled={create.isPending}>
              {create.isPending ? 'Creating…' : 'Create token'}
            </button>
          </div>
          <FormError when={create.isError && !nameError()} error={create.error} />
        </form>
      </Show>

      <Show when={created()}>
        {(c) => (
          <div class="notice notice-success token-once" role="status">
            <p>
              <strong>Token “{c().name}” created.</strong> Copy it now: it will not be shown again.
            </p>
            <div class="token-value">
              <code data-testid="new-token">{c().token}</code>
              <CopyButton text={c().token} label="token" />
            </div>
          </div>
        )}
      </Show>

      <Loaded query={tokens} what="your tokens" skeleton={<TableSkeleton label="Loading tokens" columns={5} />}>
        {(rows) => (
          <Show when={rows().length > 0} fallback={<p class="muted">No tokens yet.</p>}>
            <TableWrap class="panel flush">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Scope</th>
                    <th scope="col">Owner</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  <For each={rows()}>
                    {(t) => (
                      <tr data-testid="token-row">
                        <th scope="row">{t.name}</th>
                        <td>
                          <code>{t.prefix}…</code>
                        </td>
                        <td>{t.scope === 'read' ? 'Read only' : 'Read and write'}</td>
                        <td>{t.mine ? 'You' : (t.createdBy?.name ?? t.createdBy?.email ?? '—')}</td>
                        <td>
                          <Time value={t.createdAt} />
                        </td>
                        <td>{t.lastUsedAt ? <Time value={t.lastUsedAt} /> : <span class="muted">Never</span>}</td>
                        <td>
                          <Switch
                            fallback={
                              <>
                                <span class="badge badge-tone-good">Active</span>
                                <Show when={t.expiresAt}>
                                  <span class="muted small token-expiry">
                                    {' '}
                                    until <Time value={t.expiresAt} />
                                  </span>
                                </Show>
                              </>
                            }
                          >
                            <Match when={t.revokedAt}>
                              <span class="badge badge-tone-neutral">
                                Revoked <Time value={t.revokedAt} />
                              </span>
                            </Match>
                            <Match when={t.expiresAt && new Date(t.expiresAt).getTime() <= Date.now()}>
                              <span class="badge badge-tone-neutral">
                                Expired <Time value={t.expiresAt} />
                              </span>
                            </Match>
                          </Switch>
                        </td>
                        <td class="actions">
                          <Show when={!t.revokedAt && (t.mine || can(ws.current().role, 'admin'))}>
                            <button
                              type="button"
                              class="btn btn-small btn-danger"
                              disabled={revoke.isPending && revoke.variables === t.id}
                              onClick={() => revoke.mutate(t.id)}
                              aria-label={`Revoke ${t.name}`}
                            >
                              Revoke
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
        )}
      </Loaded>
    </section>
  );
}
