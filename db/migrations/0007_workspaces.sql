-- Teams (issue 10): every dataset, job, model, file, download record and API token moves from its user
-- to a workspace; each user gets a personal one, and existing rows move into their owner's, nothing lost.
-- Row-level security is rebuilt on one function, app.workspaces(need). Hand-written around drizzle-kit's
-- output (the snapshot is drizzle-kit's), because moving data needs the steps in this order.

-- 1. The old policies name user_id, which is about to go.
DROP POLICY owner_only ON api_tokens;
--> statement-breakpoint
DROP POLICY owner_only ON datasets;
--> statement-breakpoint
DROP POLICY owner_only ON training_jobs;
--> statement-breakpoint
DROP POLICY owner_only ON metrics_points;
--> statement-breakpoint
DROP POLICY owner_only ON model_artifacts;
--> statement-breakpoint
DROP POLICY owner_only ON artifact_files;
--> statement-breakpoint
DROP POLICY owner_only ON download_events;
--> statement-breakpoint
DROP POLICY owner_only ON model_counts;
--> statement-breakpoint
DROP POLICY self_only ON users;
--> statement-breakpoint
DROP TRIGGER model_counts_insert ON model_artifacts;
--> statement-breakpoint
DROP TRIGGER model_counts_delete ON model_artifacts;
--> statement-breakpoint
DROP FUNCTION model_counts_insert();
--> statement-breakpoint
DROP FUNCTION model_counts_delete();
--> statement-breakpoint

-- 2. The new tables.
CREATE TABLE "workspace_invites" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"email" text NOT NULL,
	"role" text NOT NULL,
	"token_hash" text NOT NULL,
	"invited_by" text,
	"expires_at" timestamp with time zone NOT NULL,
	"accepted_at" timestamp with time zone,
	"accepted_by" text,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_invites_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "workspace_members" (
	"workspace_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"role" text NOT NULL,
	"added_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_members_workspace_id_user_id_pk" PRIMARY KEY("workspace_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "workspaces" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"slug" text NOT NULL,
	"personal_user_id" text,
	"personal" boolean GENERATED ALWAYS AS (personal_user_id is not null) STORED NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspaces_slug_unique" UNIQUE("slug"),
	CONSTRAINT "workspaces_personal_user_id_unique" UNIQUE("personal_user_id")
);
--> statement-breakpoint
CREATE TABLE "model_shares" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"artifact_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"created_by" text,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_shares_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
ALTER TABLE "workspace_invites" ADD CONSTRAINT "workspace_invites_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "workspace_invites" ADD CONSTRAINT "workspace_invites_invited_by_users_id_fk" FOREIGN KEY ("invited_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "workspace_invites" ADD CONSTRAINT "workspace_invites_accepted_by_users_id_fk" FOREIGN KEY ("accepted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "workspace_members" ADD CONSTRAINT "workspace_members_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "workspace_members" ADD CONSTRAINT "workspace_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "workspaces" ADD CONSTRAINT "workspaces_personal_user_id_users_id_fk" FOREIGN KEY ("personal_user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_shares" ADD CONSTRAINT "model_shares_artifact_id_model_artifacts_id_fk" FOREIGN KEY ("artifact_id") REFERENCES "public"."model_artifacts"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_shares" ADD CONSTRAINT "model_shares_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_shares" ADD CONSTRAINT "model_shares_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
CREATE INDEX "workspace_invites_workspace_idx" ON "workspace_invites" USING btree ("workspace_id","email");
--> statement-breakpoint
CREATE INDEX "workspace_members_user_idx" ON "workspace_members" USING btree ("user_id");
--> statement-breakpoint
CREATE INDEX "model_shares_artifact_idx" ON "model_shares" USING btree ("artifact_id");
--> statement-breakpoint

-- 3. A personal workspace for every user, who owns it.
INSERT INTO workspaces (name, slug, personal_user_id)
SELECT u.name,
       coalesce(nullif(trim(both '-' from regexp_replace(lower(left(u.name, 40)), '[^a-z0-9]+', '-', 'g')), ''), 'workspace')
         || '-' || substr(md5(u.id), 1, 8),
       u.id
FROM users u;
--> statement-breakpoint
INSERT INTO workspace_members (workspace_id, user_id, role)
SELECT w.id, w.personal_user_id, 'owner' FROM workspaces w WHERE w.personal_user_id IS NOT NULL;
--> statement-breakpoint

-- 4. Every owned row joins its user's personal workspace; the user is kept as created_by.
ALTER TABLE "download_events" DROP CONSTRAINT "download_events_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "download_events" ALTER COLUMN "user_id" DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "scope" text DEFAULT 'write' NOT NULL;
--> statement-breakpoint
ALTER TABLE "datasets" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "datasets" ADD COLUMN "created_by" text;
--> statement-breakpoint
ALTER TABLE "training_jobs" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "training_jobs" ADD COLUMN "created_by" text;
--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "created_by" text;
--> statement-breakpoint
ALTER TABLE "artifact_files" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "download_events" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
ALTER TABLE "download_events" ADD COLUMN "share_id" uuid;
--> statement-breakpoint
ALTER TABLE "model_counts" ADD COLUMN "workspace_id" uuid;
--> statement-breakpoint
UPDATE api_tokens t SET workspace_id = w.id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
UPDATE datasets t SET workspace_id = w.id, created_by = t.user_id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
UPDATE training_jobs t SET workspace_id = w.id, created_by = t.user_id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
UPDATE model_artifacts t SET workspace_id = w.id, created_by = t.user_id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
UPDATE artifact_files t SET workspace_id = w.id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
-- A download belongs to the model's workspace (until now the downloader was always the model's owner).
UPDATE download_events t SET workspace_id = m.workspace_id FROM model_artifacts m WHERE m.id = t.artifact_id;
--> statement-breakpoint
UPDATE model_counts t SET workspace_id = w.id FROM workspaces w WHERE w.personal_user_id = t.user_id;
--> statement-breakpoint
ALTER TABLE "api_tokens" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_scope_check" CHECK (scope IN ('read', 'write'));
--> statement-breakpoint
ALTER TABLE "datasets" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "training_jobs" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "model_artifacts" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "artifact_files" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "download_events" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "workspace_members" ADD CONSTRAINT "workspace_members_role_check" CHECK (role IN ('owner', 'admin', 'member', 'viewer'));
--> statement-breakpoint
ALTER TABLE "workspace_invites" ADD CONSTRAINT "workspace_invites_role_check" CHECK (role IN ('owner', 'admin', 'member', 'viewer'));
--> statement-breakpoint

-- 5. user_id goes (api_tokens keeps it: a token is its creator's; download_events: who downloaded).
ALTER TABLE "datasets" DROP CONSTRAINT "datasets_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "training_jobs" DROP CONSTRAINT "training_jobs_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "model_artifacts" DROP CONSTRAINT "model_artifacts_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "artifact_files" DROP CONSTRAINT "artifact_files_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "model_counts" DROP CONSTRAINT "model_counts_user_id_users_id_fk";
--> statement-breakpoint
DROP INDEX "datasets_user_idx";
--> statement-breakpoint
DROP INDEX "training_jobs_user_idx";
--> statement-breakpoint
DROP INDEX "model_artifacts_user_recent_idx";
--> statement-breakpoint
DROP INDEX "model_artifacts_user_quality_idx";
--> statement-breakpoint
DROP INDEX "artifact_files_user_idx";
--> statement-breakpoint
DELETE FROM model_counts WHERE workspace_id IS NULL;
--> statement-breakpoint
ALTER TABLE "model_counts" DROP CONSTRAINT "model_counts_pkey";
--> statement-breakpoint
ALTER TABLE "model_counts" ALTER COLUMN "workspace_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "model_counts" ADD PRIMARY KEY ("workspace_id");
--> statement-breakpoint
ALTER TABLE "datasets" DROP COLUMN "user_id";
--> statement-breakpoint
ALTER TABLE "training_jobs" DROP COLUMN "user_id";
--> statement-breakpoint
ALTER TABLE "model_artifacts" DROP COLUMN "user_id";
--> statement-breakpoint
ALTER TABLE "artifact_files" DROP COLUMN "user_id";
--> statement-breakpoint
ALTER TABLE "model_counts" DROP COLUMN "user_id";
--> statement-breakpoint

-- Keys and indexes of the new columns.
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "training_jobs" ADD CONSTRAINT "training_jobs_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "training_jobs" ADD CONSTRAINT "training_jobs_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "artifact_files" ADD CONSTRAINT "artifact_files_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "download_events" ADD CONSTRAINT "download_events_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "download_events" ADD CONSTRAINT "download_events_share_id_model_shares_id_fk" FOREIGN KEY ("share_id") REFERENCES "public"."model_shares"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "download_events" ADD CONSTRAINT "download_events_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "model_counts" ADD CONSTRAINT "model_counts_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
CREATE INDEX "api_tokens_workspace_idx" ON "api_tokens" USING btree ("workspace_id","created_at");
--> statement-breakpoint
CREATE INDEX "datasets_workspace_idx" ON "datasets" USING btree ("workspace_id","created_at");
--> statement-breakpoint
CREATE INDEX "training_jobs_workspace_idx" ON "training_jobs" USING btree ("workspace_id","created_at");
--> statement-breakpoint
CREATE INDEX "model_artifacts_workspace_recent_idx" ON "model_artifacts" USING btree ("workspace_id","created_at" desc,"id" desc);
--> statement-breakpoint
CREATE INDEX "model_artifacts_workspace_quality_idx" ON "model_artifacts" USING btree ("workspace_id",coalesce("quality_score", 0) desc,"created_at" desc,"id" desc);
--> statement-breakpoint
CREATE INDEX "artifact_files_storage_key_idx" ON "artifact_files" USING btree ("storage_key");
--> statement-breakpoint

-- A dataset still named by a job or a model cannot go, checked at the end of the statement (NO ACTION)
-- rather than at once (RESTRICT): deleting a workspace or an account cascades through all three tables.
ALTER TABLE "training_jobs" DROP CONSTRAINT "training_jobs_dataset_id_datasets_id_fk";
--> statement-breakpoint
ALTER TABLE "model_artifacts" DROP CONSTRAINT "model_artifacts_dataset_id_datasets_id_fk";
--> statement-breakpoint
ALTER TABLE "training_jobs" ADD CONSTRAINT "training_jobs_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;
--> statement-breakpoint

-- 6. The model count follows model_artifacts per workspace (statement level, as in 0004).
CREATE FUNCTION model_counts_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO model_counts (workspace_id, total) SELECT workspace_id, count(*) FROM inserted GROUP BY workspace_id
  ON CONFLICT (workspace_id) DO UPDATE SET total = model_counts.total + excluded.total;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION model_counts_delete() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE model_counts c SET total = c.total - d.n FROM (SELECT workspace_id, count(*) AS n FROM deleted GROUP BY workspace_id) d
  WHERE c.workspace_id = d.workspace_id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER model_counts_insert AFTER INSERT ON model_artifacts
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION model_counts_insert();
--> statement-breakpoint
CREATE TRIGGER model_counts_delete AFTER DELETE ON model_artifacts
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION model_counts_delete();
--> statement-breakpoint

-- 7. Row-level security on workspaces. app.workspaces(need) lists the workspaces where the request's user
-- (app.user_id) holds at least `need` ('read' viewer, 'write' member, 'admin', 'owner'), with the role
-- capped for a read-scoped token (app.role_cap = 1) and only the token's workspace for a token
-- (app.workspace_id). SECURITY DEFINER: it reads workspace_members past that table's own policy.
-- Policies use it as `workspace_id IN (SELECT app.workspaces(...))`, an uncorrelated sub-select that
-- Postgres runs once per statement and probes as a hash, not once per row as a boolean
-- app.can(workspace_id, need) would be (a SQL function with a sub-select is never inlined).
CREATE SCHEMA IF NOT EXISTS app;
--> statement-breakpoint
GRANT USAGE ON SCHEMA app TO app_user;
--> statement-breakpoint
CREATE FUNCTION app.workspaces(need text) RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
  SELECT m.workspace_id FROM workspace_members m
  WHERE m.user_id = current_setting('app.user_id', true)
    AND (coalesce(current_setting('app.workspace_id', true), '') = '' OR m.workspace_id::text = current_setting('app.workspace_id', true))
    AND least(CASE m.role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'viewer' THEN 1 ELSE 0 END,
              coalesce(nullif(current_setting('app.role_cap', true), '')::int, 4))
        >= CASE need WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'write' THEN 2 WHEN 'read' THEN 1 ELSE 5 END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.workspaces(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.workspaces(text) TO app_user;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces, workspace_members, workspace_invites, model_shares TO app_user;
--> statement-breakpoint
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE workspace_members ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE workspace_invites ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE model_shares ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY ws_read ON workspaces FOR SELECT TO app_user USING (id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_admin ON workspaces FOR UPDATE TO app_user USING (id IN (SELECT app.workspaces('admin'))) WITH CHECK (id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_owner ON workspaces FOR DELETE TO app_user USING (id IN (SELECT app.workspaces('owner')));
--> statement-breakpoint
-- One's own membership rows first: a request's join on its own membership then never needs the sub-select
-- (OR evaluates it lazily), and a token sees its own workspace's row only.
CREATE POLICY ws_read ON workspace_members FOR SELECT TO app_user
  USING ((user_id = current_setting('app.user_id', true)
      AND (coalesce(current_setting('app.workspace_id', true), '') = '' OR workspace_id::text = current_setting('app.workspace_id', true)))
    OR workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_admin_insert ON workspace_members FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_admin_update ON workspace_members FOR UPDATE TO app_user USING (workspace_id IN (SELECT app.workspaces('admin'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_admin_delete ON workspace_members FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
-- Leaving: a member removes their own row (the service checks the last-owner rule first).
CREATE POLICY ws_leave ON workspace_members FOR DELETE TO app_user
  USING (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_admin ON workspace_invites FOR ALL TO app_user
  USING (workspace_id IN (SELECT app.workspaces('admin'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_read ON model_shares FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON model_shares FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_update ON model_shares FOR UPDATE TO app_user USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_delete ON model_shares FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_read ON datasets FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON datasets FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_update ON datasets FOR UPDATE TO app_user USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_delete ON datasets FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_read ON training_jobs FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON training_jobs FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_update ON training_jobs FOR UPDATE TO app_user USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_delete ON training_jobs FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_read ON metrics_points FOR SELECT TO app_user
  USING (job_id IN (SELECT j.id FROM training_jobs j WHERE j.workspace_id IN (SELECT app.workspaces('read'))));
--> statement-breakpoint
-- Models and files are made by the ingest (the owner's connection); members change them, admins purge them.
CREATE POLICY ws_read ON model_artifacts FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write ON model_artifacts FOR UPDATE TO app_user
  USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_admin ON model_artifacts FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_read ON artifact_files FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write ON artifact_files FOR UPDATE TO app_user
  USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_admin ON artifact_files FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
-- Every reader may record their own download; the audit trail is read by admins.
CREATE POLICY ws_record ON download_events FOR INSERT TO app_user
  WITH CHECK (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_admin ON download_events FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_read ON model_counts FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
-- A member creates tokens of their own; anyone sees and revokes their own (a viewer too, once demoted);
-- an admin sees and revokes every token of the workspace.
CREATE POLICY ws_own_insert ON api_tokens FOR INSERT TO app_user
  WITH CHECK (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_own_read ON api_tokens FOR SELECT TO app_user
  USING (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_own_revoke ON api_tokens FOR UPDATE TO app_user
  USING (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('read')))
  WITH CHECK (user_id = current_setting('app.user_id', true) AND workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_admin ON api_tokens FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
CREATE POLICY ws_admin_revoke ON api_tokens FOR UPDATE TO app_user
  USING (workspace_id IN (SELECT app.workspaces('admin'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('admin')));
--> statement-breakpoint
-- A user sees their own row and the rows of the people they share a workspace with (names on member lists).
CREATE POLICY self_or_teammate ON users FOR SELECT TO app_user
  USING (id = current_setting('app.user_id', true)
    OR id IN (SELECT m.user_id FROM workspace_members m WHERE m.workspace_id IN (SELECT app.workspaces('read'))));
