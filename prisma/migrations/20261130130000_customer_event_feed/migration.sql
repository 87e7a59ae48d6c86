-- The feed of all customers' events (GET /v1/customer-events). An event gets its place in the
-- feed (`position`) only after it has committed: the sequencer (src/customers/repository/feed.ts)
-- numbers the committed events that have none yet, in one transaction at a time. A position is
-- never handed out before an event that committed earlier got a smaller one, so a reader's cursor
-- cannot pass an event that a slow transaction commits later. The write statements do not change.
ALTER TABLE "customer_events" ADD COLUMN "position" BIGINT;

-- The last position the sequencer handed out; its one row is also the sequencer's lock.
CREATE TABLE "customer_event_feed" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "last_position" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "customer_event_feed_pkey" PRIMARY KEY ("id")
);
INSERT INTO "customer_event_feed" ("id", "last_position") VALUES (1, 0);

-- Written by hand (partial indexes): the events waiting for a position (few, and the only index
-- entry the write path adds), and the feed in position order.
CREATE INDEX "customer_events_unsequenced_idx" ON "customer_events"("created_at") WHERE "position" IS NULL;
CREATE UNIQUE INDEX "customer_events_position_idx" ON "customer_events"("position") WHERE "position" IS NOT NULL;
