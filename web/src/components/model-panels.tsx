import { useMutation } from '@tanstack/solid-query';
import { createSignal, For, Show, type JSX } from 'solid-js';
import type { FileKind } from '../../../server/vocabulary.ts';
import { formatBytes, formatCost, formatCount, formatDateTime, formatInt, formatNumber } from '../lib/format.ts';
import { errorMessage, type Download, type ModelDetail } from '../lib/trpc.ts';
import { ConvergenceBadge } from './badges.tsx';
import { CopyButton } from './copy-button.tsx';
import { Stars } from './stars.tsx';
import { TableWrap } from './table-wrap.tsx';

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
        {/* Unrated: the page's header says "Not rated" and the explanation why; here a dash, not a third time. */}
        <Stat label="Score">
          <Show when={q().score} fallback="—">
            <Stars score={q().score} />
          </Show>
        </Stat>
        <Stat label="Convergence">
          <ConvergenceBadge value={q().convergence} fallback="—" />
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
 * The file table: "Download all" downloads the zip of every file in one click; "Choose files" puts a checkbox on
 * each row to download the files picked; each row also has its own Download. `download` makes the signed links:
 * models.download for a member, shares.download on the public page.
 */
/** What FilesPanel asks its `download` for: chosen files, every file (neither), or only the zip's link. */
export interface DownloadRequest {
  fileIds?: string[];
  bundleOnly?: boolean;
}

export function FilesPanel(props: { files: ModelDetail['files']; download: (request: DownloadRequest) => Promise<Download> }) {
  const [notice, setNotice] = createSignal<string | null>(null);
  const [links, setLinks] = createSignal<Download['files'] | null>(null);
  const [pendingFile, setPendingFile] = createSignal<string | null>(null);
  const [choosing, setChoosing] = createSignal(false);
  const [chosen, setChosen] = createSignal<ReadonlySet<string>>(new Set());
  const download = useMutation(() => ({ mutationFn: (request: DownloadRequest) => props.download(request) }));
  const chosenBytes = () => props.files.filter((f) => chosen().has(f.id)).reduce((n, f) => n + f.sizeBytes, 0);

  const downloadFile = async (fileId: string) => {
    setNotice(null);
    setPendingFile(fileId);
    try {
      const res = await download.mutateAsync({ fileIds: [fileId] });
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

  const downloadAll = async () => {
    setNotice(null);
    setLinks(null);
    // The zip's link alone: the zip's fetch is the one record of this download in the history.
    const res = await download.mutateAsync({ bundleOnly: true });
    if (res.bundle) {
      startDownload(res.bundle.url, res.bundle.fileName);
      const bytes = props.files.reduce((n, f) => n + f.sizeBytes, 0);
      setNotice(`Download of ${res.bundle.fileName} (${props.files.length.toLocaleString('en-US')} files, ${formatBytes(bytes)}) started.`);
    } else {
      // Only when the server could not bundle them: the links one by one.
      setLinks((await download.mutateAsync({})).files);
    }
  };

  const toggle = (fileId: string, on: boolean) => {
    const next = new Set(chosen());
    if (on) next.add(fileId);
    else next.delete(fileId);
    setChosen(next);
  };

  const downloadChosen = async () => {
    setNotice(null);
    const res = await download.mutateAsync({ fileIds: [...chosen()] });
    // One download each; a browser that asks before several downloads from one page still has the links below.
    for (const f of res.files) startDownload(f.url, f.path.split('/').pop() ?? f.path);
    setLinks(res.files);
    setNotice(
      `Download of ${res.files.length === 1 ? '1 file' : `${res.files.length.toLocaleString('en-US')} files`} started. The links are valid until ${formatDateTime(res.expiresAt)}.`,
    );
  };

  const stopChoosing = () => {
    setChoosing(false);
    setChosen(new Set<string>());
  };

  return (
    <section class="panel" aria-labelledby="h-files">
      <div class="section-head">
        <h2 id="h-files">Files</h2>
        <div class="files-actions">
          <button type="button" class="btn btn-secondary" aria-pressed={choosing()} onClick={() => (choosing() ? stopChoosing() : setChoosing(true))}>
            Choose files
          </button>
          <button type="button" class="btn btn-primary" onClick={() => void downloadAll().catch(() => {})} disabled={download.isPending}>
            Download all
          </button>
        </div>
      </div>
      <Show when={choosing()}>
        <fieldset class="choose-bar" data-testid="choose-bar">
          <legend class="sr-only">Chosen files</legend>
          <span aria-live="polite">
            {chosen().size === 0 ? 'Tick the files to download.' : `${chosen().size.toLocaleString('en-US')} chosen, ${formatBytes(chosenBytes())}`}
          </span>
          <button
            type="button"
            class="btn btn-small btn-primary"
            disabled={chosen().size === 0 || download.isPending}
            onClick={() => void downloadChosen().catch(() => {})}
          >
            Download chosen files
          </button>
          <button type="button" class="btn btn-small btn-ghost" onClick={stopChoosing}>
            Cancel
          </button>
        </fieldset>
      </Show>
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
      <Show when={links()}>
        {(list) => (
          <ul class="link-list" data-testid="download-links" aria-label="Download links">
            <For each={list()}>
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
        )}
      </Show>
      <TableWrap>
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
                  {/* data-label: the column's name, shown beside the value when a phone lays the rows out as cards. */}
                  <td class="file-path" data-label="Path">
                    <Show when={choosing()}>
                      <input
                        type="checkbox"
                        class="file-choose"
                        aria-label={`Choose ${f.path}`}
                        checked={chosen().has(f.id)}
                        onChange={(e) => toggle(f.id, e.currentTarget.checked)}
                      />{' '}
                    </Show>
                    <code class="path">{f.path}</code>
                  </td>
                  <td data-label="Kind">
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
                  <td class="num" data-label="Size">
                    {formatBytes(f.sizeBytes)}
                  </td>
                  <td class="sha" data-label="SHA-256">
                    <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code>
                    <CopyButton text={f.sha256} label={`SHA-256 of ${f.path}`} />
                  </td>
                  <td class="actions" data-label="Actions">
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
      </TableWrap>
    </section>
  );
}
