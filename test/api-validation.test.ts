import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { errorCatalog } from '../src/errors.js';
import { startApi, txBody, type ApiServer, type Reply } from './helpers/api-server.js';

/**
 * Every validation rule answers its own 4xx with the catalog code and names the field, a refused
 * request stores nothing, and no input (however odd) gets a 5xx.
 */

function assertRefused(r: Reply, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body?.error?.code, code, r.text);
  if (field !== undefined) {
    assert.equal(r.body.error.field, field, r.text);
    assert.ok(r.body.error.message.includes(field), `message should name ${field}: ${r.body.error.message}`);
  }
}

describe('POST /v1/transactions validation', () => {
  let s: ApiServer;
  let m: { id: string; apiKey: string };
  before(async () => {
    s = await startApi();
    m = await s.merchant();
  });
  after(() => s.close());

  const long = (n: number, c = 'a'): string => c.repeat(n);
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['amount "0"', { amount: '0' }, 'invalid_amount', 'amount'],
    ['amount "0.00"', { amount: '0.00' }, 'invalid_amount', 'amount'],
    ['amount "-1"', { amount: '-1' }, 'invalid_amount', 'amount'],
    ['amount "1.234" USD', { amount: '1.234', currency: 'USD' }, 'invalid_amount', 'amount'],
    ['amount "100.5" JPY', { amount: '100.5', currency: 'JPY' }, 'invalid_amount', 'amount'],
    ['amount as the number 10', { amount: 10 }, 'invalid_amount', 'amount'],
    ['amount "1e5"', { amount: '1e5' }, 'invalid_amount', 'amount'],
    ['amount null', { amount: null }, 'invalid_amount', 'amount'],
    ['currency "usd"', { currency: 'usd' }, 'invalid_currency', 'currency'],
    ['currency "XXX1"', { currency: 'XXX1' }, 'invalid_currency', 'currency'],
    ['currency "ZZZ"', { currency: 'ZZZ' }, 'invalid_currency', 'currency'],
    ['currency 840', { currency: 840 }, 'invalid_currency', 'currency'],
    ['status "done"', { status: 'done' }, 'invalid_status', 'status'],
    ['status "APPROVED"', { status: 'APPROVED' }, 'invalid_status', 'status'],
    ['an unknown field', { colour: 'red' }, 'unknown_field', 'colour'],
    ['merchantId missing', { merchantId: undefined }, 'missing_field', 'merchantId'],
    ['reference missing', { reference: undefined }, 'missing_field', 'reference'],
    ['amount missing', { amount: undefined }, 'missing_field', 'amount'],
    ['merchantId a number', { merchantId: 7 }, 'invalid_field', 'merchantId'],
    ['reference empty', { reference: '' }, 'invalid_field', 'reference'],
    ['reference 129 chars', { reference: long(129) }, 'invalid_field', 'reference'],
    ['customer a string', { customer: 'Ana' }, 'invalid_field', 'customer'],
    ['customer with an unknown field', { customer: { name: 'Ana', email: 'a@b.c' } }, 'unknown_field', 'customer.email'],
    ['customer.name 201 chars', { customer: { name: long(201) } }, 'invalid_field', 'customer.name'],
    ['customer.phone with letters', { customer: { phone: '300-CALL-NOW' } }, 'invalid_field', 'customer.phone'],
    ['customer.phone 33 chars', { customer: { phone: long(33, '1') } }, 'invalid_field', 'customer.phone'],
    ['customer.phone a number', { customer: { phone: 3001234567 } }, 'invalid_field', 'customer.phone'],
    ['metadata an array', { metadata: ['a'] }, 'invalid_field', 'metadata'],
    ['metadata nested', { metadata: { order: { id: 1 } } }, 'invalid_field', 'metadata.order'],
    ['metadata with an array value', { metadata: { tags: ['a'] } }, 'invalid_field', 'metadata.tags'],
    [
      'metadata with 51 keys',
      { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
      'invalid_field',
      'metadata',
    ],
    ['metadata key of 65 chars', { metadata: { [long(65, 'k')]: 1 } }, 'invalid_field', `metadata.${long(64, 'k')}…`],
    ['metadata value of 501 chars', { metadata: { note: long(501) } }, 'invalid_field', 'metadata.note'],
    [
      'metadata over 8 KiB',
      { metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, long(450)])) },
      'invalid_field',
      'metadata',
    ],
  ];

  cases.forEach(([name, over, code, field], i) => {
    it(`refuses ${name} with 400 ${code} naming ${field}, and stores nothing`, async () => {
      const id = `refused-${i}`;
      const body = txBody(m.id, { id, ...over });
      const r = await s.call('POST', '/v1/transactions', { key: m.apiKey, body });
      assertRefused(r, 400, code, field);
      assert.equal(await s.store.getTransaction(m.id, id), undefined);
    });
  });

  it('refuses an invalid client id, naming id', async () => {
    for (const id of ['has space', '', 'é', 'x'.repeat(65), 12]) {
      assertRefused(await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id }) }), 400, 'invalid_field', 'id');
    }
    assert.equal((await s.store.listConfirmations({ merchantId: m.id, limit: 10 })).length, 0);
  });

  it('accepts the edges of every rule', async () => {
    const body = txBody(m.id, {
      id: 'A-z_0.9:-'.padEnd(64, 'x'),
      reference: long(128),
      amount: '0.01',
      currency: 'USD',
      customer: { name: long(200), phone: '+1 (555) 010-0000' },
      metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [i === 0 ? long(64, 'k') : `k${i}`, i % 2 ? 'v' : null])),
    });
    const r = await s.call('POST', '/v1/transactions', { body });
    assert.equal(r.status, 201, r.text);
    assert.equal(
      (await s.call('POST', '/v1/transactions', { body: txBody(m.id, { amount: '100', currency: 'JPY' }) })).status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/transactions', { body: txBody(m.id, { amount: '1.234', currency: 'BHD' }) })).status,
      201,
    );
  });

  it('refuses a body that is not a JSON object', async () => {
    assertRefused(await s.call('POST', '/v1/transactions', { body: [] }), 400, 'invalid_body');
    assertRefused(await s.call('POST', '/v1/transactions', { body: '"text"' }), 400, 'invalid_body');
    assertRefused(await s.call('POST', '/v1/transactions', { body: 'null' }), 400, 'invalid_body');
    assertRefused(await s.call('POST', '/v1/transactions'), 400, 'invalid_body');
  });

  it('answers 400 invalid_json for malformed JSON, and invalid_field naming a prototype-poisoning key', async () => {
    assertRefused(await s.call('POST', '/v1/transactions', { body: '{"merchantId": ' }), 400, 'invalid_json');
    assertRefused(await s.call('POST', '/v1/transactions', { body: "{'a': 1}" }), 400, 'invalid_json');
    const poisoned = `{"merchantId":"${m.id}","reference":"r","amount":"1","currency":"COP","status":"pending","metadata":{"__proto__":{"x":1}}}`;
    assertRefused(await s.call('POST', '/v1/transactions', { body: poisoned }), 400, 'invalid_field', 'metadata.__proto__');
  });

  it('answers 415 unsupported_media_type for a body that is not application/json', async () => {
    const r = await s.call('POST', '/v1/transactions', {
      body: JSON.stringify(txBody(m.id)),
      headers: { 'content-type': 'text/plain' },
    });
    assertRefused(r, 415, 'unsupported_media_type');
    const form = await s.call('POST', '/v1/transactions', {
      body: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assertRefused(form, 415, 'unsupported_media_type');
    // application/json with a charset is fine.
    const ok = await s.call('POST', '/v1/transactions', {
      body: txBody(m.id),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(ok.status, 201, ok.text);
  });

  it('answers 413 body_too_large over the body limit', async () => {
    const pad = 'x'.repeat(s.config.bodyLimitBytes);
    const r = await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id: 'too-big', reference: pad }) });
    assertRefused(r, 413, 'body_too_large');
    assert.equal(await s.store.getTransaction(m.id, 'too-big'), undefined);
  });

  it('refuses a bad Idempotency-Key with 400 invalid_idempotency_key', async () => {
    for (const key of ['k'.repeat(256), 'clé', '']) {
      const r = await s.call('POST', '/v1/transactions', {
        body: txBody(m.id, { id: 'idem-bad' }),
        headers: { 'idempotency-key': key },
      });
      assertRefused(r, 400, 'invalid_idempotency_key', 'Idempotency-Key');
    }
    assert.equal(await s.store.getTransaction(m.id, 'idem-bad'), undefined);
    const ok = await s.call('POST', '/v1/transactions', { body: txBody(m.id), headers: { 'idempotency-key': 'k'.repeat(255) } });
    assert.equal(ok.status, 201);
  });

  it('refuses a malformed batch as a whole', async () => {
    const before = (await s.store.listConfirmations({ merchantId: m.id, limit: 500 })).length;
    const valid = txBody(m.id);
    assertRefused(await s.call('POST', '/v1/transactions/batch', { body: {} }), 400, 'missing_field', 'transactions');
    assertRefused(await s.call('POST', '/v1/transactions/batch', { body: [valid] }), 400, 'invalid_body');
    assertRefused(
      await s.call('POST', '/v1/transactions/batch', { body: { transactions: valid } }),
      400,
      'invalid_field',
      'transactions',
    );
    assertRefused(
      await s.call('POST', '/v1/transactions/batch', { body: { transactions: [] } }),
      400,
      'invalid_field',
      'transactions',
    );
    assertRefused(
      await s.call('POST', '/v1/transactions/batch', { body: { transactions: [valid], dryRun: true } }),
      400,
      'unknown_field',
      'dryRun',
    );
    const tooMany = { transactions: Array.from({ length: 1001 }, (_, i) => txBody(m.id, { id: `over-${i}` })) };
    assertRefused(await s.call('POST', '/v1/transactions/batch', { body: tooMany }), 400, 'batch_too_large', 'transactions');
    assert.equal(await s.store.getTransaction(m.id, 'over-0'), undefined);
    assert.equal((await s.store.listConfirmations({ merchantId: m.id, limit: 500 })).length, before);
  });

  it('validates PATCH /v1/transactions/:id', async () => {
    assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id: 'patch-me' }) })).status, 201);
    assertRefused(
      await s.call('PATCH', '/v1/transactions/patch-me', { body: { status: 'done' } }),
      400,
      'invalid_status',
      'status',
    );
    assertRefused(await s.call('PATCH', '/v1/transactions/patch-me', { body: {} }), 400, 'missing_field', 'status');
    assertRefused(
      await s.call('PATCH', '/v1/transactions/patch-me', { body: { status: 'approved', amount: '1' } }),
      400,
      'unknown_field',
      'amount',
    );
    assert.equal((await s.store.getTransaction(m.id, 'patch-me'))?.status, 'pending');
    assert.equal((await s.store.listTransactionConfirmations(m.id, 'patch-me')).length, 1);
  });

  it('never answers 5xx to any JSON body, and answers 4xx with a catalog code', async () => {
    const value = fc.oneof(fc.jsonValue(), fc.string(), fc.constantFrom('1.00', '0', 'COP', 'JPY', 'approved', '', '-5'));
    const shaped = fc.record(
      {
        id: fc.oneof(fc.string({ maxLength: 70 }), value),
        merchantId: fc.oneof(fc.constant(m.id), value),
        reference: value,
        amount: fc.oneof(fc.stringMatching(/^-?[0-9]{1,20}(\.[0-9]{0,5})?$/), value),
        currency: fc.oneof(fc.constantFrom('COP', 'USD', 'JPY', 'BHD', 'cop'), value),
        status: fc.oneof(fc.constantFrom('pending', 'approved', 'done'), value),
        customer: fc.oneof(fc.record({ name: value, phone: value }, { requiredKeys: [] }), value),
        metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 70 }), value, { maxKeys: 60 }), value),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(shaped, fc.jsonValue()), async (body) => {
        const r = await s.call('POST', '/v1/transactions', { body: JSON.stringify(body) });
        assert.ok(r.status < 500, `${r.status} for ${JSON.stringify(body).slice(0, 300)}: ${r.text}`);
        if (r.status >= 400) {
          assert.ok(Object.hasOwn(errorCatalog, r.body?.error?.code), r.text);
        } else {
          assert.ok(await s.store.getTransaction(r.body.merchantId, r.body.id), 'a 2xx must be stored');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('merchant validation', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi();
  });
  after(() => s.close());

  const base = { name: 'Shop', url: 'https://shop.example/confirm' };
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['url "ftp://x"', { url: 'ftp://x' }, 'invalid_url', 'url'],
    ['url "not a url"', { url: 'not a url' }, 'invalid_url', 'url'],
    ['url a relative path', { url: '/confirm' }, 'invalid_url', 'url'],
    ['url with credentials', { url: 'https://user:pw@shop.example/' }, 'invalid_url', 'url'],
    ['url a number', { url: 42 }, 'invalid_url', 'url'],
    ['url on a private address', { url: 'http://10.0.0.8/confirm' }, 'destination_not_allowed', 'url'],
    ['url on link-local metadata', { url: 'http://169.254.169.254/latest' }, 'destination_not_allowed', 'url'],
    ['name missing', { name: undefined }, 'missing_field', 'name'],
    ['url missing', { url: undefined }, 'missing_field', 'url'],
    ['name empty', { name: '' }, 'invalid_field', 'name'],
    ['name 201 chars', { name: 'n'.repeat(201) }, 'invalid_field', 'name'],
    ['format "paypal"', { format: 'paypal' }, 'invalid_field', 'format'],
    ['format "epayco" without credentials', { format: 'epayco' }, 'missing_field', 'epayco'],
    ['epayco without pKey', { epayco: { custId: '500123' } }, 'missing_field', 'epayco.pKey'],
    ['epayco custId with ^', { epayco: { custId: '5^1', pKey: 'k' } }, 'invalid_field', 'epayco.custId'],
    ['epayco with an unknown field', { epayco: { custId: '1', pKey: 'k', key: 'x' } }, 'unknown_field', 'epayco.key'],
    ['maxInFlight 0', { maxInFlight: 0 }, 'invalid_field', 'maxInFlight'],
    ['maxInFlight 1001', { maxInFlight: 1001 }, 'invalid_field', 'maxInFlight'],
    ['maxInFlight 2.5', { maxInFlight: 2.5 }, 'invalid_field', 'maxInFlight'],
    ['maxInFlight "5"', { maxInFlight: '5' }, 'invalid_field', 'maxInFlight'],
    ['timeoutMs 99', { timeoutMs: 99 }, 'invalid_field', 'timeoutMs'],
    ['timeoutMs past the lease', { timeoutMs: 58_001 }, 'invalid_field', 'timeoutMs'],
    ['retrySchedule empty', { retrySchedule: [] }, 'invalid_retry_schedule', 'retrySchedule'],
    ['retrySchedule of 21', { retrySchedule: Array.from({ length: 21 }, () => 1) }, 'invalid_retry_schedule', 'retrySchedule'],
    ['retrySchedule negative', { retrySchedule: [5, -1] }, 'invalid_retry_schedule', 'retrySchedule.1'],
    ['retrySchedule over a week', { retrySchedule: [604_801] }, 'invalid_retry_schedule', 'retrySchedule.0'],
    ['retrySchedule fractional', { retrySchedule: [1.5] }, 'invalid_retry_schedule', 'retrySchedule.0'],
    ['retrySchedule a string', { retrySchedule: '0,5,300' }, 'invalid_retry_schedule', 'retrySchedule'],
    ['an unknown field', { secret: 'whsec_mine' }, 'unknown_field', 'secret'],
  ];

  cases.forEach(([name, over, code, field]) => {
    it(`refuses ${name} with 400 ${code} naming ${field}`, async () => {
      assertRefused(await s.call('POST', '/v1/merchants', { body: { ...base, ...over } }), 400, code, field);
    });
  });

  it('stored none of the refused merchants', async () => {
    assert.deepEqual((await s.call('GET', '/v1/merchants')).body.data, []);
  });

  it('accepts the edges: timeoutMs up to leaseMs - 2000, a week of delay, 20 delays, loopback when allowed', async () => {
    const r = await s.call('POST', '/v1/merchants', {
      body: {
        ...base,
        url: 'http://127.0.0.1:8080/c',
        maxInFlight: 1000,
        timeoutMs: s.config.leaseMs - 2000,
        retrySchedule: [...Array(19).fill(0), 604_800],
      },
    });
    assert.equal(r.status, 201, r.text);
  });

  it('validates PATCH like create, and refuses an empty patch', async () => {
    const id = (await s.merchant('Patchy')).id;
    assertRefused(await s.call('PATCH', `/v1/merchants/${id}`, { body: {} }), 400, 'invalid_body');
    assertRefused(await s.call('PATCH', `/v1/merchants/${id}`, { body: { url: 'ftp://x' } }), 400, 'invalid_url', 'url');
    assertRefused(await s.call('PATCH', `/v1/merchants/${id}`, { body: { enabled: 'yes' } }), 400, 'invalid_field', 'enabled');
    assertRefused(
      await s.call('PATCH', `/v1/merchants/${id}`, { body: { retrySchedule: [] } }),
      400,
      'invalid_retry_schedule',
      'retrySchedule',
    );
    assertRefused(await s.call('PATCH', `/v1/merchants/${id}`, { body: { id: 'mer_other' } }), 400, 'unknown_field', 'id');
    assert.equal((await s.store.getMerchant(id))?.url, 'http://127.0.0.1:9/confirm');
  });

  it('refuses a body on action routes', async () => {
    const id = (await s.merchant('Act')).id;
    assertRefused(await s.call('POST', `/v1/merchants/${id}/replay`, { body: { all: true } }), 400, 'unknown_field', 'all');
    assert.equal((await s.call('POST', `/v1/merchants/${id}/replay`, { body: {} })).status, 202);
  });
});

