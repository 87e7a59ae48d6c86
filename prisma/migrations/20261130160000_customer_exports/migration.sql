-- CreateTable
CREATE TABLE "exports" (
    "id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "parameters" JSONB NOT NULL,
    "request_id" TEXT NOT NULL,
    "lease_token" TEXT,
    "worker" TEXT,
    "claims" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "row_count" INTEGER,
    "chunk_count" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "file_available_till" TIMESTAMPTZ(3),

    CONSTRAINT "exports_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "export_file_chunks" (
    "export_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "export_file_chunks_pkey" PRIMARY KEY ("export_id","seq")
);

-- CreateIndex
CREATE INDEX "exports_created_at_id_idx" ON "exports"("created_at", "id");

-- CreateIndex
CREATE INDEX "exports_status_idx" ON "exports"("status");


-- A chunk is CSV text written once and read once: stored out of line without compression, which
-- would cost the export's time for little room.
ALTER TABLE "export_file_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;
