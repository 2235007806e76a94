CREATE TABLE "metrics_curve_buckets" (
	"job_id" uuid NOT NULL,
	"bucket" integer NOT NULL,
	"shift" smallint NOT NULL,
	"points" integer NOT NULL,
	"finite_training" integer NOT NULL,
	"training_first" double precision[],
	"training_last" double precision[],
	"training_min" double precision[],
	"training_max" double precision[],
	"validation_first" double precision[],
	"validation_last" double precision[],
	"validation_min" double precision[],
	"validation_max" double precision[],
	CONSTRAINT "metrics_curve_buckets_job_id_bucket_pk" PRIMARY KEY("job_id","bucket")
);
--> statement-breakpoint
ALTER TABLE "metrics_curve_buckets" ADD CONSTRAINT "metrics_curve_buckets_job_id_training_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."training_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- metrics_curve_buckets follows metrics_points: new points are folded into their buckets; a replaced or deleted
-- point has its bucket recomputed from the points themselves (a range scan), so a re-reported step leaves no
-- stale extreme.
-- Statement level, over the transition table: a batch of 10,000 points costs one refresh, not 10,000.
-- Rows are told apart by (job_id, step), which no writer updates (the upsert changes the losses only).
CREATE FUNCTION metrics_curve_refresh() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  cap CONSTANT int := 4096;
  j record;
  cur int;
  blo int;
  bhi int;
  k int;
  buckets int[];
