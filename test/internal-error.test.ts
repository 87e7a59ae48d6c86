import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();

describe('an unexpected failure', () => {
  it('answers 500 internal_error with the request id and nothing of the internals', async () => {
    const admin = new pg.Client({ connectionString: test.databaseUrl });
    await admin.connect();
    await admin.query('ALTER TABLE customers RENAME TO customers_gone');
    try {
      const response = await test.api.get('/v1/customers/cust_anything').expect(500);
      expect(response.body).toEqual(errorBody(500, 'internal_error', 'Internal server error'));
      expect(response.body.request_id).toBe(response.headers['x-request-id']);
      expect(response.text).not.toMatch(/customers|relation|SELECT|stack|at /i);
      expectReferenceSchema('Error', response.body);
    } finally {
      await admin.query('ALTER TABLE customers_gone RENAME TO customers');
      await admin.end();
    }
    await test.api.get('/v1/customers?limit=1').expect(200);
  });
});
