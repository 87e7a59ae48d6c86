-- The filter language's metadata equality ($is, $in and their negations) is a jsonb containment
-- (metadata @> '{"tier":"gold"}'), which this index answers for live customers. jsonb_path_ops
-- keeps one entry per value path: smaller and faster for @> than the default operator class,
-- which containment is all the filters ask of it. (The schema language cannot express it.)
CREATE INDEX "customers_live_metadata_idx" ON "customers" USING GIN ("metadata" jsonb_path_ops) WHERE "live";
