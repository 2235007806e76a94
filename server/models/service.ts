import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { bundleUrl } from './bundle-link.ts';
import { type Actor, effectiveRole, judge, type Reach, rls, targetWorkspace } from '../workspaces/roles.ts';
import { memberRole } from '../workspaces/queries.ts';
import * as q from './queries.ts';
import type { ListModelsInput } from './schemas.ts';
import { baseName } from '../paths.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../vocabulary.ts';
import { asDelivered, type Delivered } from '../registry/checkpoints.ts';
import { formatRef } from '../registry/refs.ts';
import { purgeAfter } from '../registry/trash.ts';
import { aliasView, type ModelTarget, modelIdFor } from '../registry/versions.ts';
import { checkpointsView } from '../registry/checkpoints.ts';
import { isMergedModelFile } from '../ingest/inspect/classify.ts';
import { trainerBestView } from '../outputs/output-report.ts';
import { adapterView, subjectOf } from '../adapters/view.ts';

type SummaryRow = Awaited<ReturnType<typeof q.listModels>>['rows'][number];

function summary(r: SummaryRow) {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    tags: r.tags,
    family: r.family,
    version: r.version,
    /** `family@v3`: the reference that names this model everywhere (see server/registry/refs.ts). */
    ref: formatRef(r.family, r.version),
    /** When it went to the trash; null for a live model. */
    deletedAt: r.deletedAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(),
    qualityScore: r.qualityScore as 1 | 2 | 3 | 4 | 5 | null,
    convergenceQuality: r.convergenceQuality,
    /** Whether the adapter fits its base model (null: ingested before the check); a mismatch is flagged on the card. */
    fit: r.fitVerdict,
    /** Every lora_B is zero: the adapter changes nothing (its score is 1). */
    untrained: r.untrained,
    totalCost: r.totalCost === null ? null : Number(r.totalCost),
    totalBytes: Number(r.totalBytes),
    dataset: { id: r.datasetId, name: r.datasetName },
    job: { id: r.jobId, name: r.jobName, completedAt: r.jobCompletedAt?.toISOString() ?? null },
  };
}

