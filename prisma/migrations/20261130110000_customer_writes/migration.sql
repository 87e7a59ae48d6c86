-- Written by hand: the rows of a batch of customer writes (src/customers/repository/writes.ts),
-- jsonb_array_elements() with an estimate of one row. With the estimate of a hundred rows that
-- jsonb_array_elements() has, PostgreSQL updates a customer of a 10,000-row table by hashing the
-- whole table. With one, it finds each written customer through its index at any table size.
-- STRICT keeps PostgreSQL from inlining the function, which would drop its estimate.
CREATE FUNCTION customer_writes(batch jsonb) RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 1 AS $$
  SELECT jsonb_array_elements(batch)
$$;
