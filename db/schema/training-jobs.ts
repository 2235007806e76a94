import { sql } from 'drizzle-orm';
import { index, integer, jsonb, numeric, pgEnum, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import type { GpuConfig, JobConfig } from '../../server/vocabulary.ts';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { datasets } from './datasets.ts';
import { workspaces } from './workspaces.ts';

export const jobStatus = pgEnum('job_status', ['queued', 'running', 'completed', 'failed', 'cancelled']);
export const ingestStatus = pgEnum('ingest_status', ['none', 'pending', 'ingesting', 'ready', 'failed']);

export const trainingJobs = pgTable(
  'training_jobs',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Who made it; kept when they leave the workspace or delete their account (then null). */
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    datasetId: uuid('dataset_id')
      .notNull()
      .references(() => datasets.id, { onDelete: 'no action' }),
    name: text('name').notNull(),
    /** The family its model joins (jobs.create's `family`, else the slug of the name). */
    family: text('family').notNull(),
    status: jobStatus('status').notNull().default('queued'),
    config: jsonb('config').$type<JobConfig>().notNull(),
    gpu: jsonb('gpu').$type<GpuConfig>().notNull(),
    outputUri: text('output_uri'),
    workerTokenHash: text('worker_token_hash').notNull().unique(),
    error: text('error'),
    startedAt: tstz('started_at'),
    completedAt: tstz('completed_at'),
    epochsCompleted: integer('epochs_completed'),
    totalSteps: integer('total_steps'),
    durationSeconds: numeric('duration_seconds', { precision: 14, scale: 3, mode: 'number' }),
    costUsd: numeric('cost_usd', { precision: 14, scale: 4, mode: 'number' }),
    /** Set in the same transaction that creates the artifact; model_artifacts.job_id is the unique guard. */
    artifactId: uuid('artifact_id'),
    ingestStatus: ingestStatus('ingest_status').notNull().default('none'),
    ingestError: text('ingest_error'),
    ingestAttempts: integer('ingest_attempts').notNull().default(0),
    ingestStartedAt: tstz('ingest_started_at'),
    /**
     * The tombstone of a purged model: artifact_id stays set, so neither the sweep nor a late duplicate
     * ingest ever delivers this run again.
     */
    purgedAt: tstz('purged_at'),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('training_jobs_workspace_idx').on(t.workspaceId, t.createdAt),
    // The sweep looks for completed runs without an artifact; keep that scan tiny.
    index('training_jobs_sweep_idx').on(t.completedAt).where(sql`${t.status} = 'completed' and ${t.artifactId} is null`),
  ],
);
