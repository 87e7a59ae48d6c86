import type { WebhooksConfig } from '../config.js';
import { ApiError, invalidQuery, notFound } from '../errors.js';
import { newWebhookId } from '../ids.js';
import { timestamp } from '../timestamps.js';
import {
  webhookEventTypes,
  type Webhook,
  type WebhookCreateBody,
  type WebhookDeliveriesQuery,
  type WebhookDeliveryList,
  type WebhookList,
  type WebhookUpdateBody,
  type WebhookWithSecret,
} from '../schemas/webhook.js';
import { checkedAddresses, hostOf, RefusedAddress } from './addresses.js';
import { newWebhookSecret } from './signing.js';
import type { EndpointRow, WebhookStore } from './store.js';

export interface WebhookServiceOptions {
  store: WebhookStore;
  /** An event's place in the feed (the customers repository's). */
  eventPosition: (eventId: string) => Promise<string | undefined>;
  config: Pick<WebhooksConfig, 'allowHttp' | 'allowPrivateUrls'>;
}

const invalidUrl = (details: string) => new ApiError(400, { details: `Property .url ${details}` });

const present = ({ secret: _secret, ...endpoint }: EndpointRow): Webhook => ({
  id: endpoint.id,
  object: 'webhook',
  url: endpoint.url,
  events: endpoint.events,
  enabled: endpoint.enabled,
  description: endpoint.description,
  created_at: endpoint.created_at,
});

const withSecret = (endpoint: EndpointRow): WebhookWithSecret => ({ ...present(endpoint), secret: endpoint.secret });

/** Webhook endpoints: their URLs checked, their secrets shown only when made, their delivery log. */
export function createWebhookService({ store, eventPosition, config }: WebhookServiceOptions) {
  /** A URL a webhook may be sent to: http(s), http only where allowed, to no internal address (DNS resolved now). */
  async function checkUrl(url: string): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidUrl('must be an absolute http(s) URL');
    }
    if (parsed.protocol === 'http:' && !config.allowHttp) {
      throw invalidUrl('must be an https:// URL (http:// is refused in production unless WEBHOOK_ALLOW_HTTP=true)');
    }
    try {
      await checkedAddresses(hostOf(parsed), config.allowPrivateUrls);
    } catch (error) {
      if (error instanceof RefusedAddress) throw invalidUrl(`is refused: ${error.message}`);
      throw error;
    }
  }

  function found(id: string, endpoint: EndpointRow | undefined): EndpointRow {
    if (!endpoint) throw notFound('webhook', id);
    return endpoint;
  }

  return {
    async create(body: WebhookCreateBody): Promise<WebhookWithSecret> {
      await checkUrl(body.url);
      return withSecret(
        await store.insertEndpoint({
          id: newWebhookId(),
          url: body.url,
          events: body.events ?? webhookEventTypes,
          description: body.description ?? null,
          enabled: body.enabled ?? true,
          secret: newWebhookSecret(),
          createdAt: timestamp(),
        }),
      );
    },

    async list(): Promise<WebhookList> {
      const endpoints = await store.listEndpoints();
      return { object: 'list', data_ref: 'data', data: endpoints.map(present), total: endpoints.length };
    },

    get: async (id: string): Promise<Webhook> => present(await found(id, await store.getEndpoint(id))),

    async update(id: string, body: WebhookUpdateBody): Promise<Webhook> {
      if (body.url !== undefined) await checkUrl(body.url);
      return present(await found(id, await store.updateEndpoint(id, body, timestamp())));
    },

    async remove(id: string): Promise<void> {
      if (!(await store.deleteEndpoint(id))) throw notFound('webhook', id);
    },

    rotateSecret: async (id: string): Promise<WebhookWithSecret> =>
      withSecret(await found(id, await store.rotateSecret(id, newWebhookSecret(), timestamp()))),

    async deliveries(id: string, query: WebhookDeliveriesQuery): Promise<WebhookDeliveryList> {
      await found(id, await store.getEndpoint(id));
      const limit = query.limit ?? 10;
      if (query.starting_after !== undefined && !(await store.hasDelivery(id, query.starting_after))) {
        throw invalidQuery(`Property .starting_after does not name a delivery of this webhook: ${query.starting_after}`);
      }
      const rows = await store.deliveries(id, limit + 1, query.starting_after);
      const page = rows.slice(0, limit);
      const hasMore = rows.length > limit;
      return {
        object: 'list',
        data_ref: 'data',
        data: page.map((row) => ({ ...row, object: 'webhook_delivery' as const })),
        has_more: hasMore,
        ...(hasMore && { more_starting_after: page.at(-1)!.id }),
      };
    },

    /** Delivers every event of the feed after `startingAfter` again. */
    async replay(id: string, startingAfter: string): Promise<Webhook> {
      const endpoint = await found(id, await store.getEndpoint(id));
      const position = await eventPosition(startingAfter);
      if (position === undefined) {
        throw new ApiError(400, { details: `Property .starting_after does not name an event of the feed: ${startingAfter}` });
      }
      await store.replayFrom(id, position);
      return present(endpoint);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
