-- CreateTable
CREATE TABLE "customer_counts" (
    "dimension" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "slot" INTEGER NOT NULL DEFAULT 0,
    "live" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "customer_counts_pkey" PRIMARY KEY ("dimension","value","slot")
);


-- Written by hand: the statement triggers that keep customer_counts exact. Each runs once per
-- statement over its transition table, so a bulk write adds one counter update per key. Keys
-- are written in sorted order, so two writers lock counter rows in the same order and cannot
-- deadlock on them.

-- The keys one live customer counts toward: "all", and its address.city when it has one.
CREATE FUNCTION customer_count_keys(address jsonb) RETURNS TABLE (dimension text, value text)
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'all', '' UNION ALL SELECT 'city', address ->> 'city' WHERE address ->> 'city' IS NOT NULL
$$;

-- "all" is spread over 16 rows, one per connection, so that concurrent writers seldom wait on one row.
CREATE FUNCTION customer_count_slot(dimension text) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN dimension = 'all' THEN pg_backend_pid() % 16 ELSE 0 END
$$;

CREATE FUNCTION count_inserted_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_counts AS counts (dimension, value, slot, live)
  SELECT key.dimension, key.value, customer_count_slot(key.dimension), count(*)
  FROM new_rows AS customer, customer_count_keys(customer.address) AS key
  WHERE customer.deleted_at IS NULL
  GROUP BY key.dimension, key.value
  ORDER BY key.dimension, key.value
  ON CONFLICT (dimension, value, slot) DO UPDATE SET live = counts.live + EXCLUDED.live;
  RETURN NULL;
END
$$;

CREATE FUNCTION count_updated_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_counts AS counts (dimension, value, slot, live)
  SELECT key.dimension, key.value, customer_count_slot(key.dimension), sum(change.delta)
  FROM (
    SELECT address, 1 AS delta FROM new_rows WHERE deleted_at IS NULL
    UNION ALL
    SELECT address, -1 FROM old_rows WHERE deleted_at IS NULL
  ) AS change, customer_count_keys(change.address) AS key
  GROUP BY key.dimension, key.value
  HAVING sum(change.delta) <> 0
  ORDER BY key.dimension, key.value
  ON CONFLICT (dimension, value, slot) DO UPDATE SET live = counts.live + EXCLUDED.live;
  RETURN NULL;
END
$$;

CREATE FUNCTION count_deleted_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_counts AS counts (dimension, value, slot, live)
  SELECT key.dimension, key.value, customer_count_slot(key.dimension), -count(*)
  FROM old_rows AS customer, customer_count_keys(customer.address) AS key
  WHERE customer.deleted_at IS NULL
  GROUP BY key.dimension, key.value
  ORDER BY key.dimension, key.value
  ON CONFLICT (dimension, value, slot) DO UPDATE SET live = counts.live + EXCLUDED.live;
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_count_inserts AFTER INSERT ON customers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_customers();
CREATE TRIGGER customers_count_updates AFTER UPDATE ON customers
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_updated_customers();
CREATE TRIGGER customers_count_deletes AFTER DELETE ON customers
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_customers();

-- Customers that exist before this migration.
INSERT INTO customer_counts (dimension, value, slot, live)
SELECT key.dimension, key.value, 0, count(*)
FROM customers AS customer, customer_count_keys(customer.address) AS key
WHERE customer.deleted_at IS NULL
GROUP BY key.dimension, key.value;
