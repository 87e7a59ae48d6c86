import fp from 'fastify-plugin';
import { createCustomerService, type CustomerService, type CustomerServiceOptions } from '../customers/service.js';
import { createCustomerRepository } from '../customers/repository/index.js';
import { segmentStore } from '../customers/repository/segments.js';
import { createSegmentService, type SegmentService } from '../customers/segments.js';

declare module 'fastify' {
  interface FastifyInstance {
    customers: CustomerService;
    /** Static and auto-update segments of customers. */
    segments: SegmentService;
  }
}

export default fp<CustomerServiceOptions>(
  async (app, options) => {
    const repository = createCustomerRepository(app.db);
    const segments = createSegmentService(segmentStore(app.db), repository);
    app.decorate('segments', segments);
    app.decorate('customers', createCustomerService(repository, options, segments));
  },
  { name: 'customers', dependencies: ['database'] },
);
