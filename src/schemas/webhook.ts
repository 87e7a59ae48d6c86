import { Type, type Static } from '@sinclair/typebox';
import { CUSTOMER_EVENTS, EventId } from './activity.js';
import { Nullable, PageLimit, StringEnum } from './common.js';

export const webhookEventTypes = Object.values(CUSTOMER_EVENTS).map((event) => event.type);

const url = Type.String({
  minLength: 1,
  maxLength: 2048,
  pattern: '^https?://',
  description:
    'Where events are POSTed: https:// (http:// outside production, or when allowed). Refused when its host resolves to a loopback, private, link-local or metadata address.',
  example: 'https://crm.example.com/hooks/customers',
});
const events = Type.Array(StringEnum(webhookEventTypes), {
  minItems: 1,
  uniqueItems: true,
  description: 'The event types sent: all of them when not given.',
  example: ['customer.created', 'customer.updated'],
});
const description = Nullable(Type.String({ maxLength: 500, example: 'CRM sync' }));
const enabled = Type.Boolean({
  description: 'Whether events are sent. A disabled endpoint keeps its place: enabled again, it resumes where it stopped.',
});

const WebhookId = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'The webhook endpoint id (wh_…).',
  example: 'wh_XI8sPLvznzVpNI1BMIWGcUJa',
});

const webhookExample = {
  id: 'wh_XI8sPLvznzVpNI1BMIWGcUJa',
  object: 'webhook',
  url: 'https://crm.example.com/hooks/customers',
  events: ['customer.created', 'customer.updated', 'customer.deleted'],
  enabled: true,
  description: 'CRM sync',
  created_at: '2022-08-30T06:32:07.380Z',
};
const secretExample = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwGJ0NbEJmFUE=';
export const WebhookIdParams = Type.Object({ webhookId: WebhookId });

const webhookFields = {
  id: WebhookId,
  object: Type.Literal('webhook'),
  url: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  description: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
};

export const Webhook = Type.Object(webhookFields, { title: 'Webhook', example: webhookExample });
export type Webhook = Static<typeof Webhook>;

/** The endpoint with its signing secret: the answer of create and rotate-secret only. */
export const WebhookWithSecret = Type.Object(
  {
    ...webhookFields,
    secret: Type.String({
      description: 'Signs deliveries (Standard Webhooks): `whsec_` + base64 of the key. Shown only here.',
      example: secretExample,
    }),
  },
  { title: 'WebhookWithSecret', example: { ...webhookExample, secret: secretExample } },
);
export type WebhookWithSecret = Static<typeof WebhookWithSecret>;

export const WebhookCreateBody = Type.Object(
  { url, events: Type.Optional(events), description: Type.Optional(description), enabled: Type.Optional(enabled) },
  {
    additionalProperties: false,
    example: { url: 'https://crm.example.com/hooks/customers', events: ['customer.created'], description: 'CRM sync' },
  },
);
export type WebhookCreateBody = Static<typeof WebhookCreateBody>;

export const WebhookUpdateBody = Type.Object(
  {
    url: Type.Optional(url),
    events: Type.Optional(events),
    description: Type.Optional(description),
    enabled: Type.Optional(enabled),
  },
  { additionalProperties: false, description: 'The fields sent change; the others stay.', example: { enabled: false } },
);
export type WebhookUpdateBody = Static<typeof WebhookUpdateBody>;

export const WebhookList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(Webhook),
    total: Type.Integer({ minimum: 0 }),
  },
  { title: 'WebhookList', example: { object: 'list', data_ref: 'data', data: [webhookExample], total: 1 } },
);
export type WebhookList = Static<typeof WebhookList>;

export const WebhookDelivery = Type.Object(
  {
    id: Type.String({ example: 'whd_7k3buMvBsJuXiLRmdh1WZvZs' }),
    object: Type.Literal('webhook_delivery'),
    event_id: Nullable(Type.String({ description: 'The event sent (null on the entry that says the endpoint was disabled).' })),
    attempt: Type.Integer({ minimum: 0, description: 'Which attempt at this event (0: the endpoint was disabled).' }),
    status_code: Nullable(Type.Integer({ description: 'The status the endpoint answered; null when it did not.' })),
    error: Nullable(Type.String({ description: 'Why the attempt failed; null when it was answered 2xx.' })),
    duration_ms: Type.Integer({ minimum: 0 }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { title: 'WebhookDelivery' },
);
export type WebhookDelivery = Static<typeof WebhookDelivery>;

export const WebhookDeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    starting_after: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Cursor: the attempts logged before this one.' }),
    ),
  },
  { additionalProperties: false },
);
export type WebhookDeliveriesQuery = Static<typeof WebhookDeliveriesQuery>;

export const WebhookDeliveryList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(WebhookDelivery),
    has_more: Type.Boolean(),
    more_starting_after: Type.Optional(Type.String({ description: 'Pass as starting_after for the next page.' })),
  },
  {
    title: 'WebhookDeliveryList',
    example: {
      object: 'list',
      data_ref: 'data',
      data: [
        {
          id: 'whd_7k3buMvBsJuXiLRmdh1WZvZs',
          object: 'webhook_delivery',
          event_id: 'evcus_0c150c51730c6b60b1',
          attempt: 1,
          status_code: 200,
          error: null,
          duration_ms: 41,
          created_at: '2022-08-30T06:32:07.512Z',
        },
      ],
      has_more: false,
    },
  },
);
export type WebhookDeliveryList = Static<typeof WebhookDeliveryList>;

export const WebhookReplayBody = Type.Object(
  { starting_after: Type.String({ ...EventId, description: 'Every event of the feed after this one is delivered again.' }) },
  { additionalProperties: false, example: { starting_after: 'evcus_0c150c51730c6b60b1' } },
);
export type WebhookReplayBody = Static<typeof WebhookReplayBody>;
