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
}

export default fp<CustomersOptions>(
  async (app, { publicUrl }) => {
    app.decorate('customers', createCustomerService(createCustomerStore(app.db), { publicUrl }));
  },
  { name: 'customers', dependencies: ['database'] },
);
