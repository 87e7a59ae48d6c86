-- Issue 12's targets: a filter on a declared metadata key, and a page of a static segment, with
-- an exact total, at a cost that does not grow with the table. Written by hand from the diff of
-- the schema: backfills, partial indexes and the triggers that keep the new tables exact.

-- A static segment lists live customers only: a delete takes the customer out of every segment
-- (trigger below), and live_members counts them (trigger on segment_members).
ALTER TABLE "segments" ADD COLUMN "live_members" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "segment_members" ADD COLUMN "created_at" TIMESTAMPTZ(3);
DELETE FROM "segment_members" AS member USING "customers" AS customer
  WHERE customer."id" = member."customer_id" AND NOT customer."live";
UPDATE "segment_members" AS member SET "created_at" = customer."created_at"
  FROM "customers" AS customer WHERE customer."id" = member."customer_id";
ALTER TABLE "segment_members" ALTER COLUMN "created_at" SET NOT NULL;
UPDATE "segments" SET "live_members" = counted.members
  FROM (SELECT "segment_id", count(*) AS members FROM "segment_members" GROUP BY "segment_id") AS counted
  WHERE counted."segment_id" = "segments"."id";

CREATE INDEX "segment_members_segment_id_created_at_customer_id_idx" ON "segment_members"("segment_id", "created_at", "customer_id");

-- Counts of segment_members, by statement: both triggers name their transition table
-- changed_rows. Segments are updated in id order, so two writers lock them in the same order.
CREATE FUNCTION count_segment_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "segments" SET "live_members" = "live_members" + changed.members
  FROM (
    SELECT "segment_id", CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END * count(*) AS members
    FROM changed_rows GROUP BY "segment_id" ORDER BY "segment_id"
  ) AS changed
  WHERE "segments"."id" = changed."segment_id";
  RETURN NULL;
END
$$;

CREATE TRIGGER segment_members_count_inserts AFTER INSERT ON "segment_members"
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION count_segment_members();
CREATE TRIGGER segment_members_count_deletes AFTER DELETE ON "segment_members"
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION count_segment_members();

-- Declared metadata values. A row per live customer and indexed key whose value has the key's
-- JSON type (a number for "number", a string for "string"): exactly the customers a filter's
-- containment (metadata @> {"key": value}) or numeric comparison on that key matches.
CREATE TABLE "customer_metadata_values" (
    "customer_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "number" DECIMAL,
    "text" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "customer_metadata_values_pkey" PRIMARY KEY ("customer_id","key")
);

CREATE TABLE "customer_metadata_indexed_keys" (
    "key" TEXT NOT NULL,
    "type" TEXT NOT NULL,

    CONSTRAINT "customer_metadata_indexed_keys_pkey" PRIMARY KEY ("key")
);

-- Plain columns, so a count is an index-only scan (PostgreSQL does not consider one on an
-- expression index over customers.metadata), and a value's page comes in created_at order.
CREATE INDEX "customer_metadata_values_number_idx" ON "customer_metadata_values" ("key", "number", "created_at", "customer_id")
  WHERE "number" IS NOT NULL;
CREATE INDEX "customer_metadata_values_text_idx" ON "customer_metadata_values" ("key", "text", "created_at", "customer_id")
  WHERE "text" IS NOT NULL;

-- How many live customers have each value, so that a filter's total is a sum over the values
-- it matches (one row for an equality, a row per value in a range) instead of a count of its
-- customers. Spread over 16 slots as customer_counts is (customer_count_slot), so concurrent
-- writers of one value seldom wait on each other; rows are written in key order (no deadlock).
CREATE TABLE "customer_metadata_counts" (
    "key" TEXT NOT NULL,
    "number" DECIMAL NOT NULL DEFAULT 0,
    "text" TEXT NOT NULL DEFAULT '',
    "slot" INTEGER NOT NULL DEFAULT 0,
    "live" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "customer_metadata_counts_pkey" PRIMARY KEY ("key","number","text","slot")
);

-- Both triggers name their transition table changed_rows.
CREATE FUNCTION count_customer_metadata_values() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "customer_metadata_counts" AS counts ("key", "number", "text", "slot", "live")
  SELECT "key", coalesce("number", 0), coalesce("text", ''), customer_count_slot('all'),
    CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END * count(*)
  FROM changed_rows
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT ("key", "number", "text", "slot") DO UPDATE SET "live" = counts."live" + EXCLUDED."live";
  RETURN NULL;
END
$$;

CREATE TRIGGER customer_metadata_values_count_inserts AFTER INSERT ON "customer_metadata_values"
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION count_customer_metadata_values();
CREATE TRIGGER customer_metadata_values_count_deletes AFTER DELETE ON "customer_metadata_values"
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION count_customer_metadata_values();

-- The indexed values of some customers (rows of customers), live ones only.
CREATE FUNCTION customer_metadata_values_of(customer customers) RETURNS TABLE (key text, number numeric, text text)
LANGUAGE sql STABLE AS $$
  SELECT indexed."key",
    CASE WHEN indexed."type" = 'number' THEN (customer."metadata" -> indexed."key")::numeric END,
    CASE WHEN indexed."type" = 'string' THEN customer."metadata" ->> indexed."key" END
  FROM "customer_metadata_indexed_keys" AS indexed
  WHERE customer."deleted_at" IS NULL AND jsonb_typeof(customer."metadata" -> indexed."key") = indexed."type"
$$;

