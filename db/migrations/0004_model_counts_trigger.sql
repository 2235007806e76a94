-- model_counts follows model_artifacts: one row per user, updated in the same transaction.
CREATE FUNCTION model_counts_track() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO model_counts (user_id, total) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET total = model_counts.total + 1;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE model_counts SET total = total - 1 WHERE user_id = OLD.user_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER model_counts_track AFTER INSERT OR DELETE ON model_artifacts
  FOR EACH ROW EXECUTE FUNCTION model_counts_track();
--> statement-breakpoint
INSERT INTO model_counts (user_id, total) SELECT user_id, count(*) FROM model_artifacts GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET total = excluded.total;
--> statement-breakpoint
GRANT SELECT ON model_counts TO app_user;
--> statement-breakpoint
ALTER TABLE model_counts ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY owner_only ON model_counts TO app_user USING (user_id = current_setting('app.user_id', true));
