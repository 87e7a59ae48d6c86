import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { ANY_ASYNC_ACTION_ID, doneAction, finishedAction } from './support/async-actions.js';
import { ANY_TIMESTAMP, customerBody, errorBody, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;
const auth = { 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET };

/** What refused uploads could leave behind: actions and stored chunks. */
async function storedUploads() {
  const { rows } = await test.db.query(
    'SELECT (SELECT count(*)::int FROM async_actions) AS actions, (SELECT count(*)::int FROM async_action_file_chunks) AS chunks',
  );
  return rows[0];
}

/** POST /v1/customers/importCSV as curl -F does it: multipart/form-data with the file in `field`. */
const upload = (content: string | Buffer, field = 'file') =>
  test.raw().post('/v1/customers/importCSV').set(auth).attach(field, Buffer.from(content), 'customers.csv');

async function importCsv(content: string) {
  const accepted = await upload(content).expect(202);
  expect(accepted.body).toEqual({ async_action_id: ANY_ASYNC_ACTION_ID });
  return { accepted, action: await finishedAction(api, accepted.body.async_action_id) };
}

const importResult = (doneCount: number, failed: Array<{ source_id: string; row: number; reason: string }> = []) => ({
  message: `${doneCount} customer(s) imported successfully, ${failed.length} failed.`,
  done_count: doneCount,
  failed_count: failed.length,
  failed,
});

const noHeader = (problem: string) => invalidPayload(`The CSV file has no valid header row: ${problem}`);

describe('POST /v1/customers/importCSV', () => {
  it('fails a row holding a NUL character, which PostgreSQL cannot store, and imports the rest', async () => {
    const [kept, refused] = [unique('csv-kept'), unique('csv-nul')];
    const { action } = await importCsv(`Source_id,Name\n${refused},Nul\u0000Name\n${kept},Kept\n`);
    expect(action.result).toEqual(
      importResult(1, [
        { source_id: refused, row: 1, reason: 'The row contains a NUL character or a lone surrogate, which cannot be stored' },
      ]),
    );
    await api.get(`/v1/customers/${kept}`).expect(200);
  });

  it('keeps an integer past 2^53 exact, as text, where a number would lose digits', async () => {
    const sourceId = unique('csv-big');
    await importCsv(`Source_id,safe,big,negative\n${sourceId},9007199254740991,9007199254740993,-12345678901234567890\n`);
    expect((await api.get(`/v1/customers/${sourceId}`).expect(200)).body.metadata).toEqual({
      safe: 9007199254740991,
      big: '9007199254740993',
      negative: '-12345678901234567890',
    });
  });

  it('takes columns named like the methods of an object for metadata keys, by own-property lookup', async () => {
    const sourceId = unique('csv-proto');
    const { action } = await importCsv(`Source_id,constructor,toString,hasOwnProperty,valueOf\n${sourceId},a,b,3,true\n`);
    expect(action.result).toEqual(importResult(1));
    expect((await api.get(`/v1/customers/${sourceId}`).expect(200)).body.metadata).toEqual({
      constructor: 'a',
      toString: 'b',
      hasOwnProperty: 3,
      valueOf: true,
    });
  });

  it('maps the standard columns, in any case and either spelling, and puts the others in metadata, typed', async () => {
    const [first, second] = [unique('csv'), unique('csv')];
    const { accepted, action } = await importCsv(
      [
        'SOURCE_ID,name,Email,Phone,Birthdate,Description,Address_Line_1,address_line_2,City,Address_State,country,Postal_Code,vip,score,ratio,zip,note',
        `${first},Ann Lee,ann@example.com,+48 1,1990-05-06,First one,1 Main St,Apt 2,Oslo,OS,Norway,0150,true,42,-1.5e2,007,hello`,
        `${second},Bo,,,,,,,,,,,FALSE,0,,,`,
      ].join('\n'),
    );
    expect(action).toEqual(
      doneAction('CUSTOMERS.IMPORT_CSV', importResult(2), {
        id: accepted.body.async_action_id,
        request_id: accepted.headers['x-request-id'],
      }),
    );
    expectReferenceSchema('CustomersImportCsvCreateResponseBody', accepted.body);
    expectReferenceSchema('17_res_obj_get_async_action_result_customers_import_csv', action.result, 'async-actions');

    expect((await api.get(`/v1/customers/${first}`).expect(200)).body).toEqual(
      customerBody({
        source_id: first,
        name: 'Ann Lee',
        email: 'ann@example.com',
        phone: '+48 1',
        birthdate: '1990-05-06',
        description: 'First one',
        address: { line_1: '1 Main St', line_2: 'Apt 2', city: 'Oslo', state: 'OS', country: 'Norway', postal_code: '0150' },
        metadata: { vip: true, score: 42, ratio: -150, zip: '007', note: 'hello' },
      }),
    );
    expect((await api.get(`/v1/customers/${second}`).expect(200)).body).toEqual(
      customerBody({ source_id: second, name: 'Bo', metadata: { vip: false, score: 0 } }),
    );
  });

  it('overwrites the profile of an existing source_id: cells sent replace, empty cells leave fields as they are', async () => {
    const sourceId = unique('existing');
    const created = (
      await api
        .post('/v1/customers', {
          source_id: sourceId,
          name: 'Old',
          phone: '1',
          address: { city: 'Rome', state: 'RM' },
          metadata: { a: 1 },
        })
        .expect(200)
    ).body;
    const { action } = await importCsv(`Source_id,Name,Phone,Address_City,plan\n${sourceId},New,,Milan,pro\n`);
    expect(action.result).toEqual(importResult(1));
    expect((await api.get(`/v1/customers/${sourceId}`).expect(200)).body).toEqual(
      customerBody(
        { source_id: sourceId, name: 'New', phone: '1', address: { city: 'Milan' }, metadata: { plan: 'pro' } },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
  });

  it('updates the customer of the Id column, and fails a row whose Id names none', async () => {
    const created = (await api.post('/v1/customers', { name: 'By id' }).expect(200)).body;
    const { action } = await importCsv(`Id,Name,Email\n${created.id},Renamed,r@example.com\ncust_doesNotExist000000000,Ghost,\n`);
    expect(action.result).toEqual(
      importResult(1, [{ source_id: '', row: 2, reason: 'Cannot find customer with id cust_doesNotExist000000000' }]),
    );
    expect((await api.get(`/v1/customers/${created.id}`).expect(200)).body).toMatchObject({
      name: 'Renamed',
      email: 'r@example.com',
    });
  });

  it('reports bad rows with their number, source_id and reason, and imports the rest', async () => {
    const ids = Array.from({ length: 6 }, () => unique('row')) as [string, string, string, string, string, string];
    const { action } = await importCsv(
      [
        'Source_id,Email,Birthdate',
        `${ids[0]},ok@example.com,2000-01-01`,
        `${ids[1]},not-an-email,`,
        '',
        `${ids[2]},,2021-02-30`,
        `${ids[3]},a@example.com`,
        `${ids[4]},b@example.com,2000-01-01,extra`,
        `"${ids[5]}`,
        'never,read,',
      ].join('\r\n'),
    );
    expect(action.result).toEqual(
      importResult(1, [
        { source_id: ids[1], row: 2, reason: 'Property .email must be a valid email address' },
        { source_id: ids[2], row: 3, reason: 'Property .birthdate must be a valid date in the format YYYY-MM-DD' },
        { source_id: ids[3], row: 4, reason: 'The row has 2 fields where the header row has 3' },
        { source_id: ids[4], row: 5, reason: 'The row has 4 fields where the header row has 3' },
        {
          source_id: '',
          row: 6,
          reason:
            'The row cannot be read as CSV: a quote opened in it is never closed, so the rest of the file is part of this row',
        },
      ]),
    );
    await api.get(`/v1/customers/${ids[0]}`).expect(200);
  });

  it('creates a customer without source_id from a row without one, and strips a byte order mark', async () => {
    const name = unique('anonymous');
    const { action } = await importCsv(`\ufeffName,Source_id\n${name},\n`);
    expect(action.result).toEqual(importResult(1));
    const listed = await api.get(`/v1/customers?name=${name}`).expect(200);
    expect(listed.body.customers).toEqual([customerBody({ name })]);
  });

  it('finishes at once a file with a header row and no data', async () => {
    const { action } = await importCsv('Source_id,Name\n');
    expect(action.result).toEqual(importResult(0));
  });

  it('takes a file over the 1 MiB limit of the other routes, stored and read in chunks', async () => {
    const prefix = unique('big');
    const rows = Array.from({ length: 12_000 }, (_, index) => `${prefix}-${index},${'n'.repeat(100)},${index}`);
    const content = `Source_id,Name,rank\n${rows.join('\n')}\n`;
    expect(Buffer.byteLength(content)).toBeGreaterThan(1024 * 1024);
    const { action } = await importCsv(content);
    expect(action.result).toEqual(importResult(12_000));
    expect((await api.get(`/v1/customers/${prefix}-11999`).expect(200)).body.metadata).toEqual({ rank: 11999 });
  });

  it.each([
    ['an empty file', '', invalidPayload('The CSV file is empty')],
    ['a file of blank lines', '\n\n\n', invalidPayload('The CSV file has no header row')],
    [
      'a first row of data instead of names',
      'src-1,Bob Smith,bob@example.com\n',
      noHeader(
        'the first row must name the columns, and none of "src-1", "Bob Smith", "bob@example.com" is a customer field (such as Source_id, Name, Email)',
      ),
    ],
    ['a column without a name', 'Source_id,,Name\n', noHeader('column 2 has no name')],
    [
      'both spellings of one column',
      'Source_id,City,Address_City\n',
      noHeader('the columns "City" and "Address_City" both set address.city'),
    ],
    ['a column twice', 'source_id,Source_ID\n', noHeader('the columns "source_id" and "Source_ID" both set source_id')],
    [
      'a column named __proto__, which JSON bodies cannot carry either',
      'Source_id,__proto__\n',
      noHeader('the column name "__proto__" cannot be a metadata key (JSON bodies cannot carry it either)'),
    ],
    [
      'a metadata column name over 100 characters',
      `Source_id,${'k'.repeat(101)}\n`,
      noHeader(`the column name "${'k'.repeat(40)}…" is longer than 100 characters (metadata keys cannot be)`),
    ],
  ])('answers 400 to %s, and keeps nothing of it', async (_case, content, body) => {
    const before = await storedUploads();
    const response = await upload(content).expect(400);
    expect(response.body).toEqual(body);
    expect(await storedUploads()).toEqual(before);
  });

  it('answers 400 when the file is not in the field `file`, or there is no file', async () => {
    const missing = invalidPayload('The request must carry the CSV file in the multipart/form-data field `file`');
    expect((await upload('Source_id\nx\n', 'upload').expect(400)).body).toEqual(missing);
    expect((await test.raw().post('/v1/customers/importCSV').set(auth).field('file', 'Source_id').expect(400)).body).toEqual(
      missing,
    );
    expect((await test.raw().post('/v1/customers/importCSV').set(auth).expect(400)).body).toEqual(missing);
  });

  it('answers 400 to a multipart body without a boundary, or one that breaks off, and keeps nothing of it', async () => {
    const before = await storedUploads();
    const post = (contentType: string, body: string) =>
      test.raw().post('/v1/customers/importCSV').set(auth).set('Content-Type', contentType).send(body).expect(400);
    expect((await post('multipart/form-data', 'Source_id\nx\n')).body).toEqual(
      invalidPayload('The multipart/form-data body has no boundary in its Content-Type'),
    );
    const brokenOff = '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nSource_id\r\nabc\r\n';
    expect((await post('multipart/form-data; boundary=xyz', brokenOff)).body).toEqual(
      invalidPayload('The multipart/form-data body is malformed or ends before the file does'),
    );
    expect(await storedUploads()).toEqual(before);
  });

  it('answers 413 in the Error shape to a request over 10 MiB, before reading it', async () => {
    const before = await storedUploads();
    const row = `${'x'.repeat(99)}\n`;
    const response = await upload(`Source_id\n${row.repeat(110_000)}`).expect(413);
    expect(response.body).toEqual(
      errorBody(413, 'payload_too_large', 'Payload too large', { details: 'Request body is too large' }),
    );
    expect(await storedUploads()).toEqual(before);
  });

  it('answers 413 to a file over 10 MiB sent in chunks without a length, and keeps nothing of it', async () => {
    await test.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = test.app.server.address() as AddressInfo;
    const before = await storedUploads();
    const boundary = 'chunked-upload-boundary';
    const parts = [
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nSource_id\n`,
      ...Array.from({ length: 110 }, () => `${'x'.repeat(99)}\n`.repeat(1000)),
      `\r\n--${boundary}--\r\n`,
    ];
    const response = await fetch(`http://127.0.0.1:${port}/v1/customers/importCSV`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body: Readable.toWeb(Readable.from(parts.map((part) => Buffer.from(part)))) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(
      errorBody(413, 'payload_too_large', 'Payload too large', { details: 'The file is larger than 10 MiB' }),
    );
    expect(await storedUploads()).toEqual(before);
  });

  it('answers 413 naming the limit to more than 10 fields besides the file, and keeps nothing of it', async () => {
    const before = await storedUploads();
    for (const count of [11, 30]) {
      let request = test.raw().post('/v1/customers/importCSV').set(auth);
      for (let index = 0; index < count; index += 1) request = request.field(`note${index}`, 'x');
      const response = await request.attach('file', Buffer.from('Source_id\nx\n'), 'customers.csv').expect(413);
      expect(response.body).toEqual(
        errorBody(413, 'payload_too_large', 'Payload too large', {
          details: 'The multipart/form-data body has more than 10 fields besides the file',
        }),
      );
    }
    expect(await storedUploads()).toEqual(before);

    let allowed = test.raw().post('/v1/customers/importCSV').set(auth);
    for (let index = 0; index < 10; index += 1) allowed = allowed.field(`note${index}`, 'x');
    await allowed.attach('file', Buffer.from(`Source_id\n${unique('fields')}\n`), 'customers.csv').expect(202);
  });

  it('answers 202 once the file is read, with fields after it still to come, and closes the connection', async () => {
    await test.app.listen({ host: '127.0.0.1', port: 0 }).catch(() => undefined);
    const { port } = test.app.server.address() as AddressInfo;
    const boundary = 'fields-after-the-file';
    const file = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nSource_id\n${unique('after')}\n`;
    const field = `\r\n--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nstill coming\r\n--${boundary}--\r\n`;
    // The body announces the field, but only its first bytes are sent: the rest never comes.
    const sent = `${file}${field.slice(0, field.indexOf('still'))}`;
    const head =
      `POST /v1/customers/importCSV HTTP/1.1\r\nHost: x\r\nX-App-Id: ${APP_ID}\r\nX-App-Token: ${APP_SECRET}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${Buffer.byteLength(file + field)}\r\n\r\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connect(port, '127.0.0.1', () => socket.write(head + sent));
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    const [statusLine, ...rest] = answer.split('\r\n');
    expect(statusLine).toBe('HTTP/1.1 202 Accepted');
    expect(rest).toContain('connection: close');
    const action = await finishedAction(api, JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).async_action_id);
    expect(action.status).toBe('DONE');
  });

  it('answers 415 to a JSON body', async () => {
    const response = await api.post('/v1/customers/importCSV', { file: 'Source_id\nx' }).expect(415);
    expect(response.body).toEqual(
      errorBody(415, 'unsupported_media_type', 'Unsupported media type', { details: 'Unsupported Media Type' }),
    );
  });
});
