import { A, useParams } from '@solidjs/router';
import { useMutation, useQuery } from '@tanstack/solid-query';
import { createSignal, For, Match, Show, Switch, type JSX } from 'solid-js';
import { ConvergenceBadge } from '../components/badges.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { LossChart } from '../components/loss-chart.tsx';
import { ErrorState } from '../components/states.tsx';
import { Stars } from '../components/stars.tsx';
import { formatBytes, formatCost, formatCount, formatDate, formatDateTime, formatInt, formatNumber } from '../lib/format.ts';
import { api, errorCode, errorMessage, type ModelDetail as Model } from '../lib/trpc.ts';
import type { FileKind } from '../../../server/vocabulary.ts';
import NotFound from './not-found.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const KIND: Record<FileKind, string> = {
  adapter_weights: 'Adapter weights',
  adapter_config: 'Adapter config',
  tokenizer: 'Tokenizer',
  checkpoint: 'Checkpoint',
  log: 'Log',
  other: 'Other',
};

type Download = Awaited<ReturnType<typeof api.models.download.mutate>>;

/** Starts a browser download of a signed URL without leaving the page. */
function startDownload(url: string, fileName: string) {
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

export default function ModelDetailPage() {
  const params = useParams<{ id: string }>();
  const valid = () => UUID.test(params.id);
  const query = useQuery(() => ({
    queryKey: ['models', 'get', params.id],
    queryFn: () => api.models.get.query({ modelId: params.id }),
    enabled: valid(),
  }));

  return (
    <Switch>
      <Match when={!valid() || errorCode(query.error) === 'NOT_FOUND'}>
        <NotFound title="Model not found" message="This model does not exist, or it belongs to another account." />
      </Match>
      <Match when={query.isError}>
        <ErrorState error={query.error} onRetry={() => void query.refetch()} title="Could not load this model" />
      </Match>
      <Match when={query.data}>{(m) => <ModelView model={m()} />}</Match>
      <Match when={true}>
        <div class="detail-skeleton" role="status" aria-busy="true" aria-label="Loading model">
          <span class="skeleton-text skeleton-title" />
          <div class="panel skeleton-block" />
          <div class="panel skeleton-block tall" />
        </div>
      </Match>
    </Switch>
  );
}

function Stat(props: { label: string; children: JSX.Element }) {
  return (
    <div class="stat">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

function ModelView(props: { model: Model }) {
  const m = () => props.model;
  const q = () => m().quality;
  const [notice, setNotice] = createSignal<string | null>(null);
  const [all, setAll] = createSignal<Download | null>(null);
  const [pendingFile, setPendingFile] = createSignal<string | null>(null);

  const download = useMutation(() => ({
    mutationFn: (fileIds?: string[]) => api.models.download.mutate({ modelId: m().id, ...(fileIds ? { fileIds } : {}) }),
  }));

  const downloadFile = async (fileId: string) => {
    setNotice(null);
    setPendingFile(fileId);
    try {
      const res = await download.mutateAsync([fileId]);
      const f = res.files[0];
      if (f) {
        const name = f.path.split('/').pop() ?? f.path;
        startDownload(f.url, name);
        setNotice(`Download of ${name} (${formatBytes(f.sizeBytes)}) started. The link is valid until ${formatDateTime(res.expiresAt)}.`);
      }
    } finally {
      setPendingFile(null);
    }
  };

  const prepareAll = async () => {
    setNotice(null);
    const res = await download.mutateAsync(undefined);
    setAll(res);
    setNotice(`Download links for ${res.files.length} files are ready, valid until ${formatDateTime(res.expiresAt)}.`);
  };

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
        <A href="/models">Models</A> <span aria-hidden="true">/</span> <span aria-current="page">{m().name}</span>
      </nav>
      <header class="detail-head">
        <div>
          <h1 id="model-title">{m().name}</h1>
          <p class="muted">
            Trained on <strong>{m().dataset.name}</strong> · created {formatDate(m().createdAt)} · {formatBytes(m().totalBytes)}
          </p>
        </div>
        <div class="detail-rating">
          <Stars score={m().qualityScore} size={22} />
          <ConvergenceBadge value={m().convergenceQuality} />
        </div>
      </header>

      <div class="detail-grid">
        <section class="panel" aria-labelledby="h-quality">
          <h2 id="h-quality">Quality</h2>
          <dl class="stats">
            <Stat label="Score">
              <Stars score={q().score} />
            </Stat>
            <Stat label="Convergence">
              <ConvergenceBadge value={q().convergence} />
            </Stat>
            <Stat label="Loss reduction">{q().lossReductionPct === null ? '—' : `${q().lossReductionPct!.toFixed(1)}%`}</Stat>
            <Stat label="Initial training loss">{formatNumber(q().initialLoss)}</Stat>
            <Stat label="Final training loss">{formatNumber(q().finalTrainingLoss)}</Stat>
            <Stat label="Final validation loss">{formatNumber(q().finalValidationLoss)}</Stat>
            <Stat label="Perplexity">{formatNumber(q().perplexity)}</Stat>
            <Stat label="Overfit gap">{formatNumber(q().overfitGap)}</Stat>
          </dl>
        </section>

        <section class="panel" aria-labelledby="h-summary">
          <h2 id="h-summary">Training summary</h2>
          <dl class="stats">
            <Stat label="Epochs">{formatInt(m().trainingSummary.epochsCompleted)}</Stat>
            <Stat label="Steps">{formatInt(m().trainingSummary.totalSteps)}</Stat>
            <Stat label="Duration">{m().trainingSummary.durationHours === null ? '—' : `${m().trainingSummary.durationHours!.toFixed(2)} h`}</Stat>
            <Stat label="Cost">{formatCost(m().trainingSummary.totalCost)}</Stat>
            <Stat label="GPU">
              {m().configuration.gpu.count} × {m().configuration.gpu.type}
            </Stat>
            <Stat label="Job">{m().job.name}</Stat>
          </dl>
        </section>
      </div>

      <section class="panel" aria-labelledby="h-chart">
        <h2 id="h-chart">Loss curve</h2>
        <Show when={m().lossCurve.length > 0} fallback={<p class="muted">No metrics were reported for this run.</p>}>
          <LossChart points={m().lossCurve} />
        </Show>
        <Show when={m().bestCheckpoint}>
          {(b) => (
            <p class="best-checkpoint">
              Best checkpoint: <code>{b().name}</code>
              {b().step !== null ? ` at step ${b().step!.toLocaleString('en-US')}` : ''}, validation loss {formatNumber(b().validationLoss)}
              <Show when={(b().checkpoints?.length ?? 0) > 1}>
                {' '}
                (
                <For each={b().checkpoints}>
                  {(c, i) => (
                    <>
                      {i() > 0 ? ', ' : ''}
                      <code>{c.name}</code> {c.validationLoss === null ? 'not evaluated' : formatNumber(c.validationLoss)}
                    </>
                  )}
                </For>
                )
              </Show>
            </p>
          )}
        </Show>
      </section>

      <div class="detail-grid">
        <section class="panel" aria-labelledby="h-config">
          <h2 id="h-config">Configuration</h2>
          <table class="table kv">
            <caption class="sr-only">Hyperparameters</caption>
            <tbody>
              <For each={Object.entries(m().configuration.hyperparameters)}>
                {([k, v]) => (
                  <tr>
                    <th scope="row">{k}</th>
                    <td>
                      <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </section>

        <section class="panel" aria-labelledby="h-adapter">
          <h2 id="h-adapter">Adapter</h2>
          <Show when={m().adapter} fallback={<p class="muted">No adapter_config.json was found in the files.</p>}>
            {(a) => (
              <dl class="stats">
                <Stat label="Base model">
                  <code>{a().baseModel ?? '—'}</code>
                </Stat>
                <Stat label="Rank">{a().rank ?? '—'}</Stat>
                <Stat label="Alpha">{a().alpha ?? '—'}</Stat>
                <Stat label="Dtype">{a().dtype ?? '—'}</Stat>
                <Stat label="Parameters">{formatCount(a().parameterCount)}</Stat>
                <Stat label="Target modules">{a().targetModules.length ? a().targetModules.join(', ') : '—'}</Stat>
              </dl>
            )}
          </Show>
        </section>
      </div>

      <section class="panel" aria-labelledby="h-files">
        <div class="section-head">
          <h2 id="h-files">Files</h2>
          <button type="button" class="btn btn-primary" onClick={() => void prepareAll().catch(() => {})} disabled={download.isPending}>
            Download all
          </button>
        </div>
        <Show when={notice()}>
          <p class="notice notice-success" role="status">
            {notice()}
          </p>
        </Show>
        <Show when={download.isError}>
          <p class="notice notice-error" role="alert">
            Could not prepare the download: {errorMessage(download.error)}
          </p>
        </Show>
        <Show when={all()}>
          {(d) => (
            <div class="download-all" data-testid="download-all">
              <Show when={d().bundle}>
                {(b) => (
                  <a class="btn btn-secondary" href={b().url} download={b().fileName}>
                    Download {b().fileName} (zip of all files)
                  </a>
                )}
              </Show>
              <ul class="link-list">
                <For each={d().files}>
                  {(f) => (
                    <li>
                      <a href={f.url} download={f.path.split('/').pop()}>
                        {f.path}
                      </a>{' '}
                      <span class="muted">{formatBytes(f.sizeBytes)}</span>
                    </li>
                  )}
                </For>
              </ul>
            </div>
          )}
        </Show>
        <div class="table-wrap">
          <table class="table files">
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col">Kind</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">SHA-256</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              <For each={m().files}>
                {(f) => (
                  <tr data-testid="file-row" data-path={f.path}>
                    <td>
                      <code class="path">{f.path}</code>
                    </td>
                    <td>{KIND[f.kind]}</td>
                    <td class="num">{formatBytes(f.sizeBytes)}</td>
                    <td class="sha">
                      <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code>
                      <CopyButton text={f.sha256} label={`SHA-256 of ${f.path}`} />
                    </td>
                    <td class="actions">
                      <button
                        type="button"
                        class="btn btn-small btn-secondary"
                        aria-label={`Download ${f.path}`}
                        disabled={pendingFile() === f.id}
                        onClick={() => void downloadFile(f.id).catch(() => {})}
                      >
                        {pendingFile() === f.id ? 'Preparing…' : 'Download'}
                      </button>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </section>

      <section class="panel" aria-labelledby="h-api">
        <h2 id="h-api">Download from code</h2>
        <p class="muted">
          Signed links are made on request. Use an <A href="/tokens">API token</A> as <code>LORA_API_TOKEN</code>.
        </p>
        <div class="snippet">
          <div class="snippet-head">
            <span>curl</span>
            <CopyButton text={curl()} label="curl command" />
          </div>
          <pre>
            <code>{curl()}</code>
          </pre>
        </div>
        <div class="snippet">
          <div class="snippet-head">
            <span>TypeScript (typed client)</span>
            <CopyButton text={typed()} label="TypeScript snippet" />
          </div>
          <pre>
            <code>{typed()}</code>
          </pre>
        </div>
      </section>
    </article>
  );
}
