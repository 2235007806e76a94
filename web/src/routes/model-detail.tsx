import { A, useNavigate, useParams } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { CompatibilityPanel, UsagePanel } from '../components/adapter-panels.tsx';
import { ConvergenceBadge } from '../components/badges.tsx';
import { CheckpointsPanel } from '../components/checkpoints-panel.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { DownloadHistoryPanel } from '../components/download-history.tsx';
import { ExportsPanel } from '../components/exports-panel.tsx';
import { InlineEdit } from '../components/model-edit.tsx';
import { type DownloadRequest, FilesPanel, QualityPanel, SetupPanels, Stat, SummaryPanel } from '../components/model-panels.tsx';
import { EvaluationsPanel, LossCurvePanel, OutputPanel } from '../components/output-panels.tsx';
import { DetailSkeleton, FieldError, FormError, Loaded } from '../components/states.tsx';
import { Stars } from '../components/stars.tsx';
import { TagChips } from '../components/tags.tsx';
import { VersionsPanel } from '../components/versions-panel.tsx';
import { WeightsPanel } from '../components/weights-panel.tsx';
import { formatBytes } from '../lib/format.ts';
import { api, errorCode, fieldError, type ModelDetail as Model } from '../lib/trpc.ts';
import { can, withWorkspace } from '../lib/workspace.ts';
import type { CatalogueState } from './models.tsx';
import NotFound from './not-found.tsx';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default function ModelDetailPage() {
  const params = useParams<{ id: string }>();
  const valid = () => UUID.test(params.id);
  const query = useQuery(() => ({
    queryKey: ['models', 'get', params.id],
    queryFn: () => api.models.get.query({ modelId: params.id }),
    enabled: valid(),
  }));
  usePageTitle(() => query.data?.name);

  return (
    <Show
      when={valid() && errorCode(query.error) !== 'NOT_FOUND'}
      fallback={<NotFound title="Model not found" message="This model does not exist, or it belongs to a workspace you are not a member of." />}
    >
      <Loaded query={query} what="this model" skeleton={<DetailSkeleton />}>
        {(m) => <ModelView model={m()} />}
      </Loaded>
    </Show>
  );
}

