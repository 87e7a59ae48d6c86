-- A customer's cockpit links expiring at or before this time no longer open its page
-- (POST /v1/customers/{id}/cockpit-link/revoke); links handed out afterwards expire later.
ALTER TABLE "customers" ADD COLUMN "cockpit_links_revoked_through" TIMESTAMPTZ(3);
