-- model_counts follows model_artifacts: one row per user, updated in the same transaction.
CREATE FUNCTION model_counts_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  -- Statement level, over the transition table: a bulk insert costs one upsert per user, not per row.
  INSERT INTO model_counts (user_id, total) SELECT user_id, count(*) FROM inserted GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET total = model_counts.total + excluded.total;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION model_counts_delete() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE model_counts c SET total = c.total - d.n FROM (SELECT user_id, count(*) AS n FROM deleted GROUP BY user_id) d WHERE c.user_id = d.user_id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER model_counts_insert AFTER INSERT ON model_artifacts
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION model_counts_insert();
--> statement-breakpoint
CREATE TRIGGER model_counts_delete AFTER DELETE ON model_artifacts
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION model_counts_delete();
--> statement-breakpoint
INSERT INTO model_counts (user_id, total) SELECT user_id, count(*) FROM model_artifacts GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET total = excluded.total;
--> statement-breakpoint
GRANT SELECT ON model_counts TO app_user;
--> statement-breakpoint
ALTER TABLE model_counts ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY owner_only ON model_counts TO app_user USING (user_id = current_setting('app.user_id', true));
