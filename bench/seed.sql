-- Seeds :rows customers with predictable ids, source_ids and one-second-apart created_at,
-- spread over 1,000 cities, in batches so that memory stays flat. Run with psql -v rows=N -v fresh=false.
-- Every customer in the benchmark data is created here: the counters' triggers keep totals.
SELECT format(
  $$INSERT INTO customers (id, source_id, name, email, phone, address, metadata, created_at)
    SELECT 'cust_' || lpad(n::text, 24, '0'), 'src-' || n, 'Customer ' || n, 'customer' || n || '@example.com',
           '+1 555 ' || lpad((n %% 10000)::text, 4, '0'),
           jsonb_build_object('city', 'City ' || (n %% 1000), 'country', 'US', 'line_1', n || ' Main St.'),
           jsonb_build_object('tier', (ARRAY['bronze','silver','gold'])[1 + n %% 3], 'n', n, 'bucket', n %% 100, 'score', n %% 1000),
           timestamptz '2020-01-01' + n * interval '1 second'
    FROM generate_series(%s, %s) AS n$$,
  batch, least(batch + 99999, :rows))
FROM generate_series(1, :rows, 100000) AS batch
\gexec
-- -v fresh=true leaves the table as many creates leave it: never analyzed (autovacuum off for it).
\if :fresh
ALTER TABLE customers SET (autovacuum_enabled = false);
\else
ANALYZE customers;
\endif