describe('https-only servers', () => {
  it('refuses http URLs with invalid_url when CONFIRMA_REQUIRE_HTTPS is on', async () => {
    const s = await startApi({ CONFIRMA_REQUIRE_HTTPS: 'true' });
    try {
      const r = await s.call('POST', '/v1/merchants', { body: { name: 'S', url: 'http://shop.example/confirm' } });
      assertRefused(r, 400, 'invalid_url', 'url');
      assert.ok(r.body.error.message.includes('https'));
      assert.equal(
        (await s.call('POST', '/v1/merchants', { body: { name: 'S', url: 'https://shop.example/confirm' } })).status,
        201,
      );
    } finally {
      await s.close();
    }
  });
});

describe('query validation', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi();
  });
  after(() => s.close());

  const cases: Array<[string, string, string]> = [
    ['/v1/confirmations?state=bogus', 'invalid_query', 'state'],
    ['/v1/confirmations?limit=0', 'invalid_query', 'limit'],
    ['/v1/confirmations?limit=501', 'invalid_query', 'limit'],
    ['/v1/confirmations?limit=ten', 'invalid_query', 'limit'],
    ['/v1/confirmations?limit=1&limit=2', 'invalid_query', 'limit'],
    ['/v1/confirmations?colour=red', 'invalid_query', 'colour'],
    ['/v1/confirmations?after=%27%3B--', 'invalid_cursor', 'after'],
    ['/v1/merchants?limit=0', 'invalid_query', 'limit'],
    ['/v1/merchants?sort=name', 'invalid_query', 'sort'],
  ];
  for (const [url, code, field] of cases) {
    it(`GET ${url} → 400 ${code} naming ${field}`, async () => {
      assertRefused(await s.call('GET', url), 400, code, field);
    });
  }
});
