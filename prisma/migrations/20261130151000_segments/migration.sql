-- CreateTable
CREATE TABLE "segments" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "filter" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "segments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "segment_members" (
    "segment_id" TEXT NOT NULL,
    "customer_id" TEXT NOT NULL,

    CONSTRAINT "segment_members_pkey" PRIMARY KEY ("segment_id","customer_id")
);

-- CreateIndex
CREATE INDEX "segments_created_at_id_idx" ON "segments"("created_at", "id");

-- CreateIndex
CREATE INDEX "segment_members_customer_id_idx" ON "segment_members"("customer_id");

-- AddForeignKey
ALTER TABLE "segment_members" ADD CONSTRAINT "segment_members_segment_id_fkey" FOREIGN KEY ("segment_id") REFERENCES "segments"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "segment_members" ADD CONSTRAINT "segment_members_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A metadata value as a time for the filter language's $after and $before: NULL for a value
-- that is no date-time, where a cast would fail the whole statement. A value without a zone
-- (a date alone) is read in UTC, whatever the session's time zone.
CREATE FUNCTION customer_filter_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE SET timezone = 'UTC' AS $$
BEGIN
  IF value IS NULL OR value !~ '^\d{4}-\d{2}-\d{2}' THEN
    RETURN NULL;
  END IF;
  RETURN value::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;
