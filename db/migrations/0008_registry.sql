CREATE TABLE "model_alias_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"family" text NOT NULL,
	"alias" text NOT NULL,
	"action" text NOT NULL,
	"version" integer NOT NULL,
	"previous_version" integer,
	"actor_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_aliases" (
	"workspace_id" uuid NOT NULL,
	"family" text NOT NULL,
	"alias" text NOT NULL,
	"artifact_id" uuid NOT NULL,
	"set_by" text,
	"set_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_aliases_workspace_id_family_alias_pk" PRIMARY KEY("workspace_id","family","alias")
);
--> statement-breakpoint
CREATE TABLE "model_families" (
	"workspace_id" uuid NOT NULL,
	"name" text NOT NULL,
	"last_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_families_workspace_id_name_pk" PRIMARY KEY("workspace_id","name")
);
--> statement-breakpoint
DROP INDEX "model_artifacts_workspace_recent_idx";--> statement-breakpoint
DROP INDEX "model_artifacts_workspace_quality_idx";--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "keep_checkpoints" text DEFAULT 'all' NOT NULL;--> statement-breakpoint
-- Families: every run and model so far joins the family named by its job's name, slugified as
-- server/registry/refs.ts familyFromName does it; versions follow creation order within each family.
ALTER TABLE "training_jobs" ADD COLUMN "family" text;--> statement-breakpoint
UPDATE "training_jobs" SET "family" = coalesce(nullif(regexp_replace(left(regexp_replace(regexp_replace(lower(name), '[^a-z0-9._-]+', '-', 'g'), '^[^a-z0-9]+', ''), 64), '[._-]+$', ''), ''), 'model');--> statement-breakpoint
ALTER TABLE "training_jobs" ALTER COLUMN "family" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "training_jobs" ADD COLUMN "purged_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "description" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "tags" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "family" text;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "version" integer;--> statement-breakpoint
UPDATE "model_artifacts" m SET "family" = j."family" FROM "training_jobs" j WHERE j."id" = m."job_id";--> statement-breakpoint
UPDATE "model_artifacts" m SET "version" = v.n FROM (
  SELECT "id", row_number() OVER (PARTITION BY "workspace_id", "family" ORDER BY "created_at", "id") AS n FROM "model_artifacts"
) v WHERE v."id" = m."id";--> statement-breakpoint
ALTER TABLE "model_artifacts" ALTER COLUMN "family" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ALTER COLUMN "version" SET NOT NULL;--> statement-breakpoint
INSERT INTO "model_families" ("workspace_id", "name", "last_version", "created_at")
  SELECT "workspace_id", "family", max("version"), min("created_at") FROM "model_artifacts" GROUP BY "workspace_id", "family";--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "main_checkpoint" text;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "pruned_checkpoints" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "pruned_bytes" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "deleted_by" text;--> statement-breakpoint
ALTER TABLE "model_alias_events" ADD CONSTRAINT "model_alias_events_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_alias_events" ADD CONSTRAINT "model_alias_events_actor_id_users_id_fk" FOREIGN KEY ("actor_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_aliases" ADD CONSTRAINT "model_aliases_artifact_id_model_artifacts_id_fk" FOREIGN KEY ("artifact_id") REFERENCES "public"."model_artifacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_aliases" ADD CONSTRAINT "model_aliases_set_by_users_id_fk" FOREIGN KEY ("set_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_aliases" ADD CONSTRAINT "model_aliases_workspace_id_family_model_families_workspace_id_name_fk" FOREIGN KEY ("workspace_id","family") REFERENCES "public"."model_families"("workspace_id","name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_families" ADD CONSTRAINT "model_families_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "model_alias_events_family_idx" ON "model_alias_events" USING btree ("workspace_id","family","at");--> statement-breakpoint
CREATE INDEX "model_aliases_artifact_idx" ON "model_aliases" USING btree ("artifact_id");--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_deleted_by_users_id_fk" FOREIGN KEY ("deleted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "model_artifacts_trash_idx" ON "model_artifacts" USING btree ("workspace_id","deleted_at") WHERE "model_artifacts"."deleted_at" is not null;--> statement-breakpoint
CREATE INDEX "model_artifacts_purge_idx" ON "model_artifacts" USING btree ("deleted_at") WHERE "model_artifacts"."deleted_at" is not null;--> statement-breakpoint
CREATE INDEX "model_artifacts_tags_idx" ON "model_artifacts" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "model_artifacts_workspace_recent_idx" ON "model_artifacts" USING btree ("workspace_id","created_at" desc,"id" desc) WHERE "model_artifacts"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "model_artifacts_workspace_quality_idx" ON "model_artifacts" USING btree ("workspace_id",coalesce("quality_score", 0) desc,"created_at" desc,"id" desc) WHERE "model_artifacts"."deleted_at" is null;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_family_version_key" UNIQUE("workspace_id","family","version");--> statement-breakpoint
ALTER TABLE "workspaces" ADD CONSTRAINT "workspaces_keep_checkpoints_check" CHECK ("workspaces"."keep_checkpoints" ~ '^(all|best|best\+final|[1-9][0-9]{0,2})$');--> statement-breakpoint

-- The catalogue's count is of live models: a model entering or leaving the trash moves it, and a purge
-- (of a model already in the trash) does not.
CREATE OR REPLACE FUNCTION model_counts_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO model_counts (workspace_id, total) SELECT workspace_id, count(*) FROM inserted WHERE deleted_at IS NULL GROUP BY workspace_id
  ON CONFLICT (workspace_id) DO UPDATE SET total = model_counts.total + excluded.total;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION model_counts_delete() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE model_counts c SET total = c.total - d.n
  FROM (SELECT workspace_id, count(*) AS n FROM deleted WHERE deleted_at IS NULL GROUP BY workspace_id) d
  WHERE c.workspace_id = d.workspace_id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION model_counts_update() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO model_counts (workspace_id, total)
  SELECT n.workspace_id, sum(CASE WHEN n.deleted_at IS NULL THEN 1 ELSE -1 END)
  FROM updated_new n JOIN updated_old o ON o.id = n.id
  WHERE (n.deleted_at IS NULL) <> (o.deleted_at IS NULL)
  GROUP BY n.workspace_id
  ON CONFLICT (workspace_id) DO UPDATE SET total = model_counts.total + excluded.total;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER model_counts_update AFTER UPDATE ON model_artifacts
  REFERENCING OLD TABLE AS updated_old NEW TABLE AS updated_new FOR EACH STATEMENT EXECUTE FUNCTION model_counts_update();
--> statement-breakpoint
UPDATE model_counts c SET total = (SELECT count(*) FROM model_artifacts m WHERE m.workspace_id = c.workspace_id AND m.deleted_at IS NULL);
--> statement-breakpoint

-- Row-level security, as for every workspace table (0007): families are made by the ingest (owner
-- connection) and read by members; aliases are moved by members (write); the history is read by
-- members and written with each move.
GRANT SELECT ON model_families TO app_user;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON model_aliases TO app_user;
--> statement-breakpoint
GRANT SELECT, INSERT ON model_alias_events TO app_user;
--> statement-breakpoint
ALTER TABLE model_families ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE model_aliases ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE model_alias_events ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY ws_read ON model_families FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_read ON model_aliases FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON model_aliases FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_update ON model_aliases FOR UPDATE TO app_user
  USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_delete ON model_aliases FOR DELETE TO app_user USING (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_read ON model_alias_events FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON model_alias_events FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
