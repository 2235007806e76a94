import { doublePrecision, integer, pgTable, primaryKey, smallint, uuid } from 'drizzle-orm/pg-core';
import { trainingJobs } from './training-jobs.ts';

/**
 * A job's loss curve reduced while its points arrive, kept by statement triggers on metrics_points
 * (migration 0006), so ingest reads at most 4,096 rows instead of scanning a million points.
 *
 * A bucket holds the steps `[bucket << shift, (bucket + 1) << shift)`; every bucket of a job has the same
 * `shift`, the smallest (never decreasing) that keeps the job's steps within 4,096 buckets. For each
 * series (training, validation), finite values only, it keeps the first, last, lowest and highest point
 * (M4) as `[step, value]` pairs for the first/last and `[value, step]` for the lowest/highest, so that
 * Postgres's element-wise array order picks them when buckets merge. A re-reported step recomputes its
 * bucket from the points, so the summary always equals a fresh reduction.
 */
export const metricsCurveBuckets = pgTable(
  'metrics_curve_buckets',
  {
    jobId: uuid('job_id')
      .notNull()
      .references(() => trainingJobs.id, { onDelete: 'cascade' }),
    bucket: integer('bucket').notNull(),
    shift: smallint('shift').notNull(),
    /** All points of the bucket, and those with a finite training loss (what scoring counts). */
    points: integer('points').notNull(),
    finiteTraining: integer('finite_training').notNull(),
    trainingFirst: doublePrecision('training_first').array(),
    trainingLast: doublePrecision('training_last').array(),
    trainingMin: doublePrecision('training_min').array(),
    trainingMax: doublePrecision('training_max').array(),
    validationFirst: doublePrecision('validation_first').array(),
    validationLast: doublePrecision('validation_last').array(),
    validationMin: doublePrecision('validation_min').array(),
    validationMax: doublePrecision('validation_max').array(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.bucket] })],
);
