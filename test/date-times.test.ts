import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { invalidQuery, unique } from './support/customers.js';
import { seedCustomers } from './support/seed.js';

const test = useTestApp();
const { api } = test;

/** One customer created at the last millisecond of a second, alone under its name. */
const CREATED_AT = '2026-11-30T10:00:59.999Z';
let name: string;
let id: string;

beforeAll(async () => {
  name = unique('date-times');
  id = (await seedCustomers(test.db, [{ name, created_at: CREATED_AT }]))[0]!;
});

/** The ids the list answers for the customer's name and one more query parameter. */
async function listed(parameter: string, value: string): Promise<string[]> {
  const response = await api.get(`/v1/customers?name=${name}&${parameter}=${encodeURIComponent(value)}`).expect(200);
  return (response.body as { customers: Array<{ id: string }> }).customers.map((customer) => customer.id);
}

describe('date-time query parameters', () => {
  describe('accept every zone spelling and 0 to 9 fractional digits', () => {
    // Each names 10:00:59.998Z, a millisecond before the customer: created after it.
    it.each([
      '2026-11-30T10:00:59.998Z',
      '2026-11-30T10:00:59.998z',
      '2026-11-30T12:00:59.998+02:00',
      '2026-11-30T12:00:59.998+0200',
      '2026-11-30T12:00:59.998+02',
      '2026-11-30T04:30:59.998-0530',
      '2026-11-30T10:00:59.998000+0000',
      '2026-11-30T10:00:59.998999999Z',
      '2026-11-30T10:00:59.9981-00:00',
    ])('created_at[after]=%s', async (value) => {
      expect(await listed('created_at[after]', value)).toEqual([id]);
    });

    // Each names 10:01:00Z or later: the customer was created before it.
    it.each(['2026-11-30T10:01Z', '2026-11-30T10:01:00Z', '2026-11-30T10:01:00.0+00', '2026-11-30T11:01+0100', '2026-12-01'])(
      'created_at[before]=%s',
      async (value) => {
        expect(await listed('created_at[before]', value)).toEqual([id]);
      },
    );

    it('takes a date alone for midnight UTC', async () => {
      expect(await listed('created_at[after]', '2026-11-30')).toEqual([id]);
      expect(await listed('created_at[after]', '2026-12-01')).toEqual([]);
    });
  });

  describe('compare at the stored millisecond, truncating the digits beyond it', () => {
    it('reads .9995 as .999: not after the customer, and not rounded into the next second', async () => {
      // Rounded, 59.9995 would be 10:01:00.000, after the customer: it would be listed.
      expect(await listed('created_at[before]', '2026-11-30T10:00:59.9995Z')).toEqual([]);
      expect(await listed('created_at[after]', '2026-11-30T10:00:59.9995Z')).toEqual([]);
    });

    it('reads .9985 as .998: the customer is after it', async () => {
      // Rounded, 59.9985 would be 59.999, the customer's own time: it would not be listed.
      expect(await listed('created_at[after]', '2026-11-30T10:00:59.9985+00:00')).toEqual([id]);
    });
  });

  it('work in every date-time parameter: a cursor, an activity range and the async actions list', async () => {
    const customer = (await api.post('/v1/customers', { name: unique('date-times-activity') }).expect(200)).body;
    const startingAfter = '2099-01-01T00:00:00.000000+0000';
    expect(
      (await api.get(`/v1/customers?name=${name}&starting_after=${encodeURIComponent(startingAfter)}`).expect(200)).body,
    ).toMatchObject({ customers: [{ id }] });
    const activity = await api
      .get(
        `/v1/customers/${customer.id}/activity?start_date=${encodeURIComponent('2000-01-01T00:00:00.5+0000')}&end_date=${encodeURIComponent('2099-01-01T00:00:00+01')}`,
      )
      .expect(200);
    expect(activity.body.data).toHaveLength(1);
    await api
      .get(`/v1/customers/${customer.id}/activities?starting_after=${encodeURIComponent('2000-01-01T00:00:00+0000')}`)
      .expect(200);
    await api.get(`/v1/async-actions?end_date=${encodeURIComponent('2099-01-01T00:00:00.123456+0530')}`).expect(200);
  });

  describe('refuse anything else, naming the parameter', () => {
    it.each([
      '2026-11-30T10:00:59+000',
      '2026-11-30T10:00:59+2400',
      '2026-11-30T10:00:59+05:3',
      '2026-11-30T10:00:59+05:',
      '2026-11-30T10:00:59.1234567891Z',
      '2026-11-30T10:00:59.Z',
      '2026-11-30 10:00:59Z',
      '2026-11-30T10:00:59',
      '2026-11-31T10:00:59Z',
      '0000-12-31T23:59:59Z',
      '2026-11-30T10:00:59+00:00:00',
    ])('created_at[after]=%s', async (value) => {
      const response = await api.get(`/v1/customers?created_at[after]=${encodeURIComponent(value)}`).expect(400);
      expect(response.body).toEqual(
        invalidQuery('Property .created_at[after] cannot be recognized as a ISO-8601 compliant date'),
      );
    });
  });
});
