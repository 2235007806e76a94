/**
 * models.export / models.exports: a model's adapter converted to a llama.cpp LoRA GGUF (F16) by the
 * `export-gguf` job, stored as one of the model's files and downloaded through signed links like any other.
 * An export is keyed by its source file's SHA-256, so asking twice (at once, or after it is ready) is one
 * job and one file, and a failed one may be asked for again.
 */
import { sql } from 'drizzle-orm';
import { fromDrizzle } from 'pg-boss';
import { z } from 'zod';
import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { createHasher } from '../ingest/hasher.ts';
import { parseAdapterConfig } from '../ingest/inspect/adapter-config.ts';
import { ADAPTER_WEIGHT_NAMES, checkpointOf } from '../ingest/inspect/classify.ts';
import { isPickle } from '../ingest/inspect/sniff.ts';
import { mainAdapterWeights } from '../ingest/inspect-artifact.ts';
import { InspectionError, type RangeReader } from '../ingest/inspect/safetensors.ts';
import { publishExportChange } from '../events/publish.ts';
import { modelAccess } from '../models/queries.ts';
import { notify } from '../notifications/service.ts';
import { baseName } from '../paths.ts';
import { defineJob, sendOptions } from '../queue/define-job.ts';
import { leaveUserRole, storedFiles } from '../registry/checkpoints-queries.ts';
import { storedBytes } from '../registry/usage-queries.ts';
import { formatBytes } from '../storage/free-space.ts';
import { type StorageDriver, StorageNotFoundError } from '../storage/storage.ts';
import { type Actor, judge, rls } from '../workspaces/roles.ts';
import { llamaCppArch } from './bases.ts';
import { refreshCardAfter } from './card-store.ts';
import * as q from './export-queries.ts';
import { type BaseHeads, ExportError, exportGguf, type LlamaCppArch } from './gguf/convert.ts';
import type { FitCheck } from './types.ts';

/** The adapter weights file names an export starts from, in order of preference: PEFT's (and torchtune's), then mlx-lm's. */
/** What an export reads: the safetensors forms of the adapter weights (PEFT's, mlx-lm's). */
const ADAPTER_WEIGHTS = ADAPTER_WEIGHT_NAMES.filter((n) => n.endsWith('.safetensors'));
const ADAPTER_CONFIG = 'adapter_config.json';
/** adapter_config.json is read whole; real ones are a few KB. */
const MAX_CONFIG_BYTES = 1024 * 1024;

type StoredFile = Awaited<ReturnType<typeof storedFiles>>[number];

/**
 * The llama.cpp architecture of a model's base, or the reason there is none, in words naming what is
 * missing: the export is refused before any job is queued.
 */
function exportArchitecture(fit: FitCheck | null): { arch: LlamaCppArch; heads: BaseHeads } | { refused: string } {
  if (!fit) return { refused: 'This model was ingested before fit checks existed, so its base architecture is unknown; GGUF export needs it.' };
  const facts = fit.base.facts;
  if (!facts) {
    const named = fit.base.name ? `"${fit.base.name}"` : 'not named in adapter_config.json';
    return {
      refused: `The base model (${named}) is not one this service knows, so its llama.cpp architecture cannot be told; GGUF export needs a known base or the base's config.json in the training output.`,
    };
  }
  const arch = llamaCppArch(facts.modelType);
  if (!arch) {
    return {
      refused: `GGUF export supports Llama, Mistral and Qwen2 bases (llama.cpp's "llama" and "qwen2"); this model's base ${facts.name} is "${facts.modelType}".`,
    };
  }
  if (fit.verdict === 'mismatch') {
    return {
      refused: `The adapter does not fit its base ${facts.name} (${fit.mismatchCount} tensor${fit.mismatchCount === 1 ? '' : 's'} differ), so llama.cpp would refuse the export.`,
    };
  }
  // llama.cpp permutes a llama base's Q/K rows (rope layout), so the export needs the head counts; a base with tied
  // embeddings has no output.weight for a LoRA on lm_head (unknown, in facts stored before the field: allowed).
  return {
    arch,
    heads: { attentionHeads: facts.attentionHeads, kvHeads: facts.kvHeads, tieWordEmbeddings: facts.tieWordEmbeddings },
  };
}

/**
 * The adapter weights file an export of `checkpoint` (null: the model's main adapter, the promoted
 * checkpoint's when one is) starts from, as stored. Throws NOT_FOUND for a checkpoint the model never had,
 * BAD_REQUEST for a pruned one or an output with no safetensors adapter.
 */
