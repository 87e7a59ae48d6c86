import fp from 'fastify-plugin';
import { createCustomerService, type CustomerService } from '../customers/service.js';
import { createCustomerStore } from '../customers/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    customers: CustomerService;
  }
}

export interface CustomersOptions {
  publicUrl: string;
  cockpitSecret: string;
}

export default fp<CustomersOptions>(
  async (app, { publicUrl, cockpitSecret }) => {
    app.decorate('customers', createCustomerService(createCustomerStore(app.db), { publicUrl, cockpitSecret }));
  },
  { name: 'customers', dependencies: ['database'] },
);
