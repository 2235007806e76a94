import { and, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { LossCurvePoint } from '../../db/schema';
import { artifactFiles, datasets, modelArtifacts, notifications, trainingJobs } from '../../db/schema';
import type { Deps } from '../deps';
import { defineJob } from '../queue/define-job';
import { lossCurve, lossStats } from '../quality/queries';
import { bestCheckpoint, scoreRun, type LossPoint } from '../quality/score';
import { artifactIdFor, storagePrefix } from './artifact-id';
import { copyToStorage, IntegrityError } from './copy';
import { inspectArtifact, type StoredFile } from './inspect-artifact';
import { markIngestFailed } from './mark-failed';
import { InspectionError } from './inspect/safetensors';
import { checkpointStep, classifyFile, contentTypeFor } from './inspect/classify';
import { validateOutputPath } from './inspect/file-name';
import { withRetry } from './retry';
import { openSource, PermanentSourceError, TransientSourceError } from './sources';
import { checkOutputUri } from './sources/allowed';
import { keepClearOfGeneratedNames } from '../storage/generated-names';
import { IngestError, userMessage } from './user-message';
import { ensureStorageRoom, storageFull } from './storage-room';

/** The biggest single output file we accept (the product's promise is "up to 5 GB a file"). */
export const MAX_FILE_BYTES = 5 * 1024 ** 3;
export const MAX_FILES = 2_000;

export { IngestError };

const isPermanent = (err: unknown) =>
  err instanceof IngestError || err instanceof PermanentSourceError || err instanceof IntegrityError || err instanceof InspectionError;

/**
 * Copies a finished run's output into private storage (streamed, SHA-256 checked), inspects it, scores
 * the run, and delivers the model: artifact, files, job link and notification in one transaction,
 * guarded by model_artifacts.job_id UNIQUE, so however often pg-boss runs this (it is at-least-once),
 * the user gets one model and one notification.
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
    const { db } = deps.database;
    const log = deps.log.child({ job: 'ingest-artifact', jobId, attempt: job.retryCount });
    const [row] = await db
      .select({
        userId: trainingJobs.userId,
        name: trainingJobs.name,
        status: trainingJobs.status,
        outputUri: trainingJobs.outputUri,
        artifactId: trainingJobs.artifactId,
        datasetId: trainingJobs.datasetId,
        config: trainingJobs.config,
        gpu: trainingJobs.gpu,
        epochsCompleted: trainingJobs.epochsCompleted,
        totalSteps: trainingJobs.totalSteps,
        durationSeconds: trainingJobs.durationSeconds,
        costUsd: trainingJobs.costUsd,
      })
      .from(trainingJobs)
      .where(eq(trainingJobs.id, jobId));
    if (!row || row.artifactId || row.status !== 'completed' || !row.outputUri) {
      return { status: 'completed', output: { skipped: !row ? 'no such job' : row.artifactId ? 'already delivered' : 'not completed' } };
    }
    const artifactId = artifactIdFor(jobId);
    const prefix = storagePrefix(row.userId, artifactId);
    await db
      .update(trainingJobs)
      .set({ ingestStatus: 'ingesting', ingestAttempts: sql`${trainingJobs.ingestAttempts} + 1`, ingestStartedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(trainingJobs.id, jobId), isNull(trainingJobs.artifactId)));

    try {
      const signal = job.signal;
      // A retry starts clean: whatever an earlier attempt left (a partial upload of a killed worker)
      // goes; the keys are the same, so nothing of value is lost.
      if (job.retryCount > 0) await deps.storage.deletePrefix(prefix);
      // Checked again, not only by jobs.complete: the folder may be a symlink by now, and rows the sweep
      // re-queues (or completed before the check existed) never passed complete.
      const admitted = await checkOutputUri(deps.env, { jobId, userId: row.userId }, row.outputUri);
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
      const listed = await withRetry(() => source.list(signal), {
        attempts: 5,
        baseMs: 500,
        maxMs: 10_000,
        signal,
        isRetryable: (e) => e instanceof TransientSourceError,
      });
      if (listed.length === 0) throw new IngestError(`no files found at ${row.outputUri}`);
      if (listed.length > MAX_FILES) throw new IngestError(`${listed.length} files at ${row.outputUri}; at most ${MAX_FILES} are accepted`);
      // The source is asked for the name it gave; we record the validated, normalised one.
      const validated = listed.map((f) => ({ source: f, path: validateOutputPath(f.path) }));
      // A top-level file named like one we generate (SHA256SUMS) is kept as SHA256SUMS.trainer, its name recorded.
      const files = keepClearOfGeneratedNames(validated.map((f) => f.path)).map((named, i) => ({ ...validated[i]!, ...named }));
      for (const f of files) {
        if (f.source.size > MAX_FILE_BYTES) throw new IngestError(`${f.path} is ${f.source.size} bytes; files over 5 GiB are not accepted`);
      }
      // Fails now, before copying, when the output cannot fit (fs storage reports its free space).
      await ensureStorageRoom(deps.storage, files.map((f) => f.source.size));

      const stored: StoredFile[] = [];
      for (const [n, file] of files.entries()) {
        const key = `${prefix}${n}`;
        const contentType = contentTypeFor(file.path);
        const fileName = file.path.split('/').pop()!;
        const { sha256, size } = await copyToStorage({ source, file: file.source, storage: deps.storage, key, contentType, fileName, signal }).catch(
          storageFull(file.path),
        );
        stored.push({ path: file.path, key, size, sha256, kind: classifyFile(file.path), contentType });
        log.debug('file copied', { path: file.path, size });
      }

      const adapter = await inspectArtifact(deps.storage, stored);
      const stats = await lossStats(db, jobId);
      const quality = scoreRun(stats);
      const curve: LossCurvePoint[] = await lossCurve(db, jobId, stats.pointCount);
      const best = await pickBestCheckpoint(deps, jobId, stored);

      const delivered = await db.transaction(async (tx) => {
        const [dataset] = await tx.select({ name: datasets.name }).from(datasets).where(eq(datasets.id, row.datasetId));
        const inserted = await tx
          .insert(modelArtifacts)
          .values({
            id: artifactId,
            userId: row.userId,
            jobId,
            datasetId: row.datasetId,
            name: row.name,
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
            bestCheckpoint: best,
            lossCurve: curve,
            storagePrefix: prefix,
            totalBytes: stored.reduce((a, f) => a + f.size, 0),
            fileCount: stored.length,
          })
          // No target: id and job_id are both unique and derived from the job, so a concurrent twin may trip either.
          .onConflictDoNothing()
          .returning({ id: modelArtifacts.id });
        // Someone else delivered this job first (a second worker, or our own earlier run): done.
        if (inserted.length === 0) return false;
        await tx.insert(artifactFiles).values(
          stored.map((f, i) => ({
            artifactId,
            userId: row.userId,
            path: f.path,
            sourcePath: files[i]!.sourcePath,
            storageKey: f.key,
            sizeBytes: f.size,
            sha256: f.sha256,
            kind: f.kind,
            contentType: f.contentType,
          })),
        );
        await tx
          .update(trainingJobs)
          .set({ artifactId, ingestStatus: 'ready', ingestError: null, updatedAt: new Date() })
          .where(eq(trainingJobs.id, jobId));
        const stars = quality.score ? `${quality.score}★ ${quality.convergence}` : 'not rated';
        await tx.insert(notifications).values({
          userId: row.userId,
          type: 'model_ready',
          title: `Your model ${row.name} is ready`,
          body: `${stored.length} files, ${stars}${dataset ? `, trained on ${dataset.name}` : ''}.`,
          link: `/models/${artifactId}`,
        });
        return true;
      });
      log.info(delivered ? 'model delivered' : 'already delivered', { artifactId, files: stored.length });
      return { status: 'completed', output: { artifactId, delivered } };
    } catch (err) {
      const message = userMessage(err);
      const final = isPermanent(err) || job.retryCount >= job.retryLimit;
      if (!final) {
        await db.update(trainingJobs).set({ ingestError: message, updatedAt: new Date() }).where(and(eq(trainingJobs.id, jobId), isNull(trainingJobs.artifactId)));
        log.warn('ingest attempt failed; will retry', { error: message, err, cause: (err as Error | undefined)?.cause });
        throw err;
      }
      log.error('ingest failed', { error: message, err, cause: (err as Error | undefined)?.cause });
      await failIngest(deps, jobId, row.userId, row.name, prefix, message);
      return { status: 'deadletter', output: { error: message } };
    }
  },
});

/** Marks the job failed and tells the user, unless a concurrent attempt delivered it meanwhile. */
async function failIngest(deps: Deps, jobId: string, userId: string, name: string, prefix: string, message: string) {
  const failed = await markIngestFailed(deps.database.db, { id: jobId, userId, name }, message);
  // Leave no orphaned objects behind; a later retry writes the same keys again.
  if (failed) await deps.storage.deletePrefix(prefix).catch((e) => deps.log.warn('cleanup failed', { prefix, err: e }));
}

async function pickBestCheckpoint(deps: Deps, jobId: string, files: StoredFile[]) {
  const steps = new Map<string, number | null>();
  for (const f of files) {
    if (f.kind !== 'checkpoint') continue;
    const segments = f.path.split('/');
    const at = segments.findLastIndex((s, i) => i < segments.length - 1 && /^checkpoint-\d+$/.test(s));
    if (at < 0) continue;
    steps.set(segments.slice(0, at + 1).join('/'), checkpointStep(f.path));
  }
  if (steps.size === 0) return null;
  // Only the validation points nearest each checkpoint are read, not the whole curve.
  const points: LossPoint[] = [];
  for (const step of steps.values()) {
    if (step === null) continue;
    const rows = await deps.database.db.execute<{ step: number; v: number }>(
      sql`select step, validation_loss as v from metrics_points where job_id = ${jobId} and step <= ${step} and validation_loss is not null order by step desc limit 1`,
    );
    if (rows[0]) points.push({ step: rows[0].step, trainingLoss: null, validationLoss: Number(rows[0].v) });
  }
  const refs = [...steps].map(([name, step]) => ({ name, step }));
  const best = bestCheckpoint(refs, points);
  if (!best) return null;
  // Each checkpoint scored by its own validation loss, so the dashboard can show them side by side.
  const scored = refs
    .map((r) => ({ ...r, validationLoss: bestCheckpoint([r], points)?.validationLoss ?? null }))
    .sort((a, b) => (a.step ?? 0) - (b.step ?? 0));
  return { ...best, checkpoints: scored };
}
