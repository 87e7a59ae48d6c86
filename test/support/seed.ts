import type pg from 'pg';
import { newCustomerId } from '../../src/ids.js';

export interface SeedCustomer {
  created_at: string;
  updated_at?: string | null;
  source_id?: string | null;
  name?: string;
  email?: string;
  city?: string;
}

/**
 * Writes customers straight into the table, with the timestamps given, the way a bulk
 * import lands many rows in one millisecond. Returns their ids in the order given.
 */
export async function seedCustomers(db: pg.Pool, customers: SeedCustomer[]): Promise<string[]> {
  const ids = customers.map(() => newCustomerId());
  await db.query(
    `INSERT INTO customers (id, source_id, name, email, address, created_at, updated_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[], $7::timestamptz[])`,
    [
      ids,
      customers.map((customer) => customer.source_id ?? null),
      customers.map((customer) => customer.name ?? null),
      customers.map((customer) => customer.email ?? null),
      customers.map((customer) => (customer.city ? JSON.stringify({ city: customer.city }) : null)),
      customers.map((customer) => customer.created_at),
      customers.map((customer) => customer.updated_at ?? null),
    ],
  );
  return ids;
}

/** Every live customer id, as the database knows them. */
export async function liveCustomerIds(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM customers WHERE deleted_at IS NULL');
  return rows.map((row) => row.id);
}
