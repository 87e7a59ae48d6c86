import type pg from 'pg';
import { customerReads } from './customers.js';
import { eventReads } from './events.js';
import { eventFeed } from './feed.js';
import { customerWrites } from './writes.js';

export type { CustomerChanges, CustomerRow } from './columns.js';
export type { CustomerFilters, CustomerListRequest, CustomerPage } from './customers.js';
export type { EventFilters, EventPageRequest, EventRow } from './events.js';
export type { FeedFilters, FeedPageRequest } from './feed.js';
export { CHANGED_CONCURRENTLY, MAX_ROUNDS, type BatchWrite, type WriteStamp } from './writes.js';

/**
 * The Prisma repository of customers: Prisma owns the schema, the migrations and the types
 * these statements are checked against; the statements run as prepared SQL on the shared pool.
 * By concern: reads of customers, the activity log, the feed of all events, and the one write
 * path (writes.ts).
 */
export function createCustomerRepository(db: pg.Pool) {
  return { ...customerReads(db), ...eventReads(db), ...eventFeed(db), ...customerWrites(db) };
}

export type CustomerRepository = ReturnType<typeof createCustomerRepository>;
