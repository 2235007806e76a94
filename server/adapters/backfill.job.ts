/**
 * Models delivered before fit checks, weight reports and model cards existed get them after the upgrade:
 * every ten minutes, a batch of live models missing one is analysed from its stored files, as the ingest
 * would have (headers read in a worker, weights streamed through the health worker), and given its card.
 */
import { and, eq, isNull, notExists, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import { artifactFiles, modelArtifacts } from '../../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { inspectArtifact, mainAdapterWeights, type StoredFile } from '../ingest/inspect-artifact.ts';
import { InspectionError } from '../ingest/inspect/safetensors.ts';
import { defineJob } from '../queue/define-job.ts';
import { storedFiles } from '../registry/checkpoints-queries.ts';
import { refreshModelCard } from './card-store.ts';
import type { FitCheck } from './types.ts';
import { adapterWeightHealth } from './weight-report.ts';

/** Models per run: each costs a read of its adapter, so a large catalogue catches up over a few runs. */
const BATCH = 25;

/** The verdict recorded when a model's files cannot be analysed: it is not tried again every run. */
const UNCHECKED: FitCheck = { base: { name: null, facts: null }, verdict: 'unchecked', checked: 0, mismatched: [], mismatchCount: 0 };

/** Live models without a fit check or without a model card, oldest first. */
function pending(deps: Deps) {
  const { db } = deps.database;
  const card = db
    .select({ one: sql`1` })
    .from(artifactFiles)
    .where(and(eq(artifactFiles.artifactId, modelArtifacts.id), eq(artifactFiles.kind, 'model_card')));
  return db
    .select({ id: modelArtifacts.id, compatibility: modelArtifacts.compatibility, adapter: modelArtifacts.adapter })
    .from(modelArtifacts)
    .where(and(isNull(modelArtifacts.deletedAt), or(isNull(modelArtifacts.compatibility), notExists(card))))
    .orderBy(modelArtifacts.createdAt)
    .limit(BATCH);
}

/** Analyses one model's stored files and records its fit and weight report (an untrained adapter scores 1, as at ingest). */
async function analyseStored(deps: Deps, modelId: string, known: (typeof modelArtifacts.$inferSelect)['adapter']): Promise<void> {
  const { db } = deps.database;
  // The ingest's view of a stored file (key, size), as inspection and the weight report read it.
  const stored: StoredFile[] = (await storedFiles(db, modelId)).map((f) => ({ ...f, key: f.storageKey, size: f.sizeBytes }));
  try {
    const { adapter, fit, config } = await inspectArtifact(deps.storage, stored);
    const weights = await adapterWeightHealth(deps.storage, stored, mainAdapterWeights(stored) ?? null, config);
    await db
      .update(modelArtifacts)
      .set({
        compatibility: fit,
        weights,
        adapter:
          known && adapter
            ? { ...known, maxRank: adapter.maxRank, taskType: adapter.taskType, ...(adapter.format ? { format: adapter.format } : {}) }
            : (known ?? adapter),
        ...(weights.untrained ? { qualityScore: 1 } : {}),
      })
      .where(eq(modelArtifacts.id, modelId));
  } catch (err) {
    if (!(err instanceof InspectionError)) throw err;
    // A file that no longer passes inspection: recorded as unchecked, said in the log, not retried.
    deps.log.warn('stored model could not be analysed', { modelId, error: err.message });
    await db.update(modelArtifacts).set({ compatibility: UNCHECKED }).where(eq(modelArtifacts.id, modelId));
  }
}

export const adapterBackfillJob = defineJob({
  name: 'adapter-backfill',
  payload: z.object({}).loose(),
  queue: { policy: 'singleton', notify: true, expireInSeconds: 60 * 60, heartbeatSeconds: 30, retryLimit: 0 },
  work: { pollingIntervalSeconds: 30 },
  cron: '*/10 * * * *',
  async handle(deps) {
    const models = await pending(deps);
    let done = 0;
    for (const m of models) {
      try {
        if (!m.compatibility) await analyseStored(deps, m.id, m.adapter);
        await refreshModelCard(deps, m.id);
        done++;
      } catch (err) {
        // One model's storage trouble does not hold back the rest; it is tried again next run.
        deps.log.warn('model report backfill failed for one model', { modelId: m.id, err });
      }
    }
    if (done) deps.log.info('model reports backfilled', { models: done });
    return { status: 'completed', output: { models: done, more: models.length === BATCH } };
  },
});
