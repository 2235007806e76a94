import { useMutation } from '@tanstack/solid-query';
import { createSignal, For, Show, type JSX } from 'solid-js';
import type { FileKind } from '../../../server/vocabulary.ts';
import { formatBytes, formatCost, formatCount, formatDateTime, formatInt, formatNumber } from '../lib/format.ts';
import { errorMessage, type Download, type ModelDetail } from '../lib/trpc.ts';
import { ConvergenceBadge } from './badges.tsx';
import { CopyButton } from './copy-button.tsx';
import { Stars } from './stars.tsx';

// The parts of a model page that the signed-in model page and the public share page both show.

const KIND: Record<FileKind, string> = {
  adapter_weights: 'Adapter weights',
  adapter_config: 'Adapter config',
  tokenizer: 'Tokenizer',
  checkpoint: 'Checkpoint',
  log: 'Log',
  other: 'Other',
  model_card: 'Model card',
  export: 'GGUF export',
};

/** Starts a browser download of a signed URL without leaving the page. */
export function startDownload(url: string, fileName: string) {
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

export function Stat(props: { label: string; children: JSX.Element }) {
  return (
    <div class="stat">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

/** Epochs, steps, duration, cost and GPU of a run; `children` adds stats (the job, for members). */
export function SummaryPanel(props: { summary: ModelDetail['trainingSummary']; gpu: ModelDetail['configuration']['gpu']; children?: JSX.Element }) {
  return (
    <section class="panel" aria-labelledby="h-summary">
      <h2 id="h-summary">Training summary</h2>
      <dl class="stats">
        <Stat label="Epochs">{formatInt(props.summary.epochsCompleted)}</Stat>
        <Stat label="Steps">{formatInt(props.summary.totalSteps)}</Stat>
        <Stat label="Duration">{props.summary.durationHours === null ? '—' : `${props.summary.durationHours.toFixed(2)} h`}</Stat>
        <Stat label="Cost">{formatCost(props.summary.totalCost)}</Stat>
        <Stat label="GPU">
          {props.gpu.count} × {props.gpu.type}
        </Stat>
        {props.children}
      </dl>
    </section>
  );
}

export function QualityPanel(props: { quality: ModelDetail['quality'] }) {
  const q = () => props.quality;
  return (
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
      <p class="quality-explanation" data-testid="quality-explanation">
        {q().explanation}
      </p>
    </section>
  );
}

/** Hyperparameters and the adapter's own description, side by side on wide screens. */
export function SetupPanels(props: Pick<ModelDetail, 'configuration' | 'adapter'>) {
  return (
    <div class="detail-grid">
      <section class="panel" aria-labelledby="h-config">
        <h2 id="h-config">Configuration</h2>
        <table class="table kv">
          <caption class="sr-only">Hyperparameters</caption>
          <tbody>
            <For each={Object.entries(props.configuration.hyperparameters)}>
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
        <Show when={props.adapter} fallback={<p class="muted">No adapter_config.json was found in the files.</p>}>
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
  );
}

/**
 * The file table with a download button per file and "Download all" (one signed link per file and the zip).
 * `download` makes the signed links: models.download for a member, shares.download on the public page.
 */
export function FilesPanel(props: { files: ModelDetail['files']; download: (fileIds?: string[]) => Promise<Download> }) {
  const [notice, setNotice] = createSignal<string | null>(null);
  const [all, setAll] = createSignal<Download | null>(null);
  const [pendingFile, setPendingFile] = createSignal<string | null>(null);
  const download = useMutation(() => ({ mutationFn: (fileIds?: string[]) => props.download(fileIds) }));

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

  return (
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
            <For each={props.files}>
              {(f) => (
                <tr data-testid="file-row" data-path={f.path}>
                  <td>
                    <code class="path">{f.path}</code>
                  </td>
                  <td>
                    {KIND[f.kind]}
                    <Show when={f.format === 'pickle' || f.format === 'torch_zip'}>
                      {' '}
                      <span
                        class="badge badge-tone-warn"
                        data-testid="pickle-badge"
                        title="A Python pickle: stored, hashed and served as it is. This service never executes or unpickles it; load it only from a source you trust (torch.load can run code)."
                      >
                        pickle (not inspected)
                      </span>
                    </Show>
                    <Show when={f.mergedModel}>
                      {' '}
                      <span
                        class="badge badge-tone-info"
                        data-testid="merged-badge"
                        title="Part of a merged full model (base weights with the adapter folded in), not of the adapter"
                      >
                        merged model
                      </span>
                    </Show>
                  </td>
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
  );
}