function ModelView(props: { model: Model }) {
  const m = () => props.model;
  const qc = useQueryClient();
  // A download is recorded: the history shows it (a zip is recorded when the browser fetches it, a moment later).
  const refreshHistory = (modelId: string) => void qc.invalidateQueries({ queryKey: ['models', 'downloads', modelId] });
  const downloadFiles = (modelId: string, request: DownloadRequest) =>
    api.models.download.mutate({ modelId, ...request }).finally(() => {
      refreshHistory(modelId);
      // The zip is recorded when the browser fetches it, a moment after its link: read the history again then.
      if (request.bundleOnly) setTimeout(() => refreshHistory(modelId), 2000);
    });

  const origin = window.location.origin;
  const curl = () =>
    `curl -sS -X POST "${origin}/trpc/models.download" \\\n  -H "Authorization: Bearer $LORA_API_TOKEN" \\\n  -H "Content-Type: application/json" \\\n  -d '{"modelId":"${m().id}"}'`;
  const typed = () =>
    `import { createClient } from './lora-artifacts/server/client'; // see the README

const api = createClient({ baseUrl: '${origin}', token: process.env.LORA_API_TOKEN! });

const { files, bundle } = await api.models.download.mutate({ modelId: '${m().id}' });`;

  return (
    <article class="detail" aria-labelledby="model-title">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <A href={withWorkspace('/models', m().workspaceId)}>Models</A> <span aria-hidden="true">/</span> <span aria-current="page">{m().name}</span>
      </nav>
      <header class="detail-head">
        <div class="detail-title">
          <InlineEdit modelId={m().id} field="name" label="Name" text={m().name} canEdit={can(m().role, 'write')}>
            <h1 id="model-title">{m().name}</h1>
          </InlineEdit>
          <p class="muted">
            <code data-testid="model-ref">{m().ref}</code>
            <For each={m().aliases}>{(a) => <span class="badge badge-alias">{a}</span>}</For> · trained on <strong>{m().dataset.name}</strong> ·
            created <Time value={m().createdAt} /> · {formatBytes(m().totalBytes)}
          </p>
        </div>
        <div class="detail-rating">
          <Stars score={m().qualityScore} size={22} />
          <ConvergenceBadge value={m().convergenceQuality} />
        </div>
      </header>

      <AdapterWarnings model={m()} />

      <section class="panel about" aria-label="Description and tags">
        <InlineEdit modelId={m().id} field="description" label="Description" text={m().description} canEdit={can(m().role, 'write')}>
          <Show when={m().description} fallback={<p class="muted">No description.</p>}>
            <p class="description" data-testid="model-description">
              {m().description}
            </p>
          </Show>
        </InlineEdit>
        <InlineEdit
          modelId={m().id}
          field="tags"
          label="Tags"
          text={m().tags.join(', ')}
          canEdit={can(m().role, 'write')}
          hint="Comma-separated; lower case, no spaces, up to 20."
        >
          <Show when={m().tags.length > 0} fallback={<p class="muted">No tags.</p>}>
            <TagChips tags={m().tags} />
          </Show>
        </InlineEdit>
      </section>

      <div class="detail-grid">
        <QualityPanel quality={m().quality} />

        <SummaryPanel summary={m().trainingSummary} gpu={m().configuration.gpu}>
          <Stat label="Job">{m().job.name}</Stat>
        </SummaryPanel>
      </div>

      <LossCurvePanel points={m().lossCurve} source={m().curveSource} />

      <EvaluationsPanel evaluations={m().evaluations} />

      <div class="detail-grid">
        <CompatibilityPanel compatibility={m().compatibility} />
        <WeightsPanel weights={m().weights} />
      </div>

      <UsagePanel usage={m().usage} />

      <ExportsPanel model={m()} />

      <VersionsPanel model={m()} />

      <CheckpointsPanel model={m()} />

      <SetupPanels configuration={m().configuration} adapter={m().adapter} />

      <OutputPanel output={m().output} />

      <FilesPanel files={m().files} download={(request) => downloadFiles(m().id, request)} />

      <DownloadHistoryPanel modelId={m().id} />

      <Show when={can(m().role, 'write')}>
        <SharePanel model={m()} />
      </Show>

      <section class="panel" aria-labelledby="h-api">
        <h2 id="h-api">Download from code</h2>
        <p class="muted">
          Signed links are made on request. Use an <A href={withWorkspace('/tokens', m().workspaceId)}>API token</A> as <code>LORA_API_TOKEN</code>.
        </p>
        <div class="snippet">
          <div class="snippet-head">
            <span>curl</span>
            <CopyButton text={curl()} label="curl command" />
          </div>
          <pre tabindex="0">
            <code>{curl()}</code>
          </pre>
        </div>
        <div class="snippet">
          <div class="snippet-head">
            <span>TypeScript (typed client)</span>
            <CopyButton text={typed()} label="TypeScript snippet" />
          </div>
          <pre tabindex="0">
            <code>{typed()}</code>
          </pre>
        </div>
      </section>

      <Show when={can(m().role, 'write')}>
        <TrashPanel model={m()} />
      </Show>
    </article>
  );
}

/** What would make the model fail where it is run, said before anything else (details in "Runs on" and "Weights"). */
function AdapterWarnings(props: { model: Model }) {
  const mismatch = () => props.model.compatibility?.verdict === 'mismatch';
  return (
    <Show when={mismatch() || props.model.untrained}>
      <div class="notice notice-error" role="note" data-testid="adapter-warnings">
        <Show when={mismatch()}>
          <p>
            <strong>Doesn't fit its base.</strong> {props.model.compatibility?.mismatchCount.toLocaleString('en-US')} of its tensors do not match{' '}
            <code class="break">{props.model.compatibility?.base.name ?? 'the base model'}</code>; runtimes will refuse it or ignore it. See{' '}
            <a href="#h-runs-on">Runs on</a>.
          </p>
        </Show>
        <Show when={props.model.untrained}>
          <p>
            <strong>Untrained.</strong> Every lora_B is zero, so the adapter changes nothing. See <a href="#h-weights">Weights</a>.
          </p>
        </Show>
      </div>
    </Show>
  );
}

