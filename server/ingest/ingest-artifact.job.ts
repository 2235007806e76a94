import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { notify } from '../notifications/service.ts';
import { defineJob } from '../queue/define-job.ts';
import { lossCurve, lossStats } from '../quality/queries.ts';
import { scoreRun } from '../quality/score.ts';
import type { LossPoint } from '../vocabulary.ts';
import { artifactIdFor, storagePrefix } from './artifact-id.ts';
import { copyToStorage, IntegrityError } from './copy.ts';
import { copyConcurrently } from './copy-files.ts';
import { inspectArtifact, mainAdapterWeights, type StoredFile } from './inspect-artifact.ts';
import { cardAllowance, storeCard } from '../adapters/card-store.ts';
import { adapterWeightHealth } from '../adapters/weight-report.ts';
import { formatRef } from '../registry/refs.ts';
import { trainingSummaryOf } from '../adapters/view.ts';
import { markIngestFailed } from './mark-failed.ts';
import * as q from './queries.ts';
import { InspectionError } from './inspect/safetensors.ts';
import { classifyFile, contentTypeFor } from './inspect/classify.ts';
import { sniffFormat } from './inspect/sniff.ts';
import { skipFolders, trainerBestOf } from '../outputs/output-report.ts';
import { readTrainerOutput } from '../outputs/trainer-files.ts';
import { mergeOutputCurve } from '../outputs/curve-merge.ts';
import { type OutputReport, storedEvalSets } from '../outputs/types.ts';
import { validateOutputPath } from './inspect/file-name.ts';
import { baseName } from '../paths.ts';
import { withRetry } from './retry.ts';
import { openSource, PermanentSourceError, TransientSourceError, withBytes } from './sources/index.ts';
import { checkOutputUri } from './sources/allowed.ts';
import { keepClearOfGeneratedNames } from '../storage/generated-names.ts';
import { IngestError, userMessage } from './user-message.ts';
import { ensureStorageRoom, ensureWithinQuota, storageFull } from './storage-room.ts';
import { planIngestCheckpoints } from '../registry/checkpoints.ts';
import { storedBytes } from '../registry/usage-queries.ts';

/** The biggest single output file we accept (the product's promise is "up to 5 GB a file"). */
const MAX_FILE_BYTES = 5 * 1024 ** 3;
const MAX_FILES = 2_000;

const isPermanent = (err: unknown) =>
  err instanceof IngestError || err instanceof PermanentSourceError || err instanceof IntegrityError || err instanceof InspectionError;

/**
 * Copies a finished run's output into private storage (streamed, SHA-256 checked), inspects it, scores
 * the run, and delivers the model: artifact, files, job link and notification in one transaction,
 * guarded by model_artifacts.job_id UNIQUE, so however often pg-boss runs this (it is at-least-once),
 * the workspace gets one model and each member one notification.
 */
