import { doublePrecision, integer, pgTable, primaryKey, real, uuid } from 'drizzle-orm/pg-core';
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
  },
  (t) => [primaryKey({ columns: [t.jobId, t.step] })],
);