BEGIN
  FOR j IN SELECT job_id, min(step) AS lo, max(step) AS hi FROM touched GROUP BY job_id LOOP
    -- Writers of one job take turns, so two statements never coarsen or refresh the same buckets at once;
    -- each statement below then reads the points the other committed.
    PERFORM pg_advisory_xact_lock(hashtextextended('metrics_curve:' || j.job_id::text, 0));
    SELECT max(shift), min(bucket), max(bucket) INTO cur, blo, bhi FROM metrics_curve_buckets WHERE job_id = j.job_id;
    cur := coalesce(cur, 0);
    IF TG_OP <> 'DELETE' THEN
      -- Wider buckets when the steps no longer fit in `cap` of them: merge 2^k neighbours into one.
      blo := least(blo, j.lo >> cur);
      bhi := greatest(bhi, j.hi >> cur);
      k := 0;
      WHILE (bhi >> k) - (blo >> k) >= cap LOOP
        k := k + 1;
      END LOOP;
      IF k > 0 THEN
        WITH prev AS (DELETE FROM metrics_curve_buckets WHERE job_id = j.job_id RETURNING *)
        INSERT INTO metrics_curve_buckets (job_id, bucket, shift, points, finite_training, training_first, training_last, training_min,
          training_max, validation_first, validation_last, validation_min, validation_max)
        SELECT j.job_id, prev.bucket >> k, cur + k, sum(prev.points), sum(prev.finite_training), min(prev.training_first), max(prev.training_last),
          min(prev.training_min), max(prev.training_max), min(prev.validation_first), max(prev.validation_last), min(prev.validation_min),
          max(prev.validation_max)
        FROM prev GROUP BY prev.bucket >> k;
        cur := cur + k;
      END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
      -- New points only (an upsert's replaced rows reach the UPDATE trigger): fold them into their buckets
      -- without reading the table again. Counts add up; first/lowest keep the lesser pair, last/highest the greater.
      INSERT INTO metrics_curve_buckets AS b (job_id, bucket, shift, points, finite_training, training_first, training_last, training_min,
        training_max, validation_first, validation_last, validation_min, validation_max)
      SELECT j.job_id, p.step >> cur, cur, count(*), count(*) FILTER (WHERE p.ft),
        min(array[p.s, p.t]) FILTER (WHERE p.ft), max(array[p.s, p.t]) FILTER (WHERE p.ft),
        min(array[p.t, p.s]) FILTER (WHERE p.ft), max(array[p.t, p.s]) FILTER (WHERE p.ft),
        min(array[p.s, p.v]) FILTER (WHERE p.fv), max(array[p.s, p.v]) FILTER (WHERE p.fv),
        min(array[p.v, p.s]) FILTER (WHERE p.fv), max(array[p.v, p.s]) FILTER (WHERE p.fv)
      FROM (
        SELECT t.step, t.step::float8 AS s, t.training_loss AS t, t.validation_loss AS v,
          t.training_loss IS NOT NULL AND t.training_loss <> 'NaN' AND t.training_loss NOT IN ('Infinity', '-Infinity') AS ft,
          t.validation_loss IS NOT NULL AND t.validation_loss <> 'NaN' AND t.validation_loss NOT IN ('Infinity', '-Infinity') AS fv
        FROM touched t WHERE t.job_id = j.job_id
      ) p
      GROUP BY 2
      ON CONFLICT (job_id, bucket) DO UPDATE SET
        points = b.points + excluded.points, finite_training = b.finite_training + excluded.finite_training,
        training_first = least(b.training_first, excluded.training_first), training_last = greatest(b.training_last, excluded.training_last),
        training_min = least(b.training_min, excluded.training_min), training_max = greatest(b.training_max, excluded.training_max),
        validation_first = least(b.validation_first, excluded.validation_first),
        validation_last = greatest(b.validation_last, excluded.validation_last),
        validation_min = least(b.validation_min, excluded.validation_min), validation_max = greatest(b.validation_max, excluded.validation_max);
      CONTINUE;
    END IF;
    -- Replaced or deleted points: their buckets are recomputed from the points that remain.
    -- Into an array first: the planner has no statistics on a transition table and would join it row by row.
    SELECT array_agg(DISTINCT t.step >> cur) INTO buckets FROM touched t WHERE t.job_id = j.job_id;
    DELETE FROM metrics_curve_buckets b WHERE b.job_id = j.job_id AND b.bucket BETWEEN j.lo >> cur AND j.hi >> cur AND b.bucket = ANY (buckets);
    -- Touched buckets grouped into runs of neighbours: one index range scan per run.
    INSERT INTO metrics_curve_buckets (job_id, bucket, shift, points, finite_training, training_first, training_last, training_min,
      training_max, validation_first, validation_last, validation_min, validation_max)
    SELECT j.job_id, a.*
    FROM (
      SELECT min(d.b) AS lo, max(d.b) AS hi
      FROM (SELECT t.b, t.b - row_number() OVER (ORDER BY t.b) AS run FROM unnest(buckets) AS t(b)) d
      GROUP BY d.run
    ) r
    CROSS JOIN LATERAL (
      SELECT p.step >> cur, cur, count(*), count(*) FILTER (WHERE p.ft),
        min(array[p.s, p.t]) FILTER (WHERE p.ft), max(array[p.s, p.t]) FILTER (WHERE p.ft),
        min(array[p.t, p.s]) FILTER (WHERE p.ft), max(array[p.t, p.s]) FILTER (WHERE p.ft),
        min(array[p.s, p.v]) FILTER (WHERE p.fv), max(array[p.s, p.v]) FILTER (WHERE p.fv),
        min(array[p.v, p.s]) FILTER (WHERE p.fv), max(array[p.v, p.s]) FILTER (WHERE p.fv)
      FROM (
        SELECT m.step, m.step::float8 AS s, m.training_loss AS t, m.validation_loss AS v,
          m.training_loss IS NOT NULL AND m.training_loss <> 'NaN' AND m.training_loss NOT IN ('Infinity', '-Infinity') AS ft,
          m.validation_loss IS NOT NULL AND m.validation_loss <> 'NaN' AND m.validation_loss NOT IN ('Infinity', '-Infinity') AS fv
        FROM metrics_points m
        WHERE m.job_id = j.job_id AND m.step >= (r.lo::int8 << cur) AND m.step < ((r.hi::int8 + 1) << cur)
      ) p
      GROUP BY 1
    ) a;
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER metrics_curve_insert AFTER INSERT ON metrics_points
  REFERENCING NEW TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION metrics_curve_refresh();
--> statement-breakpoint
CREATE TRIGGER metrics_curve_update AFTER UPDATE ON metrics_points
  REFERENCING NEW TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION metrics_curve_refresh();
--> statement-breakpoint
CREATE TRIGGER metrics_curve_delete AFTER DELETE ON metrics_points
  REFERENCING OLD TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION metrics_curve_refresh();
--> statement-breakpoint
-- Points reported before this migration: each job at the smallest shift that fits its steps in 4,096 buckets.
INSERT INTO metrics_curve_buckets (job_id, bucket, shift, points, finite_training, training_first, training_last, training_min, training_max,
  validation_first, validation_last, validation_min, validation_max)
SELECT p.job_id, p.step >> r.shift, r.shift, count(*), count(*) FILTER (WHERE p.ft),
  min(array[p.s, p.t]) FILTER (WHERE p.ft), max(array[p.s, p.t]) FILTER (WHERE p.ft),
  min(array[p.t, p.s]) FILTER (WHERE p.ft), max(array[p.t, p.s]) FILTER (WHERE p.ft),
  min(array[p.s, p.v]) FILTER (WHERE p.fv), max(array[p.s, p.v]) FILTER (WHERE p.fv),
  min(array[p.v, p.s]) FILTER (WHERE p.fv), max(array[p.v, p.s]) FILTER (WHERE p.fv)
FROM (
  SELECT m.job_id, m.step, m.step::float8 AS s, m.training_loss AS t, m.validation_loss AS v,
    m.training_loss IS NOT NULL AND m.training_loss <> 'NaN' AND m.training_loss NOT IN ('Infinity', '-Infinity') AS ft,
    m.validation_loss IS NOT NULL AND m.validation_loss <> 'NaN' AND m.validation_loss NOT IN ('Infinity', '-Infinity') AS fv
  FROM metrics_points m
) p
JOIN (
  SELECT job_id, (SELECT min(k) FROM generate_series(0, 31) k WHERE (max(step) >> k) - (min(step) >> k) < 4096) AS shift
  FROM metrics_points GROUP BY job_id
) r USING (job_id)
GROUP BY p.job_id, p.step >> r.shift, r.shift;
