import { ApiError, notFound } from '../errors.js';
import { newSegmentId } from '../ids.js';
import type { CustomerSegmentList, Segment, SegmentCreateBody, SegmentList, SegmentListQuery } from '../schemas/segment.js';
import { timestamp } from '../timestamps.js';
import { readCustomerFilter, readStoredFilter, type FilterGroup } from './filters.js';
import type { MetadataSchemaRules } from './metadata-rules.js';
import type { CustomerMatch } from './repository/customers.js';
import { filterMatch } from './repository/filters.js';
import type { CustomerRepository } from './repository/index.js';
import { listedIn, type SegmentRow, type segmentStore } from './repository/segments.js';

/** Stored filters kept read, at most this many: a segment's filter never changes. */
const READ_FILTERS_KEPT = 10_000;

const present = (row: SegmentRow): Segment => ({
  id: row.id,
  name: row.name,
  created_at: row.created_at,
  type: row.type,
  filter: row.type === 'auto-update' ? row.filter : null,
  initial_sync_status: 'DONE',
  object: 'segment',
});

/**
 * Segments of customers. A static segment lists customers; an auto-update segment is its
 * filter, evaluated by every read, so its members follow each write at once.
 */
export function createSegmentService(
  segments: ReturnType<typeof segmentStore>,
  customers: CustomerRepository,
  metadataRules: () => Promise<MetadataSchemaRules | undefined>,
) {
  // The stored filters read with the rules last seen (a new rules object, read at most a second
  // ago, starts afresh): GET /customers/{id}/segments reads every auto-update segment's filter.
  let readWith: { rules: MetadataSchemaRules | undefined; filters: Map<string, FilterGroup> } = {
    rules: undefined,
    filters: new Map(),
  };
  function readFilter(segment: SegmentRow, rules: MetadataSchemaRules | undefined): FilterGroup {
    if (readWith.rules !== rules || readWith.filters.size >= READ_FILTERS_KEPT) readWith = { rules, filters: new Map() };
    let filter = readWith.filters.get(segment.id);
    if (!filter) {
      filter = readStoredFilter(segment.filter, rules);
      readWith.filters.set(segment.id, filter);
    }
    return filter;
  }

  async function found(id: string): Promise<SegmentRow> {
    const segment = await segments.get(id);
    if (!segment) throw notFound('segment', id);
    return segment;
  }

  return {
    async create(body: SegmentCreateBody): Promise<Segment> {
      const isStatic = body.type === 'static';
      if (isStatic && body.filter !== undefined) {
        throw new ApiError(400, {
          details: 'Property .filter is for auto-update segments: a static segment lists its customers',
        });
      }
      if (!isStatic && body.customers !== undefined) {
        throw new ApiError(400, { details: 'Property .customers is for static segments: an auto-update segment has a filter' });
      }
      if (isStatic && body.customers === undefined) throw new ApiError(400, { details: 'Property .customers is required' });
      if (!isStatic && body.filter === undefined) throw new ApiError(400, { details: 'Property .filter is required' });
      if (!isStatic) readCustomerFilter(body.filter, 'Property .filter', 'body', await metadataRules());
      const row: SegmentRow = {
        id: newSegmentId(),
        name: body.name,
        type: body.type,
        filter: body.filter ?? null,
        created_at: timestamp(),
      };
      const { unknownKeys } = await segments.insert(row, body.customers ?? []);
      if (unknownKeys.length > 0) {
        throw new ApiError(400, {
          details: `Property .customers names no live customer: ${unknownKeys.slice(0, 5).join(', ')}${unknownKeys.length > 5 ? ` and ${unknownKeys.length - 5} more` : ''}`,
        });
      }
      return present(row);
    },

    get: async (id: string): Promise<Segment> => present(await found(id)),

    async remove(id: string): Promise<void> {
      if (!(await segments.remove(id))) throw notFound('segment', id);
    },

    async list(query: SegmentListQuery): Promise<SegmentList> {
      const limit = query.limit ?? 10;
      const { segments: rows, total } = await segments.list(limit, ((query.page ?? 1) - 1) * limit);
      return { object: 'list', data_ref: 'data', data: rows.map(present), total };
    },

    /** GET /customers/{id}/segments: the segments a live customer is in now. */
    async ofCustomer(key: string): Promise<CustomerSegmentList> {
      const customer = await customers.get(key);
      if (!customer) throw notFound('customer', key);
      const rules = await metadataRules();
      const rows = await segments.ofCustomer(customer.id, (segment) => readFilter(segment, rules));
      rows.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
      return {
        object: 'list',
        data_ref: 'data',
        data: rows.map(({ id, name }) => ({ id, name, object: 'segment' })),
        total: rows.length,
      };
    },

    /** The members of a segment as a condition on customers (and as a set, when an index has them), for the list's segment_id. */
    async membership(id: string): Promise<CustomerMatch> {
      const segment = await found(id);
      return segment.type === 'static'
        ? listedIn(segment.id)
        : filterMatch(readStoredFilter(segment.filter, await metadataRules()));
    },
  };
}

export type SegmentService = ReturnType<typeof createSegmentService>;
