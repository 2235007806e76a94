DROP INDEX "model_artifacts_user_recent_idx";--> statement-breakpoint
DROP INDEX "model_artifacts_user_quality_idx";--> statement-breakpoint
CREATE INDEX "model_artifacts_user_recent_idx" ON "model_artifacts" USING btree ("user_id","created_at" desc,"id" desc);--> statement-breakpoint
CREATE INDEX "model_artifacts_user_quality_idx" ON "model_artifacts" USING btree ("user_id",coalesce("quality_score", 0) desc,"created_at" desc,"id" desc);