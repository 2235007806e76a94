CREATE TABLE "model_exports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"artifact_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"format" text NOT NULL,
	"checkpoint" text,
	"source_path" text NOT NULL,
	"source_sha256" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"file_id" uuid,
	"error" text,
	"requested_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_exports_source_key" UNIQUE("artifact_id","format","source_sha256"),
	CONSTRAINT "model_exports_status_check" CHECK ("model_exports"."status" in ('queued', 'running', 'ready', 'failed')),
	CONSTRAINT "model_exports_format_check" CHECK ("model_exports"."format" in ('gguf'))
);
--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "compatibility" jsonb;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "weights" jsonb;--> statement-breakpoint
ALTER TABLE "model_exports" ADD CONSTRAINT "model_exports_artifact_id_model_artifacts_id_fk" FOREIGN KEY ("artifact_id") REFERENCES "public"."model_artifacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_exports" ADD CONSTRAINT "model_exports_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_exports" ADD CONSTRAINT "model_exports_file_id_artifact_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."artifact_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_exports" ADD CONSTRAINT "model_exports_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "model_exports_file_idx" ON "model_exports" USING btree ("file_id");--> statement-breakpoint
CREATE INDEX "model_exports_artifact_idx" ON "model_exports" USING btree ("artifact_id","created_at");--> statement-breakpoint

-- Row-level security, as for every workspace table (0007): members (write) ask for exports and may ask
-- again after a failure; every member reads them; the export-gguf job (owner connection) does the rest.
GRANT SELECT, INSERT, UPDATE ON model_exports TO app_user;
--> statement-breakpoint
ALTER TABLE model_exports ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY ws_read ON model_exports FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
--> statement-breakpoint
CREATE POLICY ws_write_insert ON model_exports FOR INSERT TO app_user WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
--> statement-breakpoint
CREATE POLICY ws_write_update ON model_exports FOR UPDATE TO app_user
  USING (workspace_id IN (SELECT app.workspaces('write'))) WITH CHECK (workspace_id IN (SELECT app.workspaces('write')));
