-- A worker reading a stretch of the feed for an endpoint holds it under a lease (src/webhooks/store.ts,
-- READ_FEED): it sends those events straight away, and the stretch is closed (what was not
-- delivered queued, the position moved past it) by the worker that holds the lease, or read
-- again by another once the lease ran out.
ALTER TABLE "webhook_endpoints" ADD COLUMN "feed_lease" TEXT,
ADD COLUMN "feed_lease_until" TIMESTAMPTZ(3);
