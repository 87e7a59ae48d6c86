-- The async actions not ended yet, which the webhook delivery worker looks for every round (it
-- leaves numbering the feed to the feed's readers while bulk work writes events and no endpoint
-- needs them, src/webhooks/store.ts): a partial index (the schema language cannot express it).
CREATE INDEX "async_actions_unfinished_idx" ON "async_actions"("id") WHERE "status" IN ('ENQUEUED', 'IN_PROGRESS');