function exportSource(
  files: readonly StoredFile[],
  checkpoint: string | null,
  model: { mainCheckpoint: string | null; prunedCheckpoints: readonly { name: string }[] },
): { weights: StoredFile; folder: string | null } {
  const folder = checkpoint ?? model.mainCheckpoint;
  const at = (name: string) => files.find((f) => f.path === (folder ? `${folder}/${name}` : name)) ?? null;
  let weights: StoredFile | null;
  if (folder === null) {
    // The run's own adapter: top-level, or (torchtune's epoch_<n>/, a run saved only in checkpoints) its last checkpoint's.
    weights = mainAdapterWeights(files) ?? null;
  } else if (checkpointOf(folder)?.file) {
    // mlx-lm's checkpoint is one file (0000100_adapters.safetensors), its config the run's.
    weights = files.find((f) => f.path === folder) ?? null;
  } else weights = ADAPTER_WEIGHTS.map(at).find((f) => f !== null) ?? null;
  if (!weights) {
    if (checkpoint !== null) {
      if (model.prunedCheckpoints.some((p) => p.name === checkpoint)) {
        throw ERRORS.invalidField('checkpoint', `${checkpoint} was pruned: its files are gone, so it cannot be exported.`);
      }
      if (!files.some((f) => f.path === checkpoint || f.path.startsWith(`${checkpoint}/`))) throw ERRORS.notFound(`Checkpoint ${checkpoint}`);
    }
    throw ERRORS.badRequest(
      `${folder ? `${folder}/` : ''}${ADAPTER_WEIGHTS[0]} is not among this model's files; GGUF export reads a safetensors adapter (PEFT's ${ADAPTER_WEIGHTS[0]} or mlx-lm's ${ADAPTER_WEIGHTS[1]}).`,
    );
  }
  // By content where the ingest recorded it (a pickle named .safetensors included), else by name (models stored before).
  if (isPickle(weights.format) || (weights.format === null && !weights.path.endsWith('.safetensors'))) {
    throw ERRORS.badRequest(
      `${weights.path} is a pickle: its weights are never read by this service, so it cannot be exported. Re-save the adapter with safe_serialization=True (safetensors).`,
    );
  }
  return { weights, folder };
}

/** Asks for an export (members): returns the export of the same content when there is one, else queues the job. */
export async function requestExport(deps: Deps, actor: Actor, input: { modelId: string; format: 'gguf'; checkpoint?: string | undefined }) {
  return deps.database.asUser(rls(actor), async (tx) => {
    // Pipelined (one round trip); row-level security hides a stranger's model from all three, and the role is judged first.
    const [access, model, files] = await Promise.all([
      modelAccess(tx, actor, input.modelId),
      q.exportSubject(tx, input.modelId),
      storedFiles(tx, input.modelId),
    ]);
    judge(actor, access?.role ?? null, 'write', 'Model');
    if (!model) throw ERRORS.notFound('Model');
    const source = exportSource(files, input.checkpoint ?? null, model);
    const arch = exportArchitecture(model.compatibility);
    if ('refused' in arch) throw ERRORS.badRequest(arch.refused);
    const { row, created } = await q.claimExport(tx, {
      artifactId: input.modelId,
      workspaceId: model.workspaceId,
      format: input.format,
      checkpoint: source.folder,
      sourcePath: source.weights.path,
      sourceSha256: source.weights.sha256,
      requestedBy: actor.userId,
    });
    if (created) {
      await enqueueExport(deps, tx, row.id);
      return { exportId: row.id, status: row.status };
    }
    if (row.status === 'ready') return { exportId: row.id, status: row.status };
    // Failed, or queued/running with no job left in pg-boss (its worker died past the job's retries): asked again.
    await leaveUserRole(tx);
    if (row.status !== 'failed' && (await q.exportJobLive(tx, exportGgufJob.name, row.id))) return { exportId: row.id, status: row.status };
    await q.requeueExport(tx, row.id, actor.userId);
    await enqueueExport(deps, tx, row.id);
    return { exportId: row.id, status: 'queued' as const };
  });
}

/** The model's exports, newest first (anyone who may read the model). */
export async function listExports(deps: Deps, actor: Actor, input: { modelId: string }) {
  const rows = await deps.database.asUser(rls(actor), async (tx) => {
    judge(actor, (await modelAccess(tx, actor, input.modelId))?.role ?? null, 'read', 'Model');
    return q.listExports(tx, input.modelId);
  });
  return rows.map((r) => ({
    id: r.id,
    format: r.format,
    status: r.status,
    checkpoint: r.checkpoint,
    sourcePath: r.sourcePath,
    fileId: r.fileId ?? undefined,
    path: r.path,
    sizeBytes: r.sizeBytes === null ? null : Number(r.sizeBytes),
    error: r.error,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  }));
}

/** Enqueues the job inside `tx`, so it exists exactly when the request commits (owner role by then). */
async function enqueueExport(deps: Deps, tx: Tx, exportId: string): Promise<void> {
  await leaveUserRole(tx); // harmless when already left
  const payload = { exportId };
  await deps.boss.send(exportGgufJob.name, payload, { ...sendOptions(exportGgufJob, payload), db: fromDrizzle(tx, sql) });
  // Queued (new, or asked again): the model's open pages hear it at commit.
  await publishExportChange(tx, exportId);
}

