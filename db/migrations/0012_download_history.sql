-- A model's download history (models.downloads) is shown to every member of its workspace, viewers
-- included: who downloaded which files, and when. It was an admins-only audit; the procedure reads it as
-- the user, so the row policy follows. No procedure returns the recorded addresses and user agents.
DROP POLICY ws_admin ON download_events;
--> statement-breakpoint
CREATE POLICY ws_read ON download_events FOR SELECT TO app_user USING (workspace_id IN (SELECT app.workspaces('read')));
