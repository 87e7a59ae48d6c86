import { sql, type Expression, type SqlBool } from 'kysely';
import { ApiError, invalidQuery, notFound, preconditionFailed } from '../errors.js';
import { newCustomerId, newPermanentDeletionId } from '../ids.js';
import { queryTimestamp, timestamp } from '../timestamps.js';
import {
  eventTypesOf,
  type ActivityCategory,
  type CustomerActivitiesList,
  type CustomerActivitiesQuery,
  type CustomerActivity,
  type CustomerActivityList,
  type CustomerActivityQuery,
  type CustomerEvent,
  type CustomerEventList,
  type CustomerEventsQuery,
  type PermanentDeletion,
} from '../schemas/activity.js';
import {
  customerTextFields,
  type Address,
  type Customer,
  type CustomerCreateBody,
  type CustomerFields,
  type CustomerList,
  type CustomerListQuery,
  type CustomerUpdateBody,
  EMPTY_LOYALTY,
  EMPTY_REFERRALS,
  EMPTY_SUMMARY,
} from '../schemas/customer.js';
import { createCockpitLinks, type CockpitLinkOptions } from './cockpit.js';
import { listFilter } from './filters.js';
import { metadataSchemaProblem, type MetadataSchemaRules } from './metadata-rules.js';
import { filterMatch } from './repository/filters.js';
import type { SegmentService } from './segments.js';
import type { CustomerVersion } from './etag.js';
import type { CustomerChanges, CustomerRepository, CustomerRow, EventRow, WriteStamp } from './repository/index.js';

export interface CustomerServiceOptions {
  /** How the cockpit links customers carry are made and checked. */
  cockpitLinks: CockpitLinkOptions;
}

/** A write happening now on behalf of this request, and the activity event it records. */
const stampFor = (requestId: string): WriteStamp => ({ at: timestamp(), requestId });

/** Query timestamps arrive in any ISO 8601 form the schema accepts; the repository compares the canonical one. */
const asTimestamp = (value: string | undefined) => (value === undefined ? undefined : queryTimestamp(value));

/** What a request body asks to store: sent fields only, `null` clearing a field. */
export function toChanges(fields: CustomerFields): CustomerChanges {
  const changes: CustomerChanges = {};
  for (const field of customerTextFields) {
    if (fields[field] !== undefined) changes[field] = fields[field];
  }
  if (fields.address !== undefined) {
    // An address subfield sent as null is simply not set: the address is replaced as a whole.
    changes.address =
      fields.address === null
        ? null
        : (Object.fromEntries(Object.entries(fields.address).filter(([, value]) => value !== null)) as Address);
  }
  if (fields.metadata !== undefined) changes.metadata = fields.metadata ?? {};
  return changes;
}

/** Both conditions, or the one there is. */
const both = (a: Expression<SqlBool> | undefined, b: Expression<SqlBool> | undefined) =>
  a && b ? sql<SqlBool>`(${a} AND ${b})` : (a ?? b);

/** What the customer service consults beside its repository. */
export interface CustomerServiceLinks {
  segments: Pick<SegmentService, 'membership'>;
  /** The customer metadata schema's rules in force, if there is one. */
  metadataRules: () => Promise<MetadataSchemaRules | undefined>;
}