/**
 * `support-bot-v3-F16-LoRA.gguf` (llama.cpp's own naming) at the top for the model's adapter (wherever the output kept
 * it: torchtune's is in `epoch_0/`), in the checkpoint's folder for a checkpoint's (`checkpoint-500/…-checkpoint-500-…`),
 * and beside it for mlx-lm's one-file checkpoints (`…-0000100_adapters-F16-LoRA.gguf`).
 */
export function exportPath(family: string, version: number, checkpoint: string | null, taken: ReadonlySet<string>): string {
  const file = checkpoint !== null && checkpointOf(checkpoint)?.file === true;
  const folder =
    checkpoint === null ? null : file ? (checkpoint.includes('/') ? checkpoint.slice(0, checkpoint.lastIndexOf('/')) : null) : checkpoint;
  const label = checkpoint === null ? '' : `-${file ? baseName(checkpoint).replace(/\.safetensors$/, '') : baseName(checkpoint)}`;
  const stem = `${family}-v${version}${label}-F16-LoRA`;
  const inFolder = (name: string) => (folder ? `${folder}/${name}` : name);
  let path = inFolder(`${stem}.gguf`);
  // A training output file of that very name keeps it; the export takes the next free one.
  for (let n = 2; taken.has(path); n++) path = inFolder(`${stem}-${n}.gguf`);
  return path;
}

function rangeReader(storage: StorageDriver, key: string): RangeReader {
  return async (offset, length) => {
    if (length === 0) return new Uint8Array(0);
    const stream = await storage.get(key, { start: offset, end: offset + length - 1 });
    return new Uint8Array(await new Response(stream).arrayBuffer());
  };
}

const isPermanent = (err: unknown) => err instanceof ExportError || err instanceof InspectionError || err instanceof StorageNotFoundError;

/**
 * Converts one export. The GGUF streams into storage under a key of its own (hashed on the way), and only
 * then, in one transaction with the model's row locked, becomes one of the model's files: a purge or a prune
 * of the source that went first leaves nothing behind (the object is deleted), one that comes after takes
 * the export along. A corrupt or truncated adapter fails the export with its reason; nothing half-written stays.
 */
