import fp from 'fastify-plugin';
import type { WebhooksConfig } from '../config.js';
import { createCustomerRepository } from '../customers/repository/index.js';
import { createSender } from '../webhooks/sender.js';
import { createWebhookService, type WebhookService } from '../webhooks/service.js';
import { createWebhookStore } from '../webhooks/store.js';
import { startDeliveryWorker, type DeliveryWorker } from '../webhooks/worker.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Webhook endpoints and their delivery logs. */
    webhooks: WebhookService;
  }
}

export interface WebhooksOptions {
  webhooks: WebhooksConfig;
  /** Whether this process delivers webhooks (with the job workers: WORKER_ENABLED, and `npm run worker`). */
  worker: boolean;
}

/**
 * Webhook endpoints, and their deliveries: once the app is ready (after migrations), this process
 * delivers alongside any others; closing the app lets the attempts in flight end and be recorded.
 */
export default fp<WebhooksOptions>(
  async (app, { webhooks: config, worker }) => {
    const store = createWebhookStore(app.db);
    const repository = createCustomerRepository(app.db);
    app.decorate('webhooks', createWebhookService({ store, eventPosition: repository.eventPosition, config }));

    let deliveries: DeliveryWorker | undefined;
    app.addHook('onReady', async () => {
      if (!worker) return;
      deliveries = startDeliveryWorker({
        store,
        sender: createSender(config),
        sequence: repository.sequence,
        present: app.customers.presentFeedEvent,
        config,
        log: app.log,
      });
    });
    app.addHook('onClose', async () => {
      await deliveries?.stop();
    });
  },
  { name: 'webhooks', dependencies: ['database', 'customers'] },
);