export function createCustomerService(
  repository: CustomerRepository,
  { cockpitLinks: cockpitLinkOptions }: CustomerServiceOptions,
  { segments, metadataRules }: CustomerServiceLinks,
) {
  /**
   * Metadata a write sends replaces the customer's whole metadata: it must meet the metadata
   * schema (a create that sends none must too, for the keys it requires).
   */
  async function checkMetadata(metadata: Record<string, unknown> | null | undefined, creates: boolean) {
    if (metadata === undefined && !creates) return;
    const problem = metadataSchemaProblem(await metadataRules(), metadata ?? {});
    if (problem) throw new ApiError(400, { details: problem });
  }

  const cockpitLinks = createCockpitLinks(cockpitLinkOptions);
  const cockpitUrl = (row: Pick<CustomerRow, 'id' | 'cockpit_links_revoked_through'>): string =>
    cockpitLinks.url(row.id, row.cockpit_links_revoked_through);

  /** The customer object of the contract, from a stored row. Unset fields are left out. */
  function present(row: CustomerRow, cockpit = cockpitUrl(row)): Customer {
    const customer: Customer = {
      id: row.id,
      address: row.address,
      summary: EMPTY_SUMMARY,
      loyalty: EMPTY_LOYALTY,
      referrals: EMPTY_REFERRALS,
      metadata: row.metadata,
      system_metadata: {},
      created_at: row.created_at,
      assets: { cockpit_url: cockpit },
      object: 'customer',
    };
    if (row.source_id !== null) customer.source_id = row.source_id;
    for (const field of customerTextFields) {
      const value = row[field];
      if (value !== null) customer[field] = value;
    }
    if (row.updated_at !== null) customer.updated_at = row.updated_at;
    return customer;
  }

  const found = (key: string, row: CustomerRow | undefined): Customer => {
    if (!row) throw notFound('customer', key);
    return present(row);
  };

  /**
   * Why a write by key changed nothing: no such customer (404), or, with If-Match, a customer of
   * another version (412). The write itself checked the version; this only tells the two apart.
   */
  async function failedWrite(key: string, ifMatch: readonly CustomerVersion[] | undefined): Promise<never> {
    if (ifMatch !== undefined && (await repository.get(key))) throw preconditionFailed('customer', key);
    throw notFound('customer', key);
  }

  const presentEvent = (event: EventRow, cockpit: string): CustomerActivity => ({
    id: event.id,
    type: event.type,
    data: { customer: present(event.data.customer, cockpit) },
    created_at: event.created_at,
    group_id: event.group_id,
  });

  /**
   * Events of one customer: each snapshot carries the same cockpit link, signed once, as of the
   * latest revocation the events saw (a revocation itself writes no event).
   */
  const presentEvents = (customerId: string, events: EventRow[]): CustomerActivity[] => {
    const revocations = events.flatMap((event) => event.data.customer.cockpit_links_revoked_through ?? []);
    const cockpit = cockpitUrl({ id: customerId, cockpit_links_revoked_through: revocations.sort().at(-1) });
    return events.map((event) => presentEvent(event, cockpit));
  };

  /** An event of the feed, or of a webhook: the activity event, tagged, its link as of its snapshot. */
  const presentFeedEvent = (event: EventRow): CustomerEvent => ({
    ...presentEvent(event, cockpitUrl(event.data.customer)),
    object: 'event',
  });

  /** A live customer by id or source_id, or a deleted one by id (until permanently deleted). */
  async function activityOwner(key: string): Promise<string> {
    const customerId = await repository.findActivityOwner(key);
    if (customerId === undefined) throw notFound('customer', key);
    return customerId;
  }

  async function eventCursor(customerId: string, eventId: string) {
    const createdAt = await repository.eventTime(customerId, eventId);
    if (createdAt === undefined) {
      throw invalidQuery(`Property .starting_after_id does not name an event of this customer: ${eventId}`);
    }
    return { createdAt, id: eventId };
  }

  const eventFilters = (
    customerId: string,
    query: { start_date?: string; end_date?: string; type?: string; category?: ActivityCategory },
  ) => ({
    customerId,
    type: query.type,
    types: query.category === undefined ? undefined : eventTypesOf(query.category),
    startDate: asTimestamp(query.start_date),
    endDate: asTimestamp(query.end_date),
  });

  return {
    /** POST /customers: update the customer named by `id`, or upsert by `source_id`, or create. */
    async create({ id, source_id: sourceId, ...fields }: CustomerCreateBody, requestId: string): Promise<Customer> {
      // Without an id or a source_id, the POST can only create.
      await checkMetadata(fields.metadata, id === undefined && sourceId === undefined);
      const changes = toChanges(fields);
      if (id !== undefined) return found(id, await repository.updateById(id, changes, stampFor(requestId)));
      return present(await repository.create(newCustomerId(), sourceId ?? null, changes, stampFor(requestId)));
    },

    async get(key: string): Promise<Customer> {
      return found(key, await repository.get(key));
    },

    /** PUT /customers/{id}, of the versions `ifMatch` accepts when given (If-Match). */
    async update(
      key: string,
      { id: _id, source_id: _sourceId, ...fields }: CustomerUpdateBody,
      requestId: string,
      ifMatch?: readonly CustomerVersion[],
    ): Promise<Customer> {
      await checkMetadata(fields.metadata, false);
      const row = await repository.update(key, toChanges(fields), stampFor(requestId), ifMatch);
      return row ? present(row) : failedWrite(key, ifMatch);
    },

    /**
     * The customer a cockpit link names, when its token was signed for that customer id and has
     * not expired (a source_id, another customer's token or an expired one finds nothing).
     */
    async cockpit(id: string, token: string): Promise<Customer> {
      const expiresAt = cockpitLinks.unexpired(id, token);
      const row = expiresAt === undefined ? undefined : await repository.get(id);
      const opens = row?.id === id && cockpitLinks.opens(expiresAt!, row.cockpit_links_revoked_through);
      return found(id, opens ? row : undefined);
    },

    /**
     * POST /customers/{id}/cockpit-link/revoke: every cockpit link of the customer handed out so
     * far stops opening its page; answers the customer with its new link.
     */
    async revokeCockpitLinks(key: string): Promise<Customer> {
      const current = await repository.get(key);
      if (!current) throw notFound('customer', key);
      const through = cockpitLinks.revocationAt(current.cockpit_links_revoked_through);
      return found(key, await repository.revokeCockpitLinks(current.id, through));
    },

    /** DELETE /customers/{id}, of the versions `ifMatch` accepts when given (If-Match). */
    async remove(key: string, requestId: string, ifMatch?: readonly CustomerVersion[]): Promise<void> {
      if (!(await repository.remove(key, stampFor(requestId), ifMatch))) await failedWrite(key, ifMatch);
    },

    async list(query: CustomerListQuery): Promise<CustomerList> {
      const order = query.order ?? '-created_at';
      const limit = query.limit ?? 10;
      const pageNumber = query.page ?? 1;
      const startingAfter = query.starting_after;
      if (startingAfter !== undefined && !order.endsWith('created_at')) {
        throw invalidQuery('Property .starting_after is a created_at cursor: use it with order created_at or -created_at');
      }
      if (startingAfter !== undefined && pageNumber > 1) {
        throw invalidQuery('Property .page cannot be combined with starting_after');
      }
      const filter = listFilter(query, await metadataRules());
      const matches = [
        filter && filterMatch(filter),
        query.segment_id === undefined ? undefined : await segments.membership(query.segment_id),
      ].filter((match) => match !== undefined);
      const { customers, total, hasMore } = await repository.list({
        filters: {
          email: query.email,
          name: query.name,
          city: query.city,
          createdBefore: asTimestamp(query['created_at[before]']),
          createdAfter: asTimestamp(query['created_at[after]']),
          updatedBefore: asTimestamp(query['updated_at[before]']),
          updatedAfter: asTimestamp(query['updated_at[after]']),
          condition: matches.map((match) => match.condition).reduce<Expression<SqlBool> | undefined>(both, undefined),
          members: matches.length === 1 ? matches[0]!.members : undefined,
        },
        order,
        limit,
        page:
          startingAfter === undefined
            ? { kind: 'offset', offset: (pageNumber - 1) * limit }
            : { kind: 'cursor', startingAfter: asTimestamp(startingAfter)! },
      });
      return { object: 'list', data_ref: 'customers', customers: customers.map((row) => present(row)), total, has_more: hasMore };
    },

    /** GET /customers/{id}/activity: keyset pages by event id. Works for a deleted customer by id. */
    async listActivity(key: string, query: CustomerActivityQuery): Promise<CustomerActivityList> {
      const customerId = await activityOwner(key);
      const limit = query.limit ?? 10;
      if (query.campaign_id !== undefined || query.campaign_type !== undefined) {
        return { object: 'list', data_ref: 'data', data: [], has_more: false };
      }
      const after = query.starting_after_id === undefined ? undefined : await eventCursor(customerId, query.starting_after_id);
      const { events, hasMore } = await repository.listEvents({
        ...eventFilters(customerId, query),
        order: query.order ?? '-created_at',
        limit,
        after,
      });
      const last = events.at(-1);
      return {
        object: 'list',
        data_ref: 'data',
        data: presentEvents(customerId, events),
        has_more: hasMore,
        ...(hasMore && last && { more_starting_after: last.id }),
      };
    },

    /** GET /customers/{id}/activities (deprecated): pages by created_at or event id, with a total. */
    async listActivities(key: string, query: CustomerActivitiesQuery): Promise<CustomerActivitiesList> {
      const customerId = await activityOwner(key);
      if (query.starting_after !== undefined && query.starting_after_id !== undefined) {
        throw invalidQuery('Property .starting_after cannot be combined with starting_after_id');
      }
      if (query.campaign_id !== undefined || query.campaign_type !== undefined || query.product_id !== undefined) {
        return { object: 'list', data_ref: 'data', data: [], total: 0 };
      }
      const filters = eventFilters(customerId, query);
      const after =
        query.starting_after_id !== undefined
          ? await eventCursor(customerId, query.starting_after_id)
          : query.starting_after !== undefined
            ? { createdAt: asTimestamp(query.starting_after)! }
            : undefined;
      const [{ events }, total] = await Promise.all([
        repository.listEvents({ ...filters, order: query.order ?? '-created_at', limit: query.limit ?? 10, after }),
        repository.countEvents(filters),
      ]);
      return { object: 'list', data_ref: 'data', data: presentEvents(customerId, events), total };
    },

    /**
     * GET /customer-events: every customer's events in the order they committed. Events committed
     * before the request are numbered first, so a reader sees its own writes.
     */
    async listFeed(query: CustomerEventsQuery): Promise<CustomerEventList> {
      await repository.sequence();
      let afterPosition: string | undefined;
      if (query.starting_after !== undefined) {
        afterPosition = await repository.eventPosition(query.starting_after);
        if (afterPosition === undefined) {
          throw invalidQuery(`Property .starting_after does not name an event of the feed: ${query.starting_after}`);
        }
      }
      const { events, hasMore } = await repository.feedPage({
        limit: query.limit ?? 10,
        afterPosition,
        type: query.type,
        startDate: asTimestamp(query.start_date),
        endDate: asTimestamp(query.end_date),
      });
      const last = events.at(-1);
      return {
        object: 'list',
        data_ref: 'data',
        data: events.map(presentFeedEvent),
        has_more: hasMore,
        ...(last && { more_starting_after: last.id }),
      };
    },

    presentFeedEvent,

    /** POST /customers/{id}/permanent-deletion: the customer and all its activity, gone for good. */
    async erase(key: string): Promise<PermanentDeletion> {
      const customerId = await activityOwner(key);
      const erased = await repository.erase(customerId);
      if (!erased) throw notFound('customer', key);
      return {
        id: newPermanentDeletionId(),
        created_at: timestamp(),
        related_object_id: customerId,
        related_object: 'customer',
        status: 'DONE',
        // The activity log is this service's only kind of event: both counts are its rows.
        data_json: {
          events: erased.events,
          customer_events: erased.events,
          daily_events: 0,
          segments: 0,
          orders: 0,
          order_events: 0,
          customer: 1,
        },
        object: 'pernament_deletion',
      };
    },
  };
}

export type CustomerService = ReturnType<typeof createCustomerService>;
