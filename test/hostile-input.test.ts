import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startApi, txBody, type ApiServer, type Reply } from './helpers/api-server.js';

/**
 * Issue 13 §4, hostile input: card numbers in every stored field and every formatting, numbers
 * JSON cannot carry exactly, strings that are not well-formed Unicode, prototype keys, and epayco
 * credentials on a standard merchant. Each refusal names the field and stores nothing.
 */

const PAN = '4111111111111111';

function assertRefused(r: Reply, status: number, code: string, field: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body?.error?.code, code, r.text);
  assert.equal(r.body.error.field, field, r.text);
  assert.ok(r.body.error.message.includes(field), `the message names ${field}: ${r.body.error.message}`);
}

/** A card-number refusal never repeats the number it refused. */
function assertNoEcho(r: Reply): void {
  assert.equal(/4111|٤١١١|４１１１/.test(r.text), false, r.text);
}

describe('card numbers are refused in every stored field', () => {
  let s: ApiServer;
  let m: { id: string; apiKey: string };
  before(async () => {
    s = await startApi({ CONFIRMA_MASTER_KEY: 'ab'.repeat(32) });
    m = await s.merchant();
  });
  after(() => s.close());

  const formats: Array<[string, string]> = [
    ['dots', '4111.1111.1111.1111'],
    ['underscores', '4111_1111_1111_1111'],
    ['slashes', '4111/1111/1111/1111'],
    ['no-break spaces', '4111\u00a01111\u00a01111\u00a01111'],
    ['zero-width spaces', '4111\u200b1111\u200b1111\u200b1111'],
    ['tabs', '4111\t1111\t1111\t1111'],
    ['fullwidth digits', '４１１１１１１１１１１１１１１１'],
    ['Arabic-Indic digits', '٤١١١١١١١١١١١١١١١'],
    ['a year in front', `paid 2024 ${PAN}`],
  ];

  const transactionCases: Array<[string, Record<string, unknown>, string]> = [
    ['reference', { reference: PAN }, 'reference'],
    ['reference with dashes', { reference: '4111-1111-1111-1111' }, 'reference'],
    ['the transaction id', { id: PAN }, 'id'],
    ['a metadata key', { metadata: { [PAN]: 'x' } }, 'metadata'],
    ['a metadata key written with dots', { metadata: { '4111.1111.1111.1111': 1 } }, 'metadata'],
    ['a metadata number', { metadata: { n: 4111111111111111 } }, 'metadata.n'],
    ['customer.name in fullwidth digits', { customer: { name: 'Ana ４１１１１１１１１１１１１１１１' } }, 'customer.name'],
    ...formats.map(([name, text]): [string, Record<string, unknown>, string] => [
      `a metadata value with ${name}`,
      { metadata: { note: text } },
      'metadata.note',
    ]),
  ];
  transactionCases.forEach(([name, over, field], i) => {
    it(`POST /v1/transactions refuses one in ${name}, naming ${field}`, async () => {
      const id = typeof over.id === 'string' ? over.id : `pan-${i}`;
      const r = await s.call('POST', '/v1/transactions', { key: m.apiKey, body: txBody(m.id, { id, ...over }) });
      assertRefused(r, 400, 'card_number_refused', field);
      assertNoEcho(r);
      assert.equal(await s.store.getTransaction(m.id, id), undefined);
    });
  });

  it('refuses one in the Idempotency-Key header', async () => {
    const r = await s.call('POST', '/v1/transactions', {
      key: m.apiKey,
      body: txBody(m.id, { id: 'pan-idem' }),
      headers: { 'idempotency-key': '4111-1111-1111-1111' },
    });
    assertRefused(r, 400, 'card_number_refused', 'Idempotency-Key');
    assertNoEcho(r);
    assert.equal(await s.store.getTransaction(m.id, 'pan-idem'), undefined);
  });

  it("refuses one in a batch item's idempotencyKey and reference, item by item", async () => {
    const r = await s.call('POST', '/v1/transactions/batch', {
      key: m.apiKey,
      body: {
        transactions: [
          { ...txBody(m.id, { id: 'pan-b0' }), idempotencyKey: `k ${PAN}` },
          txBody(m.id, { id: 'pan-b1', reference: '4111 1111 1111 1111' }),
          txBody(m.id, { id: 'pan-b2' }),
        ],
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.body.results.map((x: any) => (x.ok ? 'ok' : `${x.error.code} ${x.error.field}`)),
      ['card_number_refused transactions.0.idempotencyKey', 'card_number_refused transactions.1.reference', 'ok'],
    );
    assertNoEcho(r);
    assert.equal(await s.store.getTransaction(m.id, 'pan-b0'), undefined);
    assert.equal(await s.store.getTransaction(m.id, 'pan-b1'), undefined);
  });

  const merchantCases: Array<[string, Record<string, unknown>, string]> = [
    ['the name', { name: `Shop ${PAN}` }, 'name'],
    ['the URL path', { url: `https://shop.example/confirm/${PAN}` }, 'url'],
    ['the URL query', { url: 'https://shop.example/confirm?card=4111 1111 1111 1111'.replace(/ /g, '%20') }, 'url'],
    [
      'the URL query, percent-encoded digits',
      { url: `https://shop.example/c?x=${[...PAN].map((d) => `%3${d}`).join('')}` },
      'url',
    ],
    ['the URL query, + for spaces', { url: 'https://shop.example/c?card=4111+1111+1111+1111' }, 'url'],
    [
      'the URL behind a malformed escape',
      { url: `https://shop.example/c?a=%zz&b=${[...PAN].map((d) => `%3${d}`).join('')}` },
      'url',
    ],
    ['the epayco custId', { format: 'epayco', epayco: { custId: PAN, pKey: 'k' } }, 'epayco.custId'],
  ];
  for (const [name, over, field] of merchantCases) {
    it(`POST /v1/merchants refuses one in ${name}`, async () => {
      const before = (await s.call('GET', '/v1/merchants')).body.data.length;
      const r = await s.call('POST', '/v1/merchants', { body: { name: 'Shop', url: 'https://shop.example/c', ...over } });
      assertRefused(r, 400, 'card_number_refused', field);
      assertNoEcho(r);
      assert.equal((await s.call('GET', '/v1/merchants')).body.data.length, before);
    });
  }

  it('PATCH /v1/merchants/:id refuses one in the name and the URL, and changes nothing', async () => {
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${m.id}`, { body: { name: '4111-1111-1111-1111' } }),
      400,
      'card_number_refused',
      'name',
    );
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${m.id}`, { body: { url: `http://127.0.0.1:9/${PAN}` } }),
      400,
      'card_number_refused',
      'url',
    );
    const stored = await s.store.getMerchant(m.id);
    assert.equal(stored?.name, 'Shop');
    assert.equal(stored?.url, 'http://127.0.0.1:9/confirm');
  });

  it("POST /v1/keys refuses one in the key's name (copied into the audit log)", async () => {
    const before = (await s.call('GET', '/v1/keys')).body.data.length;
    const r = await s.call('POST', '/v1/keys', { body: { merchantId: m.id, name: `ci ${PAN}` } });
    assertRefused(r, 400, 'card_number_refused', 'name');
    assert.equal((await s.call('GET', '/v1/keys')).body.data.length, before);
    assert.equal(JSON.stringify((await s.call('GET', '/v1/audit')).body).includes('4111'), false);
  });

  it('does not keep an X-Request-Id that reads as a card number (it is in every log line)', async () => {
    const kept = await s.call('GET', '/healthz', { headers: { 'x-request-id': 'req-123.abc' } });
    assert.equal(kept.headers.get('x-request-id'), 'req-123.abc');
    const replaced = await s.call('GET', '/healthz', { headers: { 'x-request-id': `4111-1111-1111-1111` } });
    assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('does not repeat an unknown path holding a card number', async () => {
    const r = await s.call('GET', `/v1/cards/${PAN}`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
    assertNoEcho(r);
  });

  it('still accepts honest values full of digits', async () => {
    const r = await s.call('POST', '/v1/transactions', {
      key: m.apiKey,
      body: txBody(m.id, {
        id: 'honest-1',
        reference: 'order-2024-000123',
        metadata: {
          when: '2024-01-15 12:30:45',
          period: '2024-01-01/2024-01-03',
          uuid: '123e4567-e89b-12d3-a456-426614174000',
          n: 12345,
        },
      }),
    });
    assert.equal(r.status, 201, r.text);
  });
});

describe('confirma keys create --name', () => {
  it('refuses a card number in the name and creates no key', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'confirma-keys-'));
    try {
      const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
      const db = path.join(dir, 'k.db');
      const run = (...args: string[]): { status: number; out: string } => {
        try {
          return {
            status: 0,
            out: execFileSync(process.execPath, [main, 'keys', ...args, '--db', db], {
              encoding: 'utf8',
              stdio: 'pipe',
              env: { ...process.env, CONFIRMA_LOG_LEVEL: 'silent' },
            }),
          };
        } catch (err) {
          const e = err as { status: number; stderr: string };
          return { status: e.status, out: e.stderr };
        }
      };
      const refused = run('create', '--name', '4111 1111 1111 1111');
      assert.equal(refused.status, 2, refused.out);
      assert.match(refused.out, /--name must not contain a card number/);
      assert.equal(refused.out.includes('4111'), false);
      assert.equal(run('list').out, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metadata numbers JSON cannot carry exactly', () => {
  let s: ApiServer;
  let merchantId: string;
  before(async () => {
    s = await startApi();
    merchantId = (await s.merchant()).id;
  });
  after(() => s.close());

  /** The body as text: JSON.stringify of a JS number would already be rounded. */
  const raw = (id: string, number: string): string =>
    `{"id":"${id}","merchantId":"${merchantId}","reference":"r","amount":"1","currency":"COP","status":"pending","metadata":{"big":${number}}}`;

  it('refuses a 19-digit number instead of storing it rounded, telling the client to send a string', async () => {
    for (const [i, n] of ['1234567890123456789', '9007199254740993', '-9007199254740992', '1e300'].entries()) {
      const r = await s.call('POST', '/v1/transactions', { body: raw(`big-${i}`, n) });
      assertRefused(r, 400, 'invalid_field', 'metadata.big');
      assert.match(r.body.error.message, /as a string/);
      assert.equal(await s.store.getTransaction(merchantId, `big-${i}`), undefined);
    }
  });

  it('stores the largest safe integer and fractions exactly', async () => {
    assert.equal((await s.call('POST', '/v1/transactions', { body: raw('safe', '9007199254740991') })).status, 201);
    assert.equal((await s.store.getTransaction(merchantId, 'safe'))?.metadata?.big, 9007199254740991);
    assert.equal((await s.call('POST', '/v1/transactions', { body: raw('frac', '-12.5') })).status, 201);
  });
});

describe('strings that are not well-formed Unicode, and U+0000', () => {
  let s: ApiServer;
  let merchantId: string;
  before(async () => {
    s = await startApi();
    merchantId = (await s.merchant()).id;
  });
  after(() => s.close());

  /** A transaction body as JSON text, so escapes such as \ud800 reach the server as written. */
  const rawTx = (id: string, extra: string): string =>
    `{"id":"${id}","merchantId":"${merchantId}","amount":"1","currency":"COP","status":"pending",${extra}}`;

  it('refuses a lone surrogate in reference, naming it, and the same request retried is refused again (not 409)', async () => {
    const body = rawTx('lone-1', '"reference":"a\\ud800b"');
    for (let i = 0; i < 2; i++) {
      const r = await s.call('POST', '/v1/transactions', { body, headers: { 'idempotency-key': 'lone-1' } });
      assertRefused(r, 400, 'invalid_encoding', 'reference');
    }
    assert.equal(await s.store.getTransaction(merchantId, 'lone-1'), undefined);
  });

  const cases: Array<[string, string, string]> = [
    ['a metadata value', '"reference":"r","metadata":{"note":"x\\udfff"}', 'metadata.note'],
    ['a metadata key', '"reference":"r","metadata":{"k\\udc00":1}', 'metadata.k\ufffd'],
    ['customer.name', '"reference":"r","customer":{"name":"Ana \\ud83d"}', 'customer.name'],
    ['reference, U+0000', '"reference":"a\\u0000b"', 'reference'],
    ['a metadata value, U+0000', '"reference":"r","metadata":{"note":"\\u0000"}', 'metadata.note'],
  ];
  cases.forEach(([name, extra, field], i) => {
    it(`refuses ${name} with invalid_encoding naming ${field}`, async () => {
      const r = await s.call('POST', '/v1/transactions', { body: rawTx(`enc-${i}`, extra) });
      assertRefused(r, 400, 'invalid_encoding', field);
      assert.equal(await s.store.getTransaction(merchantId, `enc-${i}`), undefined);
    });
  });

  it('refuses them in merchant and key bodies too', async () => {
    assertRefused(
      await s.call('POST', '/v1/merchants', { body: '{"name":"Shop\\udbff","url":"https://shop.example/c"}' }),
      400,
      'invalid_encoding',
      'name',
    );
    assertRefused(
      await s.call('POST', '/v1/keys', { body: `{"merchantId":"${merchantId}","name":"a\\u0000"}` }),
      400,
      'invalid_encoding',
      'name',
    );
    assert.equal((await s.call('GET', '/v1/merchants')).body.data.length, 1);
  });

  it('refuses a bad item of a batch in its own result and stores the others', async () => {
    const good = JSON.stringify(txBody(merchantId, { id: 'batch-good' }));
    const body = `{"transactions":[${good},${rawTx('batch-lone', '"reference":"\\ud800"')},${rawTx('batch-nul', '"reference":"r","metadata":{"a\\u0000":1}')}]}`;
    const r = await s.call('POST', '/v1/transactions/batch', { body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.body.results.map((x: any) => (x.ok ? 'ok' : `${x.error.code} ${x.error.field}`)),
      ['ok', 'invalid_encoding transactions.1.reference', 'invalid_encoding transactions.2.metadata.a\\u0000'],
    );
    assert.ok(await s.store.getTransaction(merchantId, 'batch-good'));
    assert.equal(await s.store.getTransaction(merchantId, 'batch-lone'), undefined);
  });

  it('refuses U+0000 in a path parameter and in a query parameter (PostgreSQL cannot look them up)', async () => {
    assertRefused(await s.call('GET', '/v1/transactions/a%00b'), 400, 'invalid_path', 'id');
    assertRefused(await s.call('GET', '/v1/transactions?reference=a%00b'), 400, 'invalid_query', 'reference');
  });
});

describe('prototype keys', () => {
  let s: ApiServer;
  let merchantId: string;
  before(async () => {
    s = await startApi();
    merchantId = (await s.merchant()).id;
  });
  after(() => s.close());

  const cases: Array<[string, string, string]> = [
    ['constructor in metadata', '{"constructor":"x"}', 'metadata.constructor'],
    ['prototype in metadata', '{"prototype":1}', 'metadata.prototype'],
    ['__proto__ in metadata', '{"__proto__":{"polluted":true}}', 'metadata.__proto__'],
  ];
  cases.forEach(([name, metadata, field], i) => {
    it(`refuses ${name} with invalid_field naming ${field}`, async () => {
      const body = `{"id":"proto-${i}","merchantId":"${merchantId}","reference":"r","amount":"1","currency":"COP","status":"pending","metadata":${metadata}}`;
      assertRefused(await s.call('POST', '/v1/transactions', { body }), 400, 'invalid_field', field);
      assert.equal(await s.store.getTransaction(merchantId, `proto-${i}`), undefined);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });

  it('refuses them anywhere in any body', async () => {
    assertRefused(
      await s.call('POST', '/v1/merchants', { body: '{"name":"S","url":"https://s.example/","constructor":{"prototype":{}}}' }),
      400,
      'invalid_field',
      'constructor',
    );
    const nested = `{"id":"proto-c","merchantId":"${merchantId}","reference":"r","amount":"1","currency":"COP","status":"pending","customer":{"prototype":"x"}}`;
    assertRefused(await s.call('POST', '/v1/transactions', { body: nested }), 400, 'invalid_field', 'customer.prototype');
  });

  it('refuses a body nested deeper than 32 levels with 400, however deep', async () => {
    for (const depth of [40, 100_000]) {
      const body = `{"metadata":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      const r = await s.call('POST', '/v1/transactions', { body });
      assert.equal(r.status, 400, r.text.slice(0, 300));
      assert.ok(['invalid_body', 'invalid_json'].includes(r.body.error.code), r.text.slice(0, 300));
    }
  });
});

describe('epayco credentials on a standard merchant', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi({ CONFIRMA_MASTER_KEY: 'cd'.repeat(32) });
  });
  after(() => s.close());
  const creds = { custId: '500123', pKey: 'p-key-1' };

  it('are refused at creation, with or without format: standard, and nothing is stored', async () => {
    for (const body of [
      { name: 'S', url: 'https://s.example/c', epayco: creds },
      { name: 'S', url: 'https://s.example/c', format: 'standard', epayco: creds },
    ]) {
      assertRefused(await s.call('POST', '/v1/merchants', { body }), 400, 'invalid_field', 'epayco');
    }
    assert.equal((await s.call('GET', '/v1/merchants')).body.data.length, 0);
  });

  it('are refused by a PATCH of a standard merchant, and by a PATCH switching to standard', async () => {
    const plain = (await s.call('POST', '/v1/merchants', { body: { name: 'S', url: 'https://s.example/c' } })).body;
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${plain.id}`, { body: { epayco: creds } }),
      400,
      'invalid_field',
      'epayco',
    );
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${plain.id}`, { key: plain.apiKey, body: { epayco: creds } }),
      400,
      'invalid_field',
      'epayco',
    );
    assert.equal((await s.store.getMerchant(plain.id))?.epayco, null);
    const e = (
      await s.call('POST', '/v1/merchants', { body: { name: 'E', url: 'https://e.example/c', format: 'epayco', epayco: creds } })
    ).body;
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${e.id}`, { body: { format: 'standard', epayco: creds } }),
      400,
      'invalid_field',
      'epayco',
    );
    assert.equal((await s.store.getMerchant(e.id))?.format, 'epayco');
  });

  it('stored ones are removed when the merchant switches to standard; switching back asks for them again', async () => {
    const e = (
      await s.call('POST', '/v1/merchants', { body: { name: 'E', url: 'https://e.example/c', format: 'epayco', epayco: creds } })
    ).body;
    const switched = await s.call('PATCH', `/v1/merchants/${e.id}`, { body: { format: 'standard' } });
    assert.equal(switched.status, 200, switched.text);
    assert.equal(switched.body.epayco, null);
    assert.equal((await s.store.getMerchant(e.id))?.epayco, null, 'no sealed pKey left in the store');
    const back = await s.call('PATCH', `/v1/merchants/${e.id}`, { body: { format: 'epayco' } });
    assertRefused(back, 400, 'missing_field', 'epayco');
    assert.equal((await s.call('PATCH', `/v1/merchants/${e.id}`, { body: { format: 'epayco', epayco: creds } })).status, 200);
  });
});
