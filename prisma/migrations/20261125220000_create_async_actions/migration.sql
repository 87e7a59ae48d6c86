-- CreateTable
CREATE TABLE "async_actions" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "request_id" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "input_size" INTEGER NOT NULL DEFAULT 0,
    "input_read" INTEGER NOT NULL DEFAULT 0,
    "position" INTEGER NOT NULL DEFAULT 0,
    "done_count" INTEGER NOT NULL DEFAULT 0,
    "failed_count" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "lease_token" TEXT,
    "worker" TEXT,
    "claims" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "async_actions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "async_action_items" (
    "action_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "item" JSONB NOT NULL,

    CONSTRAINT "async_action_items_pkey" PRIMARY KEY ("action_id","position")
);

-- CreateTable
CREATE TABLE "async_action_file_chunks" (
    "action_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "async_action_file_chunks_pkey" PRIMARY KEY ("action_id","seq")
);

-- CreateTable
CREATE TABLE "async_action_failures" (
    "action_id" TEXT NOT NULL,
    "row" INTEGER NOT NULL,
    "source_id" TEXT,
    "reason" TEXT NOT NULL,

    CONSTRAINT "async_action_failures_pkey" PRIMARY KEY ("action_id","row")
);

-- CreateIndex
CREATE INDEX "async_actions_created_at_id_idx" ON "async_actions"("created_at", "id");

-- AddForeignKey
ALTER TABLE "async_action_items" ADD CONSTRAINT "async_action_items_action_id_fkey" FOREIGN KEY ("action_id") REFERENCES "async_actions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "async_action_file_chunks" ADD CONSTRAINT "async_action_file_chunks_action_id_fkey" FOREIGN KEY ("action_id") REFERENCES "async_actions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "async_action_failures" ADD CONSTRAINT "async_action_failures_action_id_fkey" FOREIGN KEY ("action_id") REFERENCES "async_actions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

