import fp from 'fastify-plugin';
import { createCustomerService, type CustomerService, type CustomerServiceOptions } from '../customers/service.js';
import { createCustomerStore } from '../customers/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    customers: CustomerService;
  }
}

export default fp<CustomerServiceOptions>(
  async (app, options) => {
    app.decorate('customers', createCustomerService(createCustomerStore(app.db), options));
  },
  { name: 'customers', dependencies: ['database'] },
);