function encodeCursor(c: q.Cursor): string {
  return Buffer.from(JSON.stringify([c.sort, c.score, c.createdAt, c.id])).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CURSOR_TIMESTAMP = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** `2025-01-01T00:00:00.123456Z` (as queries.ts writes it) naming a real calendar instant. */
function isCursorTimestamp(v: string): boolean {
  if (!CURSOR_TIMESTAMP.test(v)) return false;
  const ms = Date.parse(`${v.slice(0, 23)}Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 19) === v.slice(0, 19);
}

/** How many download records a page of models.downloads holds. */
const DOWNLOADS_PAGE = 20;

function decodeDownloadCursor(raw: string): q.DownloadCursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'string' && isCursorTimestamp(at) && typeof id === 'string' && UUID.test(id)) return { at, id };
  } catch {
    // fall through
  }
  throw ERRORS.badRequest('cursor: invalid');
}

/**
 * A model's download history, newest first, 20 a page: who (a teammate the caller can see; null through a
 * share link or once their account is gone), when, how (`member` or `share`), and which files (`all` of the
 * model's, the zip `bundle`, or the ones named). Any member of its workspace may read it (viewers too).
 */
export async function listDownloads(deps: Deps, actor: Actor, input: { modelId: string; cursor?: string | null | undefined }) {
  const cursor = input.cursor ? decodeDownloadCursor(input.cursor) : null;
  const rows = await deps.database.asUser(rls(actor), async (tx) => {
    // Both leave at once; a model the caller cannot reach (or in the trash) answers NOT_FOUND, never its history.
    const access = q.modelAccess(tx, actor, input.modelId);
    const page = q.listDownloads(tx, input.modelId, cursor, DOWNLOADS_PAGE + 1);
    page.catch(() => {});
    judge(actor, (await access)?.role ?? null, 'read', 'Model');
    return page;
  });
  const shown = rows.slice(0, DOWNLOADS_PAGE);
  const last = shown[shown.length - 1];
  return {
    downloads: shown.map((r) => ({
      id: r.id,
      at: new Date(`${r.atKey.slice(0, 23)}Z`).toISOString(),
      user: r.userId ? { id: r.userId, name: r.userName ?? '', email: r.userEmail ?? '' } : null,
      via: (r.shareId ? 'share' : 'member') as 'member' | 'share',
      files: r.kind === 'bundle' ? ('bundle' as const) : r.allFiles ? ('all' as const) : r.files,
    })),
    nextCursor: rows.length > DOWNLOADS_PAGE && last ? Buffer.from(JSON.stringify([last.atKey, last.id])).toString('base64url') : null,
  };
}

function decodeCursor(raw: string, sort: 'recent' | 'quality'): q.Cursor {
  try {
    const [s, score, createdAt, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    // Everything reaching SQL is checked here, so a forged cursor is BAD_REQUEST, never a failed cast.
    const ok =
      s === sort &&
      typeof score === 'number' &&
      Number.isInteger(score) &&
      score >= 0 &&
      score <= 5 &&
      typeof createdAt === 'string' &&
      isCursorTimestamp(createdAt) &&
      typeof id === 'string' &&
      UUID.test(id);
    if (ok) return { sort, score, createdAt, id };
  } catch {
    // fall through
  }
  throw ERRORS.badRequest('cursor: invalid or from another sort order');
}

export async function listModels(deps: Deps, actor: Actor, input: ListModelsInput) {
  const cursor = input.cursor ? decodeCursor(input.cursor, input.sort) : null;
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  // The role check and the page leave in one write; a stranger's request throws before anything is returned.
  const { rows, total } = await deps.database.asUser(rls(actor), async (tx) => {
    const role = memberRole(tx, actor.userId, workspaceId);
    const page = q.listModels(tx, workspaceId, input, cursor);
    page.catch(() => {});
    judge(actor, await role, 'read');
    return page;
  });
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  const nextCursor =
    rows.length > input.limit && last
      ? encodeCursor({ sort: input.sort, score: last.qualityScore ?? 0, createdAt: last.createdAtKey, id: last.id })
      : null;
  return {
    models: page.map((r) => ({
      ...summary(r),
      /** For a model in the trash: when the retention sweep may purge it (deletedAt + TRASH_RETENTION_DAYS); else null. */
      purgeAfter: r.deletedAt ? purgeAfter(deps.env, r.deletedAt) : null,
    })),
    pagination: { page: input.page, limit: input.limit, total, totalPages: Math.ceil(total / input.limit) },
    nextCursor,
  };
}

type CardRow = Pick<
  NonNullable<Awaited<ReturnType<typeof q.getModel>>>,
  'qualityScore' | 'convergenceQuality' | 'totalCost' | keyof typeof q.cardColumns
>;

/**
 * A model's card beyond its summary: quality (with why it scored so), training summary, configuration,
 * adapter, its fit to the base model and the runtimes that take it, the health of its weights, how to run
 * it, files and loss curve; the same on the members' page and the public share page.
 */
export function modelCard(row: CardRow, files: Delivered<Pick<StoredFileRow, 'id' | 'path' | 'sizeBytes' | 'sha256' | 'kind' | 'format'>>[]) {
  const listed = files.map((f) => ({
    id: f.id,
    path: f.path,
    sizeBytes: Number(f.sizeBytes),
    sha256: f.sha256,
    kind: f.kind,
    /** What its first bytes show: `pickle` and `torch_zip` are Python pickles, stored and served but never executed or read. */
    format: f.format,
    /** Part of a merged full model (`model-00001-of-00002.safetensors`, its index), not of the adapter. */
    mergedModel: isMergedModelFile(f.path),
  }));
  const subject = subjectOf(row, listed, null);
  const view = adapterView(subject);
  return {
    quality: { ...subject.quality, convergence: row.convergenceQuality, perplexity: row.perplexity, explanation: view.explanation },
    trainingSummary: subject.trainingSummary,
    configuration: { hyperparameters: row.hyperparameters, gpu: row.gpu },
    adapter: row.adapter,
    /** Whether the adapter's tensors fit its base model, and which runtimes accept it; null for a model ingested before the check. */
    compatibility: view.compatibility,
    /** Update size per adapted module and warnings (untrained, NaN/Inf, duplicate checkpoints); null before the check. */
    weights: view.weights,
    /** How to run it with PEFT, vLLM, llama.cpp and Ollama (the model card's usage, with copy buttons on the page). */
    usage: view.usage,
    files: listed,
    lossCurve: row.lossCurve,
    /** Where the curve came from: the worker's reports, a trainer file of the output, or both; null before it was recorded. */
    curveSource: row.outputReport ? row.outputReport.curve : null,
    /** Evaluation results that came with the output, each with its file, format and the scale of its numbers. */
    evaluations: row.evaluations,
  };
}

/** The model `target` names (its id, or a reference: models.get and models.resolve), with its card, share and aliases. */
export async function getModel(deps: Deps, actor: Actor, target: ModelTarget) {
  // The queries leave together (one round trip; a reference costs one more, to find the id); the files, share
  // and aliases of a model not there are none anyway.
  const [row, files, share] = await deps.database.asUser(rls(actor), async (tx) => {
    const modelId = await modelIdFor(tx, actor, target);
    return Promise.all([q.getModel(tx, actor, modelId), q.listFiles(tx, actor, modelId), q.activeShare(tx, modelId)]);
  });
  if (!row) throw ERRORS.notFound('Model');
  return {
    ...summary(row),
    workspaceId: row.workspaceId,
    /** The caller's role in the model's workspace: what the dashboard offers them. */
    role: effectiveRole(actor, row.role),
    ...modelCard(row, asDelivered(files, row.mainCheckpoint)),
    bestCheckpoint: row.bestCheckpoint,
    /** The promoted checkpoint, the recommended one and why, every checkpoint's loss and bytes, what pruning freed. */
    checkpoints: {
      ...checkpointsView(row.bestCheckpoint, row, files),
      trainerBest: trainerBestView(row.outputReport?.trainerBest, row.bestCheckpoint),
    },
    /** What the ingest skipped (.git/, wandb/, …) and the problems it met reading trainer files (never fatal); null before it was recorded. */
    output: row.outputReport ? { skipped: row.outputReport.skipped, warnings: row.outputReport.warnings } : null,
    share: share ? { id: share.id, expiresAt: share.expiresAt.toISOString(), createdAt: share.createdAt.toISOString() } : null,
    /** The aliases this model holds, and the last 50 alias moves of its family (newest first). */
    ...aliasView(row.heldAliases, row.familyHistory),
  };
}

type StoredFileRow = Awaited<ReturnType<typeof q.listFiles>>[number];

/**
 * Signed links for `chosen` (all of the model's when it is `all`), plus a zip bundle link when every file
 * is chosen, for `ttl` seconds from `nowMs`. `grant` names whom they are for (`u:<userId>`, `s:<shareId>`):
 * the fs driver and the bundle route ask again at download time whether that one still may read.
 */
export async function signDownload(
  deps: Deps,
  model: { id: string; name: string },
  all: Delivered<StoredFileRow>[],
  fileIds: string[] | undefined,
  grant: string,
  options: { bundleOnly?: boolean | undefined } = {},
) {
  const ttl = Math.min(deps.env.signedUrlTtlSeconds, MAX_LINK_LIFETIME_SECONDS);
  // Whole seconds, taken before signing: every link (fs exp, S3 X-Amz-Date + Expires, bundle exp) is
  // signed at or after this instant, so none expires before the expiresAt we report.
  const nowMs = deps.now();
  const expiresAt = new Date((Math.floor(nowMs / 1000) + ttl) * 1000);
  let chosen = all;
  if (fileIds) {
    const wanted = new Set(fileIds);
    chosen = all.filter((f) => wanted.has(f.id));
    if (chosen.length !== wanted.size) throw ERRORS.notFound('File');
  }
  // Only the zip's link: no file link is signed (and none counted).
  const files = await Promise.all(
    (options.bundleOnly ? [] : chosen).map(async (f) => ({
      id: f.id,
      path: f.path,
      sizeBytes: Number(f.sizeBytes),
      sha256: f.sha256,
      url: await deps.storage.signedUrl(f.storageKey, { expiresInSeconds: ttl, fileName: baseName(f.path), contentType: f.contentType, grant }),
    })),
  );
  const bundle = chosen.length === all.length ? bundleUrl(deps.env.publicUrl, deps.secret, model.id, grant, ttl, nowMs) : null;
  return {
    files,
    expiresAt: expiresAt.toISOString(),
    bundle: bundle ? { url: bundle.url, fileName: `${bundleName(model.name)}.zip` } : null,
  };
}

/**
 * Signs a URL per requested file (all when none are named) for SIGNED_URL_TTL_SECONDS, plus a zip
 * bundle link when every file is requested, and records the download. Nothing signed is stored. Any
 * member may download (viewers included).
 */
export async function downloadModel(
  deps: Deps,
  actor: Actor,
  input: ModelTarget & { fileIds?: string[] | undefined; bundleOnly?: boolean | undefined },
  meta: { ip: string | null; userAgent: string | null },
) {
  if (input.bundleOnly && input.fileIds) throw ERRORS.invalidField('bundleOnly', 'bundleOnly is the zip of every file: leave fileIds out.');
  const handedOut = await deps.database.asUser(
    rls(actor),
    async (tx) => {
      // A reference costs a lookup first; an id goes straight on.
      const modelId = await modelIdFor(tx, actor, input);
      // Reads, then the record, in one write: a request the reads refuse throws, and its record is rolled back.
      const reads = Promise.all([q.modelAccess(tx, actor, modelId), q.listFiles(tx, actor, modelId)]);
      // The zip's link alone records nothing: fetching the zip records it (one click, one record).
      const recorded = input.bundleOnly
        ? Promise.resolve()
        : q.recordDownload(tx, {
            userId: actor.userId,
            shareId: null,
            artifactId: modelId,
            fileIds: input.fileIds ?? null,
            kind: 'files',
            ...meta,
          });
      // Awaited once the request is valid (a model that is not there fails the insert too).
      recorded.catch(() => {});
      const [model, all] = await reads;
      if (!model) throw ERRORS.notFound('Model');
      const signed = await signDownload(
        deps,
        { id: modelId, name: model.name },
        asDelivered(all, model.mainCheckpoint),
        input.fileIds,
        userGrant(actor.userId),
        { bundleOnly: input.bundleOnly },
      );
      await recorded;
      return signed;
    },
    // A download record is not worth a WAL flush on the request path (see UserTransactionOptions).
    { relaxedCommit: true },
  );
  return countDownload(deps, 'member', handedOut, { recorded: !input.bundleOnly });
}

/** Counts, once its transaction committed, a download handed out (server/metrics): its record, and each link signed. */
export function countDownload(deps: Deps, via: 'member' | 'share', signed: Awaited<ReturnType<typeof signDownload>>, options: { recorded: boolean }) {
  if (options.recorded) deps.metrics.downloads.inc({ kind: 'files', via });
  deps.metrics.signedLinks.inc({ kind: 'file' }, signed.files.length);
  if (signed.bundle) deps.metrics.signedLinks.inc({ kind: 'bundle' });
  return signed;
}

/** The grant of links signed for a member: they work while that user may still read the model. */
function userGrant(userId: string): string {
  return `u:${userId}`;
}

/**
 * What a verified bundle link serves: the model's name and creation time and all its files, read in the
 * member's row-level-security transaction like every user-facing read, so a member removed since the
 * link was signed gets nothing. A GET is recorded (`record`); a HEAD (`null`) is not.
 */
export async function openBundle(deps: Deps, userId: string, modelId: string, record: { ip: string | null; userAgent: string | null } | null) {
  const reach: Reach = { userId, token: null };
  const bundle = await deps.database.asUser(
    rls(reach),
    async (tx) => {
      // As in downloadModel: reads and record in one write; a model that is not there rolls the record back.
      const reads = Promise.all([q.bundleModel(tx, reach, modelId), q.listFiles(tx, reach, modelId)]);
      const recorded = record ? q.recordDownload(tx, { userId, shareId: null, artifactId: modelId, fileIds: null, kind: 'bundle', ...record }) : null;
      recorded?.catch(() => {});
      const [model, files] = await reads;
      if (!model) throw ERRORS.notFound('Model');
      await recorded;
      return { name: model.name, createdAt: model.createdAt, files: asDelivered(files, model.mainCheckpoint) };
    },
    { relaxedCommit: true },
  );
  if (record) deps.metrics.downloads.inc({ kind: 'bundle', via: 'member' });
  return bundle;
}

/** A file-name-safe stem for the zip, from the model's name. */
export function bundleName(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 100) || 'model'
  );
}
