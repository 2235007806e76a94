import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import type { WebhookEvent } from '../../../server/webhooks/schemas.ts';
import { CopyButton } from '../components/copy-button.tsx';
import { FieldError, FormError, Loaded, TableSkeleton } from '../components/states.tsx';
import { api, fieldError } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

type Hook = Awaited<ReturnType<typeof api.webhooks.list.query>>[number];
type Delivery = Awaited<ReturnType<typeof api.webhooks.deliveries.query>>['deliveries'][number];

const EVENTS: Record<WebhookEvent, string> = {
  'model.ready': 'A model is ready',
  'model.failed': 'A run could not be delivered',
  'model.deleted': 'A model is moved to the trash',
  'export.ready': 'A GGUF export is ready',
};

const STATUS_TONE: Record<Delivery['status'], string> = { succeeded: 'good', failed: 'bad', pending: 'warn' };

/** A signing secret, shown once, right after it is made (create or rotate). */
function SecretOnce(props: { title: string; secret: string }) {
  return (
    <div class="notice notice-success token-once" role="status">
      <p>
        <strong>{props.title}</strong> Copy the signing secret now: it will not be shown again.
      </p>
      <div class="token-value">
        <code data-testid="webhook-secret">{props.secret}</code>
        <CopyButton text={props.secret} label="signing secret" />
      </div>
    </div>
  );
}

/**
 * The workspace's webhooks (admins and owners): where its events are POSTed, signed per Standard Webhooks.
 * Create one (its secret is shown once), send a test, pause or resume it, rotate its secret, delete it, and
 * read its deliveries with every attempt.
 */
export default function Webhooks() {
  usePageTitle(() => 'Webhooks');
  const qc = useQueryClient();
  const ws = useWorkspace();
  const workspaceId = () => ws.current().id;
  const isAdmin = () => can(ws.current().role, 'admin');
  const [secret, setSecret] = createSignal<{ title: string; secret: string } | null>(null);
  const hooks = useQuery(() => ({
    queryKey: ['webhooks', workspaceId()],
    queryFn: () => api.webhooks.list.query({ workspaceId: workspaceId() }),
    enabled: isAdmin(),
  }));
  const create = useMutation(() => ({
    mutationFn: (v: { url: string; events: WebhookEvent[]; description: string }) =>
      api.webhooks.create.mutate({
        workspaceId: workspaceId(),
        url: v.url,
        events: v.events,
        ...(v.description ? { description: v.description } : {}),
      }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['webhooks'] }),
  }));
  const urlError = () => fieldError(create.error, 'url', 'The receiver URL');

  const onCreate = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const events = data.getAll('events').map(String) as WebhookEvent[];
    const url = String(data.get('url') ?? '').trim();
    const res = await create.mutateAsync({ url, events, description: String(data.get('description') ?? '').trim() }).catch(() => null);
    if (res) {
      setSecret({ title: `Webhook to ${url} created.`, secret: res.secret });
      // The text fields only: the event choices stay for the next webhook.
      for (const name of ['url', 'description']) (form.elements.namedItem(name) as HTMLInputElement).value = '';
    }
  };

  return (
    <section aria-labelledby="webhooks-title">
      <div class="page-head">
        <div>
          <h1 id="webhooks-title">Webhooks</h1>
          <p class="muted">
            Events of <strong>{ws.current().name}</strong>, POSTed as JSON and signed per Standard Webhooks (<code>webhook-id</code>,{' '}
            <code>webhook-timestamp</code>, <code>webhook-signature</code>). Failed deliveries are retried for a day.
          </p>
        </div>
      </div>

      <Show when={isAdmin()} fallback={<p class="notice">Only admins and owners of this workspace manage its webhooks.</p>}>
        <form class="panel token-form webhook-form" onSubmit={onCreate} aria-labelledby="new-webhook">
          <h2 id="new-webhook">New webhook</h2>
          <div class="field">
            <label for="wh-url">Receiver URL</label>
            <input
              id="wh-url"
              name="url"
              type="url"
              required
              maxLength={2048}
              placeholder="https://ci.example.com/hooks/lora"
              aria-invalid={urlError() ? 'true' : undefined}
              aria-describedby={urlError() ? 'wh-url-hint wh-url-error' : 'wh-url-hint'}
            />
            <p class="hint" id="wh-url-hint">
              https:// on a public host; no redirects are followed.
            </p>
            <FieldError id="wh-url-error" message={urlError()} />
          </div>
          <fieldset class="keep-options webhook-events">
            <legend>Events</legend>
            <For each={Object.entries(EVENTS) as [WebhookEvent, string][]}>
              {([event, label]) => (
                <label class="check">
                  <input type="checkbox" name="events" value={event} checked={event === 'model.ready'} />
                  <span>
                    <code>{event}</code> <span class="muted small">{label}</span>
                  </span>
                </label>
              )}
            </For>
          </fieldset>
          <div class="row">
            <div class="field field-grow">
              <label for="wh-description">Description (optional)</label>
              <input id="wh-description" name="description" maxLength={500} placeholder="e.g. deploy pipeline" />
            </div>
            <button type="submit" class="btn btn-primary" disabled={create.isPending}>
              {create.isPending ? 'Creating…' : 'Create webhook'}
            </button>
          </div>
          <FormError when={create.isError && !urlError()} error={create.error} />
        </form>

        <Show when={secret()}>{(s) => <SecretOnce title={s().title} secret={s().secret} />}</Show>

        <Loaded query={hooks} what="the webhooks" skeleton={<TableSkeleton label="Loading webhooks" rows={3} />}>
          {(rows) => (
            <Show when={rows().length > 0} fallback={<p class="muted">No webhooks yet.</p>}>
              <For each={rows()}>{(hook) => <WebhookPanel hook={hook} onSecret={setSecret} />}</For>
            </Show>
          )}
        </Loaded>
      </Show>
    </section>
  );
}

