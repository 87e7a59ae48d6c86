-- CreateTable
CREATE TABLE "metadata_schemas" (
    "id" TEXT NOT NULL,
    "related_object" TEXT NOT NULL,
    "allow_defined_only" BOOLEAN NOT NULL DEFAULT false,
    "properties" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3),

    CONSTRAINT "metadata_schemas_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "metadata_schemas_related_object_key" ON "metadata_schemas"("related_object");
