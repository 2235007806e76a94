ALTER TABLE "workspaces" ADD COLUMN "include_skipped" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "metrics_points" ADD COLUMN "source" text DEFAULT 'worker' NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "evaluations" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD COLUMN "output_report" jsonb;--> statement-breakpoint
ALTER TABLE "artifact_files" ADD COLUMN "format" text;--> statement-breakpoint
ALTER TABLE "metrics_points" ADD CONSTRAINT "metrics_points_source_check" CHECK ("metrics_points"."source" in ('worker', 'trainer_state', 'trainer_log', 'torchtune_log'));--> statement-breakpoint
ALTER TABLE "artifact_files" ADD CONSTRAINT "artifact_files_format_check" CHECK ("artifact_files"."format" in ('safetensors', 'torch_zip', 'pickle', 'gguf'));