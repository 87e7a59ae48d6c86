-- CreateIndex
CREATE INDEX "async_action_failures_source_id_idx" ON "async_action_failures"("source_id");

-- Uploads still in progress, which every CSV upload looks for among all actions ever made to
-- remove the abandoned ones: a partial index (the schema language cannot express it).
CREATE INDEX "async_actions_uploading_created_at_idx" ON "async_actions"("created_at") WHERE "status" = 'UPLOADING';
