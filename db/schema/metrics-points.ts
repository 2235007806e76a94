import { sql } from 'drizzle-orm';
import { check, doublePrecision, integer, pgTable, primaryKey, real, text, uuid } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { trainingJobs } from './training-jobs.ts';

/** One row per reported step; a repeated step overwrites (primary key job+step). */
export const metricsPoints = pgTable(
  'metrics_points',
  {
    jobId: uuid('job_id')
      .notNull()
      .references(() => trainingJobs.id, { onDelete: 'cascade' }),
    step: integer('step').notNull(),
    epoch: real('epoch'),
    trainingLoss: doublePrecision('training_loss'),
    validationLoss: doublePrecision('validation_loss'),
    learningRate: doublePrecision('learning_rate'),
    recordedAt: tstz('recorded_at').notNull().defaultNow(),
    /** `worker` (jobs.reportMetrics), or the output file kind the ingest read the point from when the worker had none for that step. */
    source: text('source', { enum: ['worker', 'trainer_state', 'trainer_log', 'torchtune_log'] })
      .notNull()
      .default('worker'),
  },
  (t) => [
    primaryKey({ columns: [t.jobId, t.step] }),
    check('metrics_points_source_check', sql`${t.source} in ('worker', 'trainer_state', 'trainer_log', 'torchtune_log')`),
  ],
);