CREATE FUNCTION index_inserted_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM "customer_metadata_indexed_keys") THEN
    INSERT INTO "customer_metadata_values" ("customer_id", "key", "number", "text", "created_at")
    SELECT customer."id", value."key", value."number", value."text", customer."created_at"
    FROM new_rows AS customer, customer_metadata_values_of(customer) AS value;
  END IF;
  RETURN NULL;
END
$$;

-- A customer whose metadata changed is indexed again; a deleted one leaves its segments.
CREATE FUNCTION index_updated_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "segment_members" AS member USING new_rows AS customer, old_rows AS before
    WHERE before."id" = customer."id" AND before."deleted_at" IS NULL AND customer."deleted_at" IS NOT NULL
      AND member."customer_id" = customer."id";
  IF EXISTS (SELECT FROM "customer_metadata_indexed_keys") THEN
    DELETE FROM "customer_metadata_values" AS value USING new_rows AS customer, old_rows AS before
      WHERE before."id" = customer."id" AND value."customer_id" = customer."id"
        AND (before."metadata" IS DISTINCT FROM customer."metadata" OR before."deleted_at" IS DISTINCT FROM customer."deleted_at");
    INSERT INTO "customer_metadata_values" ("customer_id", "key", "number", "text", "created_at")
    SELECT customer."id", value."key", value."number", value."text", customer."created_at"
    FROM new_rows AS customer JOIN old_rows AS before ON before."id" = customer."id",
      customer_metadata_values_of(customer) AS value
    WHERE before."metadata" IS DISTINCT FROM customer."metadata" OR before."deleted_at" IS DISTINCT FROM customer."deleted_at";
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION index_deleted_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "customer_metadata_values" WHERE "customer_id" IN (SELECT "id" FROM old_rows);
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_index_inserts AFTER INSERT ON "customers"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION index_inserted_customers();
CREATE TRIGGER customers_index_updates AFTER UPDATE ON "customers"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION index_updated_customers();
CREATE TRIGGER customers_index_deletes AFTER DELETE ON "customers"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION index_deleted_customers();

-- TRUNCATE fires no delete trigger: emptied customers empty their indexed values and counts,
-- and emptied members (customers' TRUNCATE ... CASCADE empties them too) their segments' counts.
CREATE FUNCTION forget_truncated_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE "customer_metadata_values", "customer_metadata_counts";
  RETURN NULL;
END
$$;

CREATE FUNCTION forget_truncated_segment_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "segments" SET "live_members" = 0 WHERE "live_members" <> 0;
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_index_truncates AFTER TRUNCATE ON "customers"
  FOR EACH STATEMENT EXECUTE FUNCTION forget_truncated_customers();
CREATE TRIGGER segment_members_count_truncates AFTER TRUNCATE ON "segment_members"
  FOR EACH STATEMENT EXECUTE FUNCTION forget_truncated_segment_members();

-- The keys the customer metadata schema declares as a number or a string (not an array, not deleted).
CREATE FUNCTION declared_customer_metadata_keys() RETURNS TABLE (key text, type text) LANGUAGE sql STABLE AS $$
  SELECT property.key, property.value ->> 'type'
  FROM "metadata_schemas" AS schema, jsonb_each(schema."properties") AS property
  WHERE schema."related_object" = 'customer'
    AND property.value ->> 'type' IN ('number', 'string')
    AND coalesce((property.value ->> 'array')::boolean, false) = false
    AND coalesce((property.value ->> 'deleted')::boolean, false) = false
$$;

-- Makes customer_metadata_values hold the declared keys, no more: a key no longer declared, or
-- declared as another type, is dropped; a newly declared one is filled from every live customer.
-- Customers are locked against writes while a key is filled (SHARE: writers wait, readers do
-- not), so no write slips between the fill and the key's trigger seeing it. Answers how many
-- keys were dropped or added.
CREATE FUNCTION sync_customer_metadata_values() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  dropped int;
  added_keys text[];
BEGIN
  WITH gone AS (
    DELETE FROM "customer_metadata_indexed_keys" AS indexed
    WHERE NOT EXISTS (
      SELECT FROM declared_customer_metadata_keys() AS declared WHERE declared.key = indexed."key" AND declared.type = indexed."type"
    )
    RETURNING indexed."key"
  ), cleared AS (
    DELETE FROM "customer_metadata_values" WHERE "key" IN (SELECT "key" FROM gone)
  )
  SELECT count(*) INTO dropped FROM gone;
  -- After the statement above, whose triggers brought them to zero.
  DELETE FROM "customer_metadata_counts"
  WHERE "key" NOT IN (SELECT "key" FROM "customer_metadata_indexed_keys");

  SELECT array_agg(declared.key) INTO added_keys FROM declared_customer_metadata_keys() AS declared
  WHERE NOT EXISTS (SELECT FROM "customer_metadata_indexed_keys" AS indexed WHERE indexed."key" = declared.key);
  IF added_keys IS NOT NULL THEN
    LOCK TABLE "customers" IN SHARE MODE;
    INSERT INTO "customer_metadata_indexed_keys" ("key", "type")
    SELECT declared.key, declared.type FROM declared_customer_metadata_keys() AS declared WHERE declared.key = ANY(added_keys);
    INSERT INTO "customer_metadata_values" ("customer_id", "key", "number", "text", "created_at")
    SELECT customer."id", value."key", value."number", value."text", customer."created_at"
    FROM "customers" AS customer, customer_metadata_values_of(customer) AS value
    WHERE customer."live" AND value."key" = ANY(added_keys);
  END IF;
  RETURN dropped + coalesce(cardinality(added_keys), 0);
END
$$;

-- Schemas that exist before this migration.
SELECT sync_customer_metadata_values();
