import { useParams } from '@solidjs/router';
import { useQuery } from '@tanstack/solid-query';
import { Show } from 'solid-js';
import { CompatibilityPanel, UsagePanel } from '../components/adapter-panels.tsx';
import { ConvergenceBadge } from '../components/badges.tsx';
import { EvaluationsPanel, LossCurvePanel } from '../components/output-panels.tsx';
import { FilesPanel, QualityPanel, SetupPanels, SummaryPanel } from '../components/model-panels.tsx';
import { DetailSkeleton, Loaded } from '../components/states.tsx';
import { Stars } from '../components/stars.tsx';
import { WeightsPanel } from '../components/weights-panel.tsx';
import { formatBytes } from '../lib/format.ts';
import { api, errorCode } from '../lib/trpc.ts';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

type Shared = Awaited<ReturnType<typeof api.shares.get.query>>;

/**
 * The public, read-only page of a shared model (/s/:token): no sign-in, none of the app's frame, nothing of
 * the workspace. Downloads go through shares.download, which the server audits against the share.
 */
export default function SharePage() {
  const params = useParams<{ token: string }>();
  const query = useQuery(() => ({ queryKey: ['share', params.token], queryFn: () => api.shares.get.query({ token: params.token }) }));
  usePageTitle(() => (query.data ? `${query.data.model.name} (shared)` : 'Shared model'));

  return (
    <>
      <header class="share-header">
        <div class="container share-header-inner">
          <span class="brand">
            <span class="brand-mark" aria-hidden="true">
              L
            </span>
            <span class="brand-text">Shared LoRA model</span>
          </span>
          <span class="muted small">Read-only</span>
        </div>
      </header>
      <main id="main" class="container main">
        <Show
          when={errorCode(query.error) !== 'NOT_FOUND'}
          fallback={
            <section class="panel state" aria-labelledby="gone-title" data-testid="share-gone">
              <p class="eyebrow">404</p>
              <h1 id="gone-title">This link is no longer valid</h1>
              <p class="muted">The link was revoked, has expired, or its model was deleted. Ask whoever shared it for a new one.</p>
            </section>
          }
        >
          <Loaded query={query} what="this model" skeleton={<DetailSkeleton />}>
            {(s) => <SharedModel shared={s()} token={params.token} />}
          </Loaded>
        </Show>
      </main>
    </>
  );
}

function SharedModel(props: { shared: Shared; token: string }) {
  const m = () => props.shared.model;
  return (
    <article class="detail" aria-labelledby="model-title">
      <header class="detail-head">
        <div>
          <h1 id="model-title">{m().name}</h1>
          <p class="muted">
            Created <Time value={m().createdAt} /> · {formatBytes(m().totalBytes)} · link valid until <Time value={props.shared.expiresAt} />
          </p>
        </div>
        <div class="detail-rating">
          <Stars score={m().qualityScore} size={22} />
          <ConvergenceBadge value={m().convergenceQuality} />
        </div>
      </header>

      <div class="detail-grid">
        <QualityPanel quality={m().quality} />
        <SummaryPanel summary={m().trainingSummary} gpu={m().configuration.gpu} />
      </div>

      <LossCurvePanel points={m().lossCurve} source={m().curveSource} />

      <EvaluationsPanel evaluations={m().evaluations} />

      <div class="detail-grid">
        <CompatibilityPanel compatibility={m().compatibility} />
        <WeightsPanel weights={m().weights} />
      </div>

      <UsagePanel usage={m().usage} />

      <SetupPanels configuration={m().configuration} adapter={m().adapter} />

      <FilesPanel files={m().files} download={(request) => api.shares.download.mutate({ token: props.token, ...request })} />
    </article>
  );
}
