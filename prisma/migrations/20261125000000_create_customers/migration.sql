-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "customers" (
    "id" TEXT NOT NULL,
    "source_id" TEXT,
    "name" TEXT,
    "description" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "birthday" DATE,
    "birthdate" DATE,
    "address" JSONB,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "customers_pkey" PRIMARY KEY ("id")
);


-- Written by hand: the schema language cannot express partial or expression indexes.
-- Every read filters on live rows (deleted_at IS NULL), so every index covers only them.
-- A source_id is unique among live customers: deleting a customer frees it.
-- (No semicolons in comments here: the WASM engine splits scripts on every one.)
CREATE UNIQUE INDEX "customers_source_id_live_key" ON "customers" ("source_id") WHERE "deleted_at" IS NULL;

-- List orders (the id breaks ties between equal timestamps). Never-updated customers and
-- customers without a source_id sort last in both directions.
CREATE INDEX "customers_created_at_live_idx" ON "customers" ("created_at", "id") WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_updated_at_asc_live_idx" ON "customers" ("updated_at" ASC NULLS LAST, "id" ASC) WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_updated_at_desc_live_idx" ON "customers" ("updated_at" DESC NULLS LAST, "id" DESC) WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_source_id_asc_live_idx" ON "customers" ("source_id" ASC NULLS LAST, "id" ASC) WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_source_id_desc_live_idx" ON "customers" ("source_id" DESC NULLS LAST, "id" DESC) WHERE "deleted_at" IS NULL;

-- List filters, each followed by the default order so a filtered first page is an index range.
CREATE INDEX "customers_email_live_idx" ON "customers" ("email", "created_at", "id") WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_name_live_idx" ON "customers" ("name", "created_at", "id") WHERE "deleted_at" IS NULL;
CREATE INDEX "customers_city_live_idx" ON "customers" (("address" ->> 'city'), "created_at", "id") WHERE "deleted_at" IS NULL;
