import { sql } from 'drizzle-orm';
import { bigint, doublePrecision, index, integer, jsonb, numeric, pgTable, smallint, text, unique, uuid } from 'drizzle-orm/pg-core';
import type { FitCheck, WeightHealth } from '../../server/adapters/types.ts';
import type { OutputReport, StoredEvalSet } from '../../server/outputs/types.ts';
import type { GpuConfig, JobConfig } from '../../server/vocabulary.ts';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { datasets } from './datasets.ts';
import { trainingJobs } from './training-jobs.ts';
import { workspaces } from './workspaces.ts';

export interface AdapterInfo {
  baseModel: string | null;
  rank: number | null;
  alpha: number | null;
  targetModules: string[];
  dtype: string | null;
  parameterCount: number | null;
  /** The largest rank of any module (a rank_pattern may raise some); absent on models ingested before it was kept. */
  maxRank?: number | null;
  /** adapter_config.json `task_type` (`CAUSAL_LM`…); absent on models ingested before it was kept. */
  taskType?: string | null;
  /** The adapter's form: PEFT's (torchtune's too) or mlx-lm's (transposed lora_a/lora_b); absent: PEFT, the only form read before. */
  format?: 'peft' | 'mlx';
}

export interface LossCurvePoint {
  step: number;
  trainingLoss: number | null;
  validationLoss: number | null;
}

export const modelArtifacts = pgTable(
  'model_artifacts',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Who made it; kept when they leave the workspace or delete their account (then null). */
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    /** UNIQUE: the guard that makes delivery exactly-once however often the ingest runs. */
    jobId: uuid('job_id')
      .notNull()
      .unique()
      .references(() => trainingJobs.id, { onDelete: 'cascade' }),
    datasetId: uuid('dataset_id')
      .notNull()
      .references(() => datasets.id, { onDelete: 'no action' }),
    name: text('name').notNull(),
    /** Free text the team writes about the model; searched with the name. */
    description: text('description').notNull().default(''),
    /** Up to 20 lower-case labels (server/registry/schemas.ts); the catalogue filters by them. */
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    /** The model's family (a slug, `[a-z0-9][a-z0-9._-]{0,63}`) and its version there: v1, v2, … per workspace. */
    family: text('family').notNull(),
    version: integer('version').notNull(),
    qualityScore: smallint('quality_score'),
    /** Plain text in SQL; the tuple only types it, and server/vocabulary.ts reads it as CONVERGENCE_LABELS. */
    convergence: text('convergence', { enum: ['excellent', 'good', 'fair', 'poor', 'overfit'] }),
    lossReductionPct: doublePrecision('loss_reduction_pct'),
    initialLoss: doublePrecision('initial_loss'),
    finalTrainingLoss: doublePrecision('final_training_loss'),
    finalValidationLoss: doublePrecision('final_validation_loss'),
    overfitGap: doublePrecision('overfit_gap'),
    perplexity: doublePrecision('perplexity'),
    epochsCompleted: integer('epochs_completed'),
    totalSteps: integer('total_steps'),
    durationSeconds: numeric('duration_seconds', { precision: 14, scale: 3, mode: 'number' }),
    totalCost: numeric('total_cost', { precision: 14, scale: 4, mode: 'number' }),
    hyperparameters: jsonb('hyperparameters').$type<JobConfig>().notNull(),
    gpu: jsonb('gpu').$type<GpuConfig>().notNull(),
    adapter: jsonb('adapter').$type<AdapterInfo | null>(),
    /** Whether the adapter's tensors fit its base model (server/adapters/fit.ts); null for models ingested before the check. */
    compatibility: jsonb('compatibility').$type<FitCheck | null>(),
    /** The health of the main adapter's weights: update size per module, warnings (server/adapters/health.ts). */
    weights: jsonb('weights').$type<WeightHealth | null>(),
    /** Evaluation results that came with the output (eval_results.json, lm-evaluation-harness, BLEU/ROUGE of predictions). */
    evaluations: jsonb('evaluations').$type<StoredEvalSet[]>().notNull().default(sql`'[]'::jsonb`),
    /** What the ingest read from the output besides the adapter: curve sources, the trainer's best checkpoint, skips, warnings. */
    outputReport: jsonb('output_report').$type<OutputReport | null>(),
    /** The checkpoint with the lowest validation loss, and every checkpoint's own score. */
    bestCheckpoint: jsonb('best_checkpoint').$type<{
      name: string;
      step: number | null;
      validationLoss: number;
      checkpoints?: { name: string; step: number | null; validationLoss: number | null }[];
    } | null>(),
    /** Downsampled at ingest (LTTB, ≤ 500 points a series) so reading a model never scans its metrics. */
    lossCurve: jsonb('loss_curve').$type<LossCurvePoint[]>().notNull(),
    /**
     * The checkpoint folder (`checkpoint-500`) whose adapter is served as the model's main adapter; null for
     * the run's final adapter. A view, not a copy: the top-level adapter files are read from its objects.
     */
    mainCheckpoint: text('main_checkpoint'),
    /** Checkpoints whose files were deleted (at ingest or on demand) to save storage, and the bytes that freed. */
    prunedCheckpoints: jsonb('pruned_checkpoints')
      .$type<{ name: string; bytes: number; files: number; at: string; reason: string }[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    prunedBytes: bigint('pruned_bytes', { mode: 'number' }).notNull().default(0),
    storagePrefix: text('storage_prefix').notNull(),
    totalBytes: bigint('total_bytes', { mode: 'number' }).notNull(),
    fileCount: integer('file_count').notNull(),
    createdAt: createdAt(),
    /** In the trash since then (restorable until TRASH_RETENTION_DAYS have passed); null when live. */
    deletedAt: tstz('deleted_at'),
    deletedBy: text('deleted_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [
    // Plain DESC (NULLS FIRST), exactly the ORDER BY the catalogue runs, so a page is an index range
    // scan whatever its depth. (drizzle's .desc() would add NULLS LAST, which no query matches.)
    // Partial: the catalogue shows live models only; the trash has its own index.
    index('model_artifacts_workspace_recent_idx').on(t.workspaceId, sql`${t.createdAt} desc`, sql`${t.id} desc`).where(sql`${t.deletedAt} is null`),
    index('model_artifacts_workspace_quality_idx')
      .on(t.workspaceId, sql`coalesce(${t.qualityScore}, 0) desc`, sql`${t.createdAt} desc`, sql`${t.id} desc`)
      .where(sql`${t.deletedAt} is null`),
    index('model_artifacts_trash_idx').on(t.workspaceId, t.deletedAt).where(sql`${t.deletedAt} is not null`),
    index('model_artifacts_purge_idx').on(t.deletedAt).where(sql`${t.deletedAt} is not null`),
    index('model_artifacts_tags_idx').using('gin', t.tags),
    // Never reused: model_families.last_version only grows, so v3 names one model forever.
    unique('model_artifacts_family_version_key').on(t.workspaceId, t.family, t.version),
  ],
);