/** Move to trash (members and up): the catalogue then says so and offers Undo. */
function TrashPanel(props: { model: Model }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [confirming, setConfirming] = createSignal(false);
  const trash = useMutation(() => ({
    mutationFn: () => api.models.delete.mutate({ modelIds: [props.model.id] }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ['models', 'list'] });
      const state: CatalogueState = { trashed: { ids: [props.model.id], label: props.model.name } };
      navigate(withWorkspace('/models', props.model.workspaceId), { state });
    },
  }));
  return (
    <section class="panel danger-zone" aria-labelledby="h-trash">
      <h2 id="h-trash">Delete</h2>
      <div class="danger-row">
        <p class="muted">The model leaves the catalogue and its links stop working at once. It can be restored from the trash for a while.</p>
        <Show
          when={confirming()}
          fallback={
            <button type="button" class="btn btn-danger" onClick={() => setConfirming(true)}>
              Move to trash
            </button>
          }
        >
          <div class="confirm-row">
            <button type="button" class="btn btn-danger" disabled={trash.isPending} onClick={() => trash.mutate()}>
              {trash.isPending ? 'Moving…' : `Yes, move ${props.model.name} to the trash`}
            </button>
            <button type="button" class="btn btn-secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </Show>
      </div>
      <FormError when={trash.isError} error={trash.error} />
    </section>
  );
}

const SHARE_DAYS = { min: 1, max: 90, default: 7 };

/** A read-only public link to this model (members and up); its URL is shown once, as the server keeps only a hash. */
function SharePanel(props: { model: Model }) {
  const qc = useQueryClient();
  const [link, setLink] = createSignal<{ url: string; expiresAt: string } | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ['models', 'get', props.model.id] });
  const share = useMutation(() => ({
    mutationFn: (days: number) => api.models.share.mutate({ modelId: props.model.id, expiresInDays: days }),
    onSuccess: (res) => setLink({ url: res.url, expiresAt: res.expiresAt }),
    onSettled: refresh,
  }));
  const daysError = () => fieldError(share.error, 'expiresInDays', 'The number of days');
  const unshare = useMutation(() => ({
    mutationFn: () => api.models.unshare.mutate({ modelId: props.model.id }),
    onSuccess: () => setLink(null),
    onSettled: refresh,
  }));

  const onCreate = (e: SubmitEvent) => {
    e.preventDefault();
    const days = Number(new FormData(e.currentTarget as HTMLFormElement).get('days'));
    if (Number.isInteger(days) && days >= SHARE_DAYS.min && days <= SHARE_DAYS.max) share.mutate(days);
  };

  return (
    <section class="panel" aria-labelledby="h-share" data-testid="share-panel">
      <h2 id="h-share">Share</h2>
      <p class="muted">
        A read-only page for anyone with the link: this model's card, quality, loss curve and files, with downloads. It shows nothing else of the
        workspace.
      </p>
      <Show when={props.model.share}>
        {(s) => (
          <div class="share-state">
            <p data-testid="share-state">
              Shared until <Time value={s().expiresAt} />.
            </p>
            <button type="button" class="btn btn-small btn-danger" disabled={unshare.isPending} onClick={() => unshare.mutate()}>
              {unshare.isPending ? 'Unsharing…' : 'Unshare'}
            </button>
          </div>
        )}
      </Show>
      <Show when={link()}>
        {(l) => (
          <div class="notice notice-success token-once" role="status">
            <p>
              <strong>Share link created</strong>, valid until <Time value={l().expiresAt} />. Copy it now: it will not be shown again.
            </p>
            <div class="token-value">
              <code data-testid="share-url">{l().url}</code>
              <CopyButton text={l().url} label="share link" />
            </div>
          </div>
        )}
      </Show>
      <form class="inline-form" onSubmit={onCreate}>
        <div class="field">
          <label for="share-days">Valid for (days)</label>
          <input
            id="share-days"
            name="days"
            type="number"
            inputmode="numeric"
            min={SHARE_DAYS.min}
            max={SHARE_DAYS.max}
            value={SHARE_DAYS.default}
            required
            aria-invalid={daysError() ? 'true' : undefined}
            aria-describedby={daysError() ? 'share-days-hint share-days-error' : 'share-days-hint'}
          />
          <p id="share-days-hint" class="hint">
            1 to 90 days.{props.model.share ? ' A new link replaces the current one.' : ''}
          </p>
          <FieldError id="share-days-error" message={daysError()} />
        </div>
        <button type="submit" class="btn btn-primary" disabled={share.isPending}>
          {share.isPending ? 'Creating…' : 'Create share link'}
        </button>
      </form>
      <FormError when={(share.isError && !daysError()) || unshare.isError} error={share.error ?? unshare.error} />
    </section>
  );
}
