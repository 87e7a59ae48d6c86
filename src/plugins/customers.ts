import fp from 'fastify-plugin';
import { createCustomerService, type CustomerService, type CustomerServiceOptions } from '../customers/service.js';
import { createCustomerRepository } from '../customers/repository/index.js';
import { createMetadataSchemaService, type MetadataSchemaService } from '../customers/metadata-schemas.js';
import { metadataSchemaStore } from '../customers/repository/metadata-schemas.js';
import { segmentStore } from '../customers/repository/segments.js';
import { createSegmentService, type SegmentService } from '../customers/segments.js';

declare module 'fastify' {
  interface FastifyInstance {
    customers: CustomerService;
    /** Static and auto-update segments of customers. */
    segments: SegmentService;
    /** The customer metadata schema: managed, read, and enforced on writes. */
    metadataSchemas: MetadataSchemaService;
  }
}

export default fp<CustomerServiceOptions & { projectId: string }>(
  async (app, { projectId, ...options }) => {
    const repository = createCustomerRepository(app.db);
    const metadataSchemas = createMetadataSchemaService(metadataSchemaStore(app.db), { projectId });
    const metadataRules = () => metadataSchemas.customerRules();
    const segments = createSegmentService(segmentStore(app.db), repository, metadataRules);
    app.decorate('segments', segments);
    app.decorate('metadataSchemas', metadataSchemas);
    app.decorate('customers', createCustomerService(repository, options, { segments, metadataRules }));
  },
  { name: 'customers', dependencies: ['database'] },
);
