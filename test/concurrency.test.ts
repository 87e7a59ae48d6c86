import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';

const test = useTestApp();

describe('concurrent writes', () => {
  it('100 parallel creates with one source_id make exactly one customer, every answer 200', async () => {
    const sourceId = unique('race');
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        test.api.post('/v1/customers', { source_id: sourceId, metadata: { writer: index } }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(100).fill(200));
    expect(new Set(responses.map((response) => response.body.id)).size).toBe(1);
    const { rows } = await test.db.query('SELECT count(*)::int AS count FROM customers WHERE source_id = $1', [sourceId]);
    expect(rows).toEqual([{ count: 1 }]);
  });

  it('parallel PUTs of different fields lose none of them', async () => {
    const created = (await test.api.post('/v1/customers', { source_id: unique('fields') }).expect(200)).body;
    const fields = {
      name: 'N',
      email: 'e@example.com',
      phone: '1',
      description: 'D',
      birthdate: '2000-01-01',
      address: { city: 'C' },
    };
    const responses = await Promise.all(
      Object.entries(fields).map(([field, value]) => test.api.put(`/v1/customers/${created.id}`, { [field]: value })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(6).fill(200));
    const final = (await test.api.get(`/v1/customers/${created.id}`).expect(200)).body;
    expect(final).toMatchObject(fields);
  });
});
