import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { seedCustomers } from './support/seed.js';

const test = useTestApp();
const { api } = test;

/** The totals the API answers, next to a count of the rows themselves. */
async function totals(city: string) {
  const [all, inCity, counted] = await Promise.all([
    api.get('/v1/customers?limit=1').expect(200),
    api.get(`/v1/customers?limit=1&city=${encodeURIComponent(city)}`).expect(200),
    test.db.query<{ all: number; city: number }>(
      `SELECT count(*)::int AS all, (count(*) FILTER (WHERE address ->> 'city' = $1))::int AS city
       FROM customers WHERE deleted_at IS NULL`,
      [city],
    ),
  ]);
  return { answered: { all: all.body.total, city: inCity.body.total }, counted: counted.rows[0] };
}

describe('list totals kept by the counters', () => {
  it('stay exact through creates, upserts, moves, deletes, erasures and multi-row inserts', async () => {
    const city = unique('Counted City');
    const steps: Array<() => Promise<unknown>> = [
      () => api.post('/v1/customers', { source_id: `${city}-a`, address: { city } }).expect(200),
      () => api.post('/v1/customers', { source_id: `${city}-b`, address: { city } }).expect(200),
      () => api.post('/v1/customers', { source_id: `${city}-a`, name: 'upserted, same city' }).expect(200),
      () => api.put(`/v1/customers/${city}-b`, { address: { city: 'Elsewhere' } }).expect(200),
      () => api.put(`/v1/customers/${city}-b`, { address: { city } }).expect(200),
      () => api.put(`/v1/customers/${city}-b`, { address: null }).expect(200),
      () => api.delete(`/v1/customers/${city}-a`).expect(204),
      () =>
        seedCustomers(
          test.db,
          Array.from({ length: 40 }, () => ({ created_at: new Date().toISOString(), city })),
        ),
      async () => {
        const created = (await api.post('/v1/customers', { address: { city } }).expect(200)).body;
        await api.post(`/v1/customers/${created.id}/permanent-deletion`).expect(200);
      },
      async () => {
        const created = (await api.post('/v1/customers', { address: { city } }).expect(200)).body;
        await api.delete(`/v1/customers/${created.id}`).expect(204);
        await api.post(`/v1/customers/${created.id}/permanent-deletion`).expect(200);
      },
    ];
    for (const step of steps) {
      await step();
      const { answered, counted } = await totals(city);
      expect(answered).toEqual(counted);
    }
    expect((await totals(city)).answered.city).toBe(40);
  });

  it('stay exact under concurrent creates and deletes', async () => {
    const city = unique('Busy City');
    const created = await Promise.all(
      Array.from({ length: 60 }, () => api.post('/v1/customers', { address: { city } }).expect(200)),
    );
    await Promise.all(created.slice(0, 25).map((response) => api.delete(`/v1/customers/${response.body.id}`).expect(204)));
    const { answered, counted } = await totals(city);
    expect(answered).toEqual(counted);
    expect(answered.city).toBe(35);
  });
});
