-- Row-level security: the second wall behind every query's own user filter.
-- User requests run as app_user (NOLOGIN, neither superuser nor owner, so RLS applies to it) with
-- app.user_id set for the transaction only; workers use the owner's connection and bypass it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_user') THEN
    CREATE ROLE app_user NOLOGIN NOBYPASSRLS NOSUPERUSER;
  END IF;
EXCEPTION WHEN duplicate_object THEN NULL; -- another database of the same cluster made it first
END $$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('GRANT app_user TO %I', current_user);
EXCEPTION WHEN others THEN NULL; -- a superuser needs no membership to SET ROLE
END $$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO app_user;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON api_tokens, datasets, training_jobs, metrics_points, model_artifacts, artifact_files, notifications, download_events TO app_user;
--> statement-breakpoint
GRANT SELECT (id, name, email) ON users TO app_user;
--> statement-breakpoint
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE datasets ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE training_jobs ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE metrics_points ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE model_artifacts ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE artifact_files ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE download_events ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY owner_only ON api_tokens TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON datasets TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON training_jobs TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON metrics_points TO app_user
  USING (EXISTS (SELECT 1 FROM training_jobs j WHERE j.id = metrics_points.job_id AND j.user_id = current_setting('app.user_id', true)))
  WITH CHECK (EXISTS (SELECT 1 FROM training_jobs j WHERE j.id = metrics_points.job_id AND j.user_id = current_setting('app.user_id', true)));
--> statement-breakpoint
CREATE POLICY owner_only ON model_artifacts TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON artifact_files TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON notifications TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
CREATE POLICY owner_only ON download_events TO app_user
  USING (user_id = current_setting('app.user_id', true)) WITH CHECK (user_id = current_setting('app.user_id', true));
--> statement-breakpoint
-- Users may only see their own row of users.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY self_only ON users TO app_user USING (id = current_setting('app.user_id', true));
