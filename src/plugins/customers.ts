import fp from 'fastify-plugin';
import { createCustomerService, type CustomerService, type CustomerServiceOptions } from '../customers/service.js';
import { createCustomerRepository } from '../customers/repository/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    customers: CustomerService;
  }
}

export default fp<CustomerServiceOptions>(
  async (app, options) => {
    app.decorate('customers', createCustomerService(createCustomerRepository(app.db), options));
  },
  { name: 'customers', dependencies: ['database'] },
);