function WebhookPanel(props: { hook: Hook; onSecret: (s: { title: string; secret: string }) => void }) {
  const qc = useQueryClient();
  const [open, setOpen] = createSignal(false);
  const [confirmDelete, setConfirmDelete] = createSignal(false);
  const id = () => props.hook.id;
  const refresh = () => qc.invalidateQueries({ queryKey: ['webhooks'] });
  const toggle = useMutation(() => ({
    mutationFn: (enabled: boolean) => api.webhooks.update.mutate({ webhookId: id(), enabled }),
    onSettled: refresh,
  }));
  const test = useMutation(() => ({
    mutationFn: () => api.webhooks.test.mutate({ webhookId: id() }),
    onSuccess: () => setOpen(true),
    onSettled: () => qc.invalidateQueries({ queryKey: ['webhook-deliveries', id()] }),
  }));
  const rotate = useMutation(() => ({
    mutationFn: () => api.webhooks.rotateSecret.mutate({ webhookId: id() }),
    onSuccess: (res) => props.onSecret({ title: `New secret for ${props.hook.url}.`, secret: res.secret }),
  }));
  const remove = useMutation(() => ({ mutationFn: () => api.webhooks.delete.mutate({ webhookId: id() }), onSettled: refresh }));
  const failed = () => toggle.error ?? test.error ?? rotate.error ?? remove.error;

  return (
    <article class="panel webhook" data-testid="webhook" aria-labelledby={`wh-${id()}`}>
      <div class="webhook-head">
        <h2 id={`wh-${id()}`} class="webhook-url">
          {props.hook.url}
        </h2>
        <Show when={props.hook.enabled} fallback={<span class="badge badge-tone-neutral">Disabled</span>}>
          <span class={`badge badge-tone-${props.hook.failingSince ? 'warn' : 'good'}`}>{props.hook.failingSince ? 'Failing' : 'Enabled'}</span>
        </Show>
      </div>
      <Show when={props.hook.description}>
        <p class="muted">{props.hook.description}</p>
      </Show>
      <ul class="tag-list" aria-label="Events">
        <For each={props.hook.events}>
          {(e) => (
            <li class="tag">
              <code>{e}</code>
            </li>
          )}
        </For>
      </ul>
      <Show when={!props.hook.enabled && props.hook.disabledReason}>
        <p class="cell-error" role="note">
          {props.hook.disabledReason}
        </p>
      </Show>
      <Show when={props.hook.enabled && props.hook.failingSince}>
        <p class="cell-error" role="note">
          Failing since <Time value={props.hook.failingSince} />; after 3 days without a success it is disabled.
        </p>
      </Show>

      <div class="webhook-actions">
        <button type="button" class="btn btn-small btn-secondary" disabled={test.isPending} onClick={() => test.mutate()}>
          {test.isPending ? 'Sending…' : 'Send test'}
        </button>
        <button type="button" class="btn btn-small btn-secondary" onClick={() => setOpen(!open())} aria-expanded={open()}>
          {open() ? 'Hide deliveries' : 'Deliveries'}
        </button>
        <button type="button" class="btn btn-small btn-secondary" disabled={toggle.isPending} onClick={() => toggle.mutate(!props.hook.enabled)}>
          {props.hook.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" class="btn btn-small btn-secondary" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
          Rotate secret
        </button>
        <Show
          when={confirmDelete()}
          fallback={
            <button type="button" class="btn btn-small btn-danger" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          }
        >
          <span class="confirm-row">
            <button type="button" class="btn btn-small btn-danger" disabled={remove.isPending} onClick={() => remove.mutate()}>
              {remove.isPending ? 'Deleting…' : 'Yes, delete it'}
            </button>
            <button type="button" class="btn btn-small btn-secondary" onClick={() => setConfirmDelete(false)}>
              Cancel
            </button>
          </span>
        </Show>
      </div>
      <FormError when={failed()} error={failed()} />
      <Show when={open()}>
        <Deliveries webhookId={id()} />
      </Show>
    </article>
  );
}

function Deliveries(props: { webhookId: string }) {
  const deliveries = useQuery(() => ({
    queryKey: ['webhook-deliveries', props.webhookId],
    queryFn: () => api.webhooks.deliveries.query({ webhookId: props.webhookId, limit: 20 }),
    // While an attempt is still to come, follow it.
    refetchInterval: (q) => (q.state.data?.deliveries.some((d) => d.status === 'pending') ? 2000 : false),
  }));
  return (
    <Loaded query={deliveries} what="the deliveries" skeleton={<p class="muted">Loading deliveries…</p>}>
      {(page) => (
        <Show when={page().deliveries.length > 0} fallback={<p class="muted">No deliveries yet. Send a test to try the receiver.</p>}>
          <TableWrap>
            <table class="table deliveries">
              <caption class="sr-only">Latest deliveries</caption>
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Event</th>
                  <th scope="col" class="num">
                    Attempts
                  </th>
                  <th scope="col" class="num">
                    Response
                  </th>
                  <th scope="col" class="num">
                    Duration
                  </th>
                  <th scope="col">Time</th>
                </tr>
              </thead>
              <tbody>
                <For each={page().deliveries}>
                  {(d) => (
                    <tr data-testid="delivery">
                      <td>
                        <span class={`badge badge-tone-${STATUS_TONE[d.status]}`}>{d.status}</span>
                        <Show when={d.error}>
                          <p class="cell-error">{d.error}</p>
                        </Show>
                      </td>
                      <td>
                        <code title={d.messageId}>{d.event}</code>
                      </td>
                      <td class="num">{d.attempts}</td>
                      <td class="num">{d.responseStatus ?? '—'}</td>
                      <td class="num">{d.durationMs === null ? '—' : `${d.durationMs} ms`}</td>
                      <td>
                        <Time value={d.lastAttemptAt ?? d.createdAt} />
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
  );
}
