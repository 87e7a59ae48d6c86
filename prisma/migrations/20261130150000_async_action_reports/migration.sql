-- Reports of bulk and metadata updates: each applied input row (failed rows are in
-- async_action_failures), kept from the batch that applied it until the report expires.
ALTER TABLE "async_actions" ADD COLUMN "reports_available_till" TIMESTAMPTZ(3);
ALTER TABLE "async_actions" ADD COLUMN "report_kept" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "async_action_applied_rows" (
    "action_id" TEXT NOT NULL,
    "row" INTEGER NOT NULL,
    "source_id" TEXT,
    "created" BOOLEAN NOT NULL,

    CONSTRAINT "async_action_applied_rows_pkey" PRIMARY KEY ("action_id","row")
);

-- AddForeignKey
ALTER TABLE "async_action_applied_rows" ADD CONSTRAINT "async_action_applied_rows_action_id_fkey" FOREIGN KEY ("action_id") REFERENCES "async_actions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Reports whose rows are still kept, by expiry, for the cleanup that drops the expired ones
-- a few at a time: a partial index (the schema language cannot express it).
CREATE INDEX "async_actions_report_kept_reports_available_till_idx" ON "async_actions"("reports_available_till") WHERE "report_kept";