export const ingestArtifactJob = defineJob({
  name: 'ingest-artifact',
  payload: z.object({ jobId: z.uuid() }),
  queue: {
    // stately + singletonKey: at most one queued and one active ingest per training job.
    policy: 'stately',
    notify: true,
    // Sized for several 5 GB copies; the heartbeat, not the expiry, catches a dead worker quickly.
    expireInSeconds: 4 * 60 * 60,
    heartbeatSeconds: 30,
    retryLimit: 4,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    deadLetter: 'ingest-artifact-dead',
  },
  work: { includeMetadata: true, perJobResults: true, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 10 },
  singletonKey: (p) => p.jobId,
  async handle(deps, { jobId }, job) {
    const started = performance.now();
    const { db } = deps.database;
    const log = deps.log.child({ job: 'ingest-artifact', jobId, attempt: job.retryCount });
    const row = await q.jobForIngest(db, jobId);
    if (!row || row.artifactId || row.status !== 'completed' || !row.outputUri) {
      return { status: 'completed', output: { skipped: !row ? 'no such job' : row.artifactId ? 'already delivered' : 'not completed' } };
    }
    const artifactId = artifactIdFor(jobId);
    const prefix = storagePrefix(artifactId);
    await q.markIngesting(db, jobId);
    // Metrics (server/metrics): the attempt's time and the bytes of the files it stored whole, by how it ended.
    let copiedBytes = 0;
    const measure = (outcome: 'delivered' | 'failed' | 'retried') => {
      deps.metrics.ingestDuration.observe({ outcome }, (performance.now() - started) / 1000);
      deps.metrics.ingestBytes.inc({ outcome }, copiedBytes);
    };

    try {
      const signal = job.signal;
      // A retry starts clean: whatever an earlier attempt left (a partial upload of a killed worker)
      // goes; the keys are the same, so nothing of value is lost.
      if (job.retryCount > 0) await deps.storage.deletePrefix(prefix);
      // Checked again, not only by jobs.complete: the folder may be a symlink by now, and rows the sweep
      // re-queues (or completed before the check existed) never passed complete.
      const admitted = await checkOutputUri(deps.env, { jobId, userId: row.createdBy, workspaceId: row.workspaceId }, row.outputUri);
      if (!admitted.allowed) throw new IngestError(admitted.reason);
      const source = openSource(row.outputUri, {
        file: admitted.file,
        allowPrivateHosts: deps.env.sourceAllowPrivateHosts,
        s3:
          deps.env.sourceS3.accessKeyId && deps.env.sourceS3.secretAccessKey
            ? {
                endpoint: deps.env.sourceS3.endpoint,
                region: deps.env.sourceS3.region,
                accessKeyId: deps.env.sourceS3.accessKeyId,
                secretAccessKey: deps.env.sourceS3.secretAccessKey,
                // RunPod's S3 API and most self-hosted stores want path-style addressing.
                forcePathStyle: true,
              }
            : undefined,
      });
      // The one retry layer for listing: sources try once per call (see Source in sources/source.ts).
      const listed = await withRetry(() => source.list(signal), {
        attempts: 5,
        baseMs: 500,
        maxMs: 10_000,
        signal,
        isRetryable: (e) => e instanceof TransientSourceError,
      });
      if (listed.length === 0) throw new IngestError(`no files found at ${row.outputUri}`);
      // The source is asked for the name it gave; we record the validated, normalised one.
      const validated = listed.map((f) => ({ source: f, path: validateOutputPath(f.path) }));
      // .git/, runs/, wandb/, caches and interrupted saves are left where they are (unless the workspace includes them), and listed.
      const { copied, skipped } = skipFolders(validated, row.includeSkipped);
      if (copied.length === 0) throw new IngestError(`no files found at ${row.outputUri} outside ${skipped.map((s) => s.rule).join(', ')}`);
      if (copied.length > MAX_FILES) throw new IngestError(`${copied.length} files at ${row.outputUri}; at most ${MAX_FILES} are accepted`);
      // A top-level file named like one we generate (SHA256SUMS) is kept as SHA256SUMS.trainer, its name recorded.
      const files = keepClearOfGeneratedNames(copied.map((f) => f.path)).map((named, i) => ({ ...copied[i]!, ...named }));
      for (const f of files) {
        if (f.source.size > MAX_FILE_BYTES) throw new IngestError(`${f.path} is ${f.source.size} bytes; files over 5 GiB are not accepted`);
      }
      // The curve and evaluations the trainer left (read from the source, bounded, parsed off the event loop): a run whose
      // worker reported fewer points gets its curve from the output before scoring and checkpoint ranking read it.
      const bySourcePath = new Map(files.map((f) => [f.sourcePath ?? f.path, f.source.path]));
      const readBytes = new Map<string, Uint8Array>();
      const trainer = await readTrainerOutput(
        (path) => source.open(bySourcePath.get(path) ?? path, 0, signal),
        files.map((f) => ({ path: f.sourcePath ?? f.path, size: f.source.size })),
        { keep: (path, bytes) => readBytes.set(bySourcePath.get(path) ?? path, bytes) },
      );
      // The trainer files just read are copied from those bytes: fetched once, and what was parsed is what is hashed and stored.
      const copySource = withBytes(source, readBytes);
      const curveReport = await mergeOutputCurve(db, jobId, trainer.curve);
      // The checkpoints the workspace does not keep (server/registry/checkpoints.ts) are decided from the
      // listing and the run's metrics, and never copied.
      const checkpoints = await planIngestCheckpoints(
        db,
        { jobId, workspaceId: row.workspaceId },
        files.map((f) => ({ ...f, size: f.source.size })),
        deps.now(),
      );
      if (checkpoints.note) log.info('all checkpoints kept', { note: checkpoints.note });
      const kept = checkpoints.kept;
      const keptBytes = kept.reduce((a, f) => a + f.size, 0);
      // Fails now, before copying, when the output would pass the workspace's quota or cannot fit (fs storage reports its free space).
      const quota = deps.env.workspaceQuotaBytes;
      // The generated model card counts too (an upper bound: it is rendered at delivery).
      if (quota !== null) ensureWithinQuota(quota, await storedBytes(db, row.workspaceId), keptBytes + cardAllowance(kept.length));
      await ensureStorageRoom(
        deps.storage,
        kept.map((f) => f.size),
      );

      // A few files at a time; keys and rows follow the listing's order whatever order the copies finish in.
      const stored: StoredFile[] = await copyConcurrently(
        kept,
        async (file, n, copySignal) => {
          const key = `${prefix}${n}`;
          const contentType = contentTypeFor(file.path);
          const fileName = baseName(file.path);
          const { sha256, size, head } = await copyToStorage({
            source: copySource,
            file: file.source,
            storage: deps.storage,
            key,
            contentType,
            fileName,
            signal: copySignal,
          }).catch(storageFull(file.path));
          log.debug('file copied', { path: file.path, size });
          copiedBytes += size;
          return { path: file.path, key, size, sha256, kind: classifyFile(file.path), contentType, format: sniffFormat(head, size) };
        },
        { signal },
      );

      const { adapter, fit, config, warnings: inspectionWarnings } = await inspectArtifact(deps.storage, stored);
      const evaluations = storedEvalSets(trainer.evals);
      const outputReport: OutputReport = {
        curve: curveReport,
        trainerBest: trainerBestOf(trainer.curve, files),
        skipped,
        warnings: [...trainer.warnings, ...inspectionWarnings],
      };
      // After the bytes are stored and before delivery, so the notification already carries the verdict.
      const weights = await adapterWeightHealth(deps.storage, stored, mainAdapterWeights(stored) ?? null, config, {
        signal,
        trainerBest: outputReport.trainerBest?.checkpoint ?? null,
      });
      const stats = await lossStats(db, jobId);
      const scored = scoreRun(stats);
      // An untrained adapter changes nothing, whatever its loss curve says: one star (the explanation says why).
      const quality = weights.untrained ? { ...scored, score: 1 as const } : scored;
      const curve: LossPoint[] = await lossCurve(db, jobId, stats.pointCount);

      const delivered = await db.transaction(async (tx) => {
        // Someone else delivered this job first (a second worker, or our own earlier run): done.
        if (!(await q.claimDelivery(tx, jobId))) return false;
        const version = await q.nextVersion(tx, row.workspaceId, row.family);
        const datasetName = await q.datasetName(tx, row.datasetId);
        // The card names the version, so it is rendered here; its object is the prefix's like the rest (a lost race cleans it).
        const card = await storeCard(deps.storage, prefix, {
          name: row.name,
          ref: formatRef(row.family, version),
          family: row.family,
          version,
          description: '',
          tags: [],
          datasetName,
          quality,
          trainingSummary: trainingSummaryOf({ ...row, totalCost: row.costUsd }),
          hyperparameters: row.config as Record<string, unknown>,
          adapter,
          compatibility: fit,
          weights,
          mainCheckpoint: null,
          evaluations,
          files: stored.map((f) => ({ path: f.path, sizeBytes: f.size, sha256: f.sha256, kind: f.kind })),
        });
        const inserted = await q.insertArtifact(tx, {
          id: artifactId,
          workspaceId: row.workspaceId,
          createdBy: row.createdBy,
          jobId,
          datasetId: row.datasetId,
          name: row.name,
          family: row.family,
          version,
          qualityScore: quality.score,
          convergence: quality.convergence,
          lossReductionPct: quality.lossReductionPct,
          initialLoss: quality.initialLoss,
          finalTrainingLoss: quality.finalTrainingLoss,
          finalValidationLoss: quality.finalValidationLoss,
          overfitGap: quality.overfitGap,
          perplexity: quality.perplexity,
          epochsCompleted: row.epochsCompleted,
          totalSteps: row.totalSteps,
          durationSeconds: row.durationSeconds,
          totalCost: row.costUsd,
          hyperparameters: row.config,
          gpu: row.gpu,
          adapter,
          compatibility: fit,
          weights,
          evaluations,
          outputReport,
          bestCheckpoint: checkpoints.best,
          lossCurve: curve,
          storagePrefix: prefix,
          totalBytes: stored.reduce((a, f) => a + f.size, card.sizeBytes),
          fileCount: stored.length + 1,
          prunedCheckpoints: checkpoints.entries,
          prunedBytes: checkpoints.prunedBytes,
        });
        if (!inserted) return false;
        await q.insertArtifactFiles(
          tx,
          stored.map((f, i) => ({
            artifactId,
            workspaceId: row.workspaceId,
            path: f.path,
            sourcePath: kept[i]!.sourcePath,
            storageKey: f.key,
            sizeBytes: f.size,
            sha256: f.sha256,
            kind: f.kind,
            contentType: f.contentType,
            format: f.format,
          })),
          { artifactId, workspaceId: row.workspaceId, ...card },
        );
        await q.markDelivered(tx, jobId, artifactId);
        await notify(deps, tx, {
          kind: 'model.ready',
          workspaceId: row.workspaceId,
          jobId,
          artifactId,
          modelName: row.name,
          fileCount: stored.length + 1,
          qualityScore: quality.score,
          convergence: quality.convergence,
          datasetName,
          fit: { verdict: fit.verdict, base: fit.base.facts?.name ?? fit.base.name, mismatchCount: fit.mismatchCount },
          untrained: weights.untrained,
        });
        return true;
      });
      // A twin that lost the race wrote the same keys as the winner (same bytes); if the model was purged
      // meanwhile, those objects are ours alone now, and must not outlive it.
      if (!delivered && (await q.wasPurged(db, jobId))) await deps.storage.deletePrefix(prefix);
      log.info(delivered ? 'model delivered' : 'already delivered', { artifactId, files: stored.length });
      measure('delivered');
      return { status: 'completed', output: { artifactId, delivered } };
    } catch (err) {
      const message = userMessage(err);
      const final = isPermanent(err) || job.retryCount >= job.retryLimit;
      if (!final) {
        measure('retried');
        await q.recordAttemptError(db, jobId, message);
        log.warn('ingest attempt failed; will retry', { error: message, err, cause: (err as Error | undefined)?.cause });
        throw err;
      }
      log.error('ingest failed', { error: message, err, cause: (err as Error | undefined)?.cause });
      measure('failed');
      await failIngest(deps, jobId, row.workspaceId, row.name, prefix, message);
      return { status: 'deadletter', output: { error: message } };
    }
  },
});

/** Marks the job failed and tells the user, unless a concurrent attempt delivered it meanwhile. */
async function failIngest(deps: Deps, jobId: string, workspaceId: string, name: string, prefix: string, message: string) {
  const failed = await markIngestFailed(deps, { id: jobId, workspaceId, name }, message);
  // Leave no orphaned objects behind; a later retry writes the same keys again.
  if (failed) await deps.storage.deletePrefix(prefix).catch((e) => deps.log.warn('cleanup failed', { prefix, err: e }));
}