export const exportGgufJob = defineJob({
  name: 'export-gguf',
  payload: z.object({ exportId: z.uuid() }),
  queue: {
    // One queued and one active job per export; UNIQUE(source SHA-256) already makes one export per content.
    policy: 'stately',
    notify: true,
    // An adapter is at most a few GB: minutes, not hours. The heartbeat catches a dead worker.
    expireInSeconds: 60 * 60,
    heartbeatSeconds: 30,
    retryLimit: 3,
    retryDelay: 10,
    retryBackoff: true,
    deadLetter: 'export-gguf-dead',
  },
  work: { includeMetadata: true, perJobResults: true, pollingIntervalSeconds: 2 },
  singletonKey: (p) => p.exportId,
  async handle(deps, { exportId }, job) {
    const { db } = deps.database;
    const log = deps.log.child({ job: 'export-gguf', exportId, attempt: job.retryCount });
    const e = await q.exportForJob(db, exportId);
    if (!e || e.status === 'ready') return { status: 'completed', output: { skipped: e ? 'ready' : 'gone' } };
    const key = `${e.storagePrefix}x-${exportId}`;
    try {
      await q.markExport(db, exportId, 'running');
      const arch = exportArchitecture(e.compatibility);
      if ('refused' in arch) throw new ExportError(arch.refused);
      const files = await storedFiles(db, e.artifactId);
      const weights = files.find((f) => f.path === e.sourcePath && f.sha256 === e.sourceSha256);
      if (!weights) throw new ExportError(`${e.sourcePath} is no longer stored (its checkpoint was pruned).`);
      const folder = e.sourcePath.includes('/') ? e.sourcePath.slice(0, e.sourcePath.lastIndexOf('/')) : null;
      const configFile = files.find((f) => f.path === (folder ? `${folder}/${ADAPTER_CONFIG}` : ADAPTER_CONFIG));
      if (!configFile) throw new ExportError(`${ADAPTER_CONFIG} is missing next to ${e.sourcePath}; the export needs lora_alpha from it.`);
      if (Number(configFile.sizeBytes) > MAX_CONFIG_BYTES) throw new ExportError(`${configFile.path} is larger than 1 MiB.`);
      const configText = new TextDecoder().decode(await rangeReader(deps.storage, configFile.storageKey)(0, Number(configFile.sizeBytes)));
      const config = parseAdapterConfig(configText, configFile.path);

      const converted = await exportGguf(
        rangeReader(deps.storage, weights.storageKey),
        Number(weights.sizeBytes),
        config,
        arch.arch,
        e.name,
        arch.heads,
      );
      const quota = deps.env.workspaceQuotaBytes;
      if (quota !== null) {
        const used = await storedBytes(db, e.workspaceId);
        if (used + converted.size > quota) {
          throw new ExportError(
            `This workspace's storage quota is full: it uses ${formatBytes(used)} of ${formatBytes(quota)}, and the export needs ${formatBytes(converted.size)}. Free space, then ask again.`,
          );
        }
      }
      const path = exportPath(e.family, e.version, e.checkpoint, new Set(files.map((f) => f.path)));
      const sha256 = await putHashed(deps.storage, key, converted.stream, { size: converted.size, fileName: baseName(path), signal: job.signal });

      const delivered = await db.transaction(async (tx) => {
        const state = await q.lockForDelivery(tx, e.artifactId, e.sourcePath, e.sourceSha256);
        if (!state) return 'gone' as const;
        if (!state.sourceStored) return 'pruned' as const;
        // Only exports add files after the ingest, and this one is single: the name is still free.
        if (state.takenPaths.has(path)) throw new Error(`export path ${path} was taken meanwhile`);
        const fileId = await q.deliverExport(
          tx,
          { exportId, artifactId: e.artifactId, workspaceId: e.workspaceId },
          { path, storageKey: key, sizeBytes: converted.size, sha256 },
        );
        await notify(deps, tx, {
          kind: 'export.ready',
          workspaceId: e.workspaceId,
          artifactId: e.artifactId,
          modelName: e.name,
          path,
          format: 'gguf',
        });
        return { path, fileId };
      });
      if (delivered === 'pruned') throw new ExportError(`${e.sourcePath} was pruned while it was being exported.`);
      if (delivered === 'gone') {
        // Purged meanwhile: its purge may have emptied the prefix before this upload re-created it, so the whole
        // prefix goes again (nothing else can be there: a purged model's id is never reused).
        await deps.storage.deletePrefix(e.storagePrefix);
        log.info('model purged during its export; the export was removed');
        return { status: 'completed', output: { skipped: 'model purged' } };
      }
      // The card names the GGUF in its llama.cpp and Ollama usage; a failure to refresh it leaves the old card.
      await refreshCardAfter(deps, e.artifactId);
      log.info('export ready', { path: delivered.path, size: converted.size });
      return { status: 'completed', output: { fileId: delivered.fileId } };
    } catch (err) {
      // Purged while it ran (its objects went from under the read): nothing to retry, nothing to keep.
      if (!(await q.exportForJob(db, exportId))) {
        await deps.storage.deletePrefix(e.storagePrefix);
        log.info('model purged during its export; the export was removed');
        return { status: 'completed', output: { skipped: 'model purged' } };
      }
      await deps.storage.deleteKeys([key]).catch(() => {});
      const message =
        err instanceof StorageNotFoundError
          ? `A stored file of this model (${e.sourcePath} or its adapter_config.json) is missing from storage; the operator should look.`
          : isPermanent(err)
            ? (err as Error).message
            : 'The export failed on our side; ask for it again.';
      const final = isPermanent(err) || job.retryCount >= job.retryLimit;
      if (!final) {
        log.warn('export attempt failed; will retry', { err });
        throw err;
      }
      if (!isPermanent(err)) log.error('export failed', { err });
      else if (err instanceof StorageNotFoundError) log.warn('export failed: a stored object is missing', { err });
      await db.transaction(async (tx) => {
        await q.markExport(tx, exportId, 'failed', message);
        await notify(deps, tx, { kind: 'export.failed', workspaceId: e.workspaceId, artifactId: e.artifactId, modelName: e.name, error: message });
      });
      return { status: 'deadletter', output: { error: message } };
    }
  },
});

/** Streams `body` into `key`, hashing it on the way (on a worker when large); resolves with the SHA-256. */
async function putHashed(
  storage: StorageDriver,
  key: string,
  body: ReadableStream<Uint8Array>,
  options: { size: number; fileName: string; signal?: AbortSignal | undefined },
) {
  const hasher = createHasher(options.size);
  let hashing: Promise<void> = Promise.resolve();
  try {
    const hashed = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        async transform(chunk, controller) {
          // push copies a chunk that is not shared memory, so it may be written at once; a few in flight at most.
          hashing = hasher.push(chunk);
          hashing.catch(() => {});
          await hasher.below(4);
          controller.enqueue(chunk);
        },
      }),
    );
    await storage.put(key, hashed, {
      size: options.size,
      contentType: 'application/octet-stream',
      fileName: options.fileName,
      signal: options.signal,
    });
    await hashing;
    return await hasher.digest();
  } finally {
    hasher.close();
  }
}
