-- Permanent deletion erases the report rows that name a customer's source_id, as it erases failed rows.
CREATE INDEX "async_action_applied_rows_source_id_idx" ON "async_action_applied_rows"("source_id");
