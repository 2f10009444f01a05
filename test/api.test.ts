import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { hashKey } from '../src/api/auth.js';
import type { Outcome } from '../src/dispatch/outcome.js';
import { errorCatalog } from '../src/errors.js';
import type { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { ADMIN, startApi, txBody, type ApiServer } from './helpers/api-server.js';

/** Plays the dispatcher's part: claims every due confirmation and records `outcome` for it. */
async function settleAll(store: SqliteStore, outcome: Outcome): Promise<number> {
  const now = Date.now();
  const claims = await store.claimDue({
    now,
    limit: 1000,
    leaseMs: 60_000,
    exclude: [],
    capacity: new Map(),
    defaultCapacity: 1000,
  });
  await store.recordOutcomes(
    claims.map((claim) => ({
      claim,
      outcome,
      attempt: {
        ok: outcome.kind === 'delivered',
        statusCode: outcome.kind === 'delivered' ? 200 : 500,
        durationMs: 3,
        startedAt: now,
      },
    })),
    now,
  );
  return claims.length;
}

/**
 * Checks values against schemas of the served OpenAPI document with ajv (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1, with formats): `at` is a JSON pointer into the document, so `$ref`s to
 * `#/components/schemas/…` resolve in it. Returns ajv's errors, [] when the value fits.
 */
function documentChecker(doc: Record<string, unknown>): (at: string, value: unknown) => unknown[] {
  // Not strict: the document has keywords of OpenAPI (and our x-error) around the schemas.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc, 'openapi.json');
  const compiled = new Map<string, ValidateFunction>();
  return (at, value) => {
    let validate = compiled.get(at);
    if (validate === undefined) {
      validate = ajv.compile({ $ref: `openapi.json#${at}` });
      compiled.set(at, validate);
    }
    return validate(value) ? [] : (validate.errors ?? []);
  };
}

/** A JSON pointer from its keys. */
const pointer = (...keys: string[]): string => keys.map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

function assertError(r: { status: number; body: any }, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, 'string');
  if (field !== undefined) assert.equal(r.body.error.field, field, JSON.stringify(r.body));
}

describe('auth', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi();
  });
  after(() => s.close());

  it('answers 401 unauthorized without a key, with an unknown key, or with a malformed header', async () => {
    assertError(await s.call('GET', '/v1/merchants', { key: null }), 401, 'unauthorized');
    assertError(await s.call('GET', '/v1/merchants', { key: 'cfm_mk_not-a-real-key' }), 401, 'unauthorized');
    assertError(await s.call('GET', '/v1/merchants', { key: ADMIN + 'x' }), 401, 'unauthorized');
    const basic = await s.call('GET', '/v1/merchants', { key: null, headers: { authorization: `Basic ${ADMIN}` } });
    assertError(basic, 401, 'unauthorized');
    assertError(await s.call('POST', '/v1/transactions', { key: null, body: {} }), 401, 'unauthorized');
  });

  it('answers 403 forbidden to a merchant key on the admin collection routes', async () => {
    const m = await s.merchant('A');
    assertError(
      await s.call('POST', '/v1/merchants', { key: m.apiKey, body: { name: 'X', url: 'https://x.example/' } }),
      403,
      'forbidden',
    );
    assertError(await s.call('GET', '/v1/merchants', { key: m.apiKey }), 403, 'forbidden');
    // The key still works for what it may do.
    assert.equal((await s.call('GET', `/v1/merchants/${m.id}`, { key: m.apiKey })).status, 200);
  });

  it('serves health and the OpenAPI document without a key', async () => {
    const h = await s.call('GET', '/healthz', { key: null });
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { ok: true });
    assert.equal((await s.call('GET', '/readyz', { key: null })).status, 200);
    assert.equal((await s.call('GET', '/openapi.json', { key: null })).status, 200);
    const docs = await s.call('GET', '/docs', { key: null });
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(
      docs.headers.get('content-security-policy') ?? '',
      /^default-src 'none'; script-src 'self'; style-src 'self';.*frame-ancestors 'none'/,
    );
    assert.equal(docs.headers.get('x-content-type-options'), 'nosniff');
    // swagger-ui's stylesheet is served with its images as files of their own: img-src 'self' holds.
    const css = await s.call('GET', '/docs/static/swagger-ui.css', { key: null });
    assert.equal(css.status, 200);
    assert.equal(css.text.includes('data:'), false);
    const image = /url\((img\/[^)]+)\)/.exec(css.text)?.[1];
    assert.equal((await s.call('GET', `/docs/static/${image}`, { key: null })).status, 200);
  });

  it('answers an unknown route with 404 not_found in the catalog shape', async () => {
    assertError(await s.call('GET', '/v1/nothing-here'), 404, 'not_found');
    assertError(await s.call('DELETE', '/v1/merchants'), 404, 'not_found');
  });
});

describe('merchants', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi();
  });
  after(() => s.close());

  it('creates a merchant and shows its whsec_ secret and cfm_mk_ key only once', async () => {
    const r = await s.call('POST', '/v1/merchants', {
      body: {
        name: 'Tienda',
        url: 'https://tienda.example/confirm',
        maxInFlight: 8,
        timeoutMs: 5000,
        retrySchedule: [0, 10, 60],
      },
    });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.id, /^mer_/);
    assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.match(r.body.apiKey, /^cfm_mk_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      { ...r.body, id: undefined, secret: undefined, apiKey: undefined, createdAt: undefined, updatedAt: undefined },
      {
        id: undefined,
        name: 'Tienda',
        url: 'https://tienda.example/confirm',
        format: 'standard',
        maxInFlight: 8,
        timeoutMs: 5000,
        retrySchedule: [0, 10, 60],
        epayco: null,
        enabled: true,
        disabledAt: null,
        disabledReason: null,
        secret: undefined,
        apiKey: undefined,
        createdAt: undefined,
        updatedAt: undefined,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(r.body.createdAt)));

    const { secret, apiKey, id } = r.body as { secret: string; apiKey: string; id: string };
    const views = [
      await s.call('GET', `/v1/merchants/${id}`),
      await s.call('GET', `/v1/merchants/${id}`, { key: apiKey }),
      await s.call('GET', '/v1/merchants'),
      await s.call('PATCH', `/v1/merchants/${id}`, { body: { name: 'Tienda 2' } }),
    ];
    for (const v of views) {
      assert.equal(v.status, 200, v.text);
      assert.ok(!v.text.includes(secret), 'a read returned the signing secret');
      assert.ok(!v.text.includes(apiKey), 'a read returned the API key');
      assert.ok(!v.text.includes(hashKey(apiKey)), 'a read returned the key hash');
      assert.ok(!/"(secret|apiKey|secrets|hash)"/.test(v.text), v.text);
    }
    // The key that was shown is the one that works.
    assert.equal((await s.call('GET', `/v1/merchants/${id}`, { key: apiKey })).body.name, 'Tienda 2');
  });

  it('pages the merchant list with a cursor', async () => {
    for (let i = 0; i < 3; i++) await s.merchant(`page-${i}`);
    const all = (await s.call('GET', '/v1/merchants?limit=500')).body.data as { id: string }[];
    assert.ok(all.length >= 4);
    const first = await s.call('GET', '/v1/merchants?limit=2');
    assert.equal(first.body.data.length, 2);
    assert.equal(first.body.nextCursor, first.body.data[1].id);
    const second = await s.call('GET', `/v1/merchants?limit=500&after=${first.body.nextCursor}`);
    assert.deepEqual(
      [...first.body.data, ...second.body.data].map((m: { id: string }) => m.id),
      all.map((m) => m.id),
    );
    assert.equal(second.body.nextCursor, null);
  });

  it('lets a merchant key change only url, timeoutMs, retrySchedule and enabled on itself', async () => {
    const m = await s.merchant('Self');
    s.events.length = 0;
    const ok = await s.call('PATCH', `/v1/merchants/${m.id}`, {
      key: m.apiKey,
      body: { url: 'https://self.example/new', timeoutMs: 2000, retrySchedule: [1, 2], enabled: false },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.url, 'https://self.example/new');
    assert.equal(ok.body.enabled, false);
    assert.equal(typeof ok.body.disabledAt, 'string');
    assert.deepEqual(s.events, [`changed:${m.id}`]);
    assertError(
      await s.call('PATCH', `/v1/merchants/${m.id}`, { key: m.apiKey, body: { name: 'Hijack' } }),
      403,
      'forbidden',
      'name',
    );
    assertError(
      await s.call('PATCH', `/v1/merchants/${m.id}`, { key: m.apiKey, body: { maxInFlight: 1000 } }),
      403,
      'forbidden',
      'maxInFlight',
    );
    assert.equal((await s.store.getMerchant(m.id))?.name, 'Self');
    // The admin may change any field, and null resets to the global default.
    const admin = await s.call('PATCH', `/v1/merchants/${m.id}`, { body: { name: 'Renamed', maxInFlight: null, enabled: true } });
    assert.equal(admin.status, 200, admin.text);
    assert.equal(admin.body.name, 'Renamed');
    assert.equal(admin.body.maxInFlight, null);
    assert.equal(admin.body.enabled, true);
  });

  it('rotates the secret: the new one is current and the old one keeps signing until the overlap ends', async () => {
    const m = await s.merchant('Rotate');
    s.events.length = 0;
    const before = Date.now();
    const r = await s.call('POST', `/v1/merchants/${m.id}/secret/rotate`, { key: m.apiKey });
    assert.equal(r.status, 200, r.text);
    assert.match(r.body.secret, /^whsec_/);
    assert.notEqual(r.body.secret, m.secret);
    const expires = Date.parse(r.body.previousSecretExpiresAt);
    assert.ok(expires >= before + s.config.secretOverlapMs && expires <= Date.now() + s.config.secretOverlapMs);
    const target = await s.store.getDeliveryTarget(m.id, Date.now());
    assert.deepEqual(target?.secrets, [r.body.secret, m.secret]);
    assert.deepEqual(s.events, [`changed:${m.id}`]);
    assertError(await s.call('POST', '/v1/merchants/mer_missing/secret/rotate'), 404, 'merchant_not_found');
  });
});

describe('transactions', () => {
  let s: ApiServer;
  let m: { id: string; apiKey: string };
  before(async () => {
    s = await startApi();
    m = await s.merchant('Shop');
  });
  after(() => s.close());

  it('creates a transaction (201 after commit) with its first confirmation, and reads it back', async () => {
    const body = txBody(m.id, {
      reference: 'INV-1',
      customer: { name: 'Ana Pérez', phone: '+57 300 123 4567' },
      metadata: { channel: 'web', items: 3, gift: false, note: null },
    });
    const r = await s.call('POST', '/v1/transactions', { key: m.apiKey, body });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.id, /^tx_/);
    assert.equal(r.body.amount, '125000.50');
    assert.deepEqual(r.body.customer, body.customer);
    assert.deepEqual(r.body.metadata, body.metadata);
    const stored = await s.store.getTransaction(m.id, r.body.id);
    assert.equal(stored?.reference, 'INV-1');

    const g = await s.call('GET', `/v1/transactions/${r.body.id}`, { key: m.apiKey });
    assert.equal(g.status, 200);
    assert.equal(g.body.confirmations.length, 1);
    const c = g.body.confirmations[0];
    assert.match(c.id, /^msg_/);
    assert.equal(c.seq, 1);
    assert.equal(c.type, 'transaction.pending');
    assert.equal(c.state, 'pending');
    assert.equal(c.attempts, 0);
    assert.equal(c.deliveredAt, null);
  });

  it('changes status with PATCH (new confirmation) and refuses approved → pending with 409 invalid_transition', async () => {
    const id = 'order-transition-1';
    assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id }) })).status, 201);
    const p = await s.call('PATCH', `/v1/transactions/${id}`, { body: { status: 'approved' } });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.body.status, 'approved');
    assertError(
      await s.call('PATCH', `/v1/transactions/${id}`, { body: { status: 'pending' } }),
      409,
      'invalid_transition',
      'status',
    );
    assertError(await s.call('PATCH', `/v1/transactions/${id}`, { body: { status: 'approved' } }), 409, 'invalid_transition');
    assert.equal((await s.store.getTransaction(m.id, id))?.status, 'approved');
    const confirmations = await s.store.listTransactionConfirmations(m.id, id);
    assert.deepEqual(
      confirmations.map((c) => [c.seq, c.type]),
      [
        [1, 'transaction.pending'],
        [2, 'transaction.approved'],
      ],
    );
    assertError(
      await s.call('PATCH', '/v1/transactions/nope-404', { body: { status: 'approved' } }),
      404,
      'transaction_not_found',
    );
  });

  it('answers 200 with the stored transaction when the same id and content are sent again, 409 when content differs', async () => {
    const body = txBody(m.id, { id: 'order-dup-1' });
    assert.equal((await s.call('POST', '/v1/transactions', { body })).status, 201);
    const again = await s.call('POST', '/v1/transactions', { body });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, 'order-dup-1');
    assertError(await s.call('POST', '/v1/transactions', { body: { ...body, amount: '1.00' } }), 409, 'transaction_exists', 'id');
    assert.equal((await s.store.listTransactionConfirmations(m.id, 'order-dup-1')).length, 1);
  });

  it('Idempotency-Key: the same body answers the same transaction and makes one confirmation; another body is 409', async () => {
    const headers = { 'idempotency-key': 'checkout-7f3a' };
    const body = txBody(m.id, { reference: 'IDEM-1' }); // no id: the server generates one
    const first = await s.call('POST', '/v1/transactions', { key: m.apiKey, body, headers });
    assert.equal(first.status, 201, first.text);
    const second = await s.call('POST', '/v1/transactions', { key: m.apiKey, body, headers });
    assert.equal(second.status, 201);
    assert.deepEqual(second.body, first.body);
    // Key order does not matter: the hash is over canonical JSON.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    assert.equal((await s.call('POST', '/v1/transactions', { key: m.apiKey, body: reordered, headers })).body.id, first.body.id);
    const rows = await s.store.listConfirmations({ merchantId: m.id, limit: 500 });
    assert.equal(rows.filter((c) => c.transactionId === first.body.id).length, 1);
    assert.equal((await s.store.listTransactionConfirmations(m.id, first.body.id)).length, 1);
    const total = rows.length;

    const conflict = await s.call('POST', '/v1/transactions', { key: m.apiKey, body: { ...body, amount: '9.99' }, headers });
    assertError(conflict, 409, 'idempotency_conflict');
    assert.equal((await s.store.listConfirmations({ merchantId: m.id, limit: 500 })).length, total);
  });

  it('Idempotency-Key: concurrent retries of one request create one transaction', async () => {
    const headers = { 'idempotency-key': 'concurrent-1' };
    const body = txBody(m.id, { reference: 'IDEM-CONC' });
    const replies = await Promise.all(Array.from({ length: 8 }, () => s.call('POST', '/v1/transactions', { body, headers })));
    const ids = new Set(replies.map((r) => r.body.id));
    assert.equal(ids.size, 1, JSON.stringify(replies.map((r) => r.body)));
    const rows = await s.store.listConfirmations({ merchantId: m.id, limit: 500 });
    assert.equal(rows.filter((c) => c.transactionId === [...ids][0]).length, 1);
  });

  it('scopes Idempotency-Key to the API key', async () => {
    const headers = { 'idempotency-key': 'shared-key' };
    const a = await s.call('POST', '/v1/transactions', { key: m.apiKey, body: txBody(m.id, { reference: 'S-1' }), headers });
    const b = await s.call('POST', '/v1/transactions', { body: txBody(m.id, { reference: 'S-2' }), headers });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.notEqual(a.body.id, b.body.id);
  });

  it('batch: 1000 valid items are stored in one commit, each answered 201', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => txBody(m.id, { id: `bulk-${i}`, reference: `B-${i}` }));
    const batchesBefore = s.ingest.batches;
    const r = await s.call('POST', '/v1/transactions/batch', { body: { transactions: items } });
    assert.equal(r.status, 200, r.text.slice(0, 500));
    assert.equal(r.body.results.length, 1000);
    r.body.results.forEach((res: any, i: number) => {
      assert.equal(res.index, i);
      assert.equal(res.ok, true);
      assert.equal(res.status, 201);
      assert.equal(res.transaction.id, `bulk-${i}`);
    });
    assert.equal(s.ingest.batches - batchesBefore, 1, 'the batch items should share one commit');
    assert.equal((await s.store.getTransaction(m.id, 'bulk-999'))?.reference, 'B-999');
    // Sent again: every item is already there with the same content.
    const again = await s.call('POST', '/v1/transactions/batch', { body: { transactions: items.slice(0, 3) } });
    assert.deepEqual(
      again.body.results.map((x: any) => x.status),
      [200, 200, 200],
    );
  });

  it('batch: valid and invalid items get their own results, errors name transactions.<i>.<field>', async () => {
    const items: unknown[] = [
      txBody(m.id, { id: 'mix-0' }),
      txBody(m.id, { id: 'mix-1', amount: '0' }),
      txBody(m.id, { id: 'mix-2', colour: 'red' }),
      'not an object',
      txBody(m.id, { id: 'mix-4', currency: 'usd' }),
      { reference: 'x', amount: '1', currency: 'COP', status: 'pending', id: 'mix-5' },
      txBody('mer_does_not_exist', { id: 'mix-6' }),
      txBody(m.id, { id: 'mix-0', amount: '2.00' }), // same id as item 0, other content
      txBody(m.id, { id: 'mix-8', status: 'done' }),
      txBody(m.id, { id: 'mix-9', amount: '100.5', currency: 'JPY' }),
      txBody(m.id, { id: 'mix-10' }),
    ];
    const r = await s.call('POST', '/v1/transactions/batch', { body: { transactions: items } });
    assert.equal(r.status, 200, r.text);
    const got = r.body.results.map((x: any) => (x.ok ? ['ok', x.status] : [x.error.code, x.error.field]));
    assert.deepEqual(got, [
      ['ok', 201],
      ['invalid_amount', 'transactions.1.amount'],
      ['unknown_field', 'transactions.2.colour'],
      ['invalid_field', 'transactions.3'],
      ['invalid_currency', 'transactions.4.currency'],
      ['missing_field', 'transactions.5.merchantId'],
      ['merchant_not_found', 'transactions.6.merchantId'],
      ['transaction_exists', 'transactions.7.id'],
      ['invalid_status', 'transactions.8.status'],
      ['invalid_amount', 'transactions.9.amount'],
      ['ok', 201],
    ]);
    for (const x of r.body.results) {
      if (!x.ok) assert.ok(x.error.message.includes(x.error.field), `message names the field: ${x.error.message}`);
    }
    for (const i of [1, 2, 4, 5, 6, 8, 9])
      assert.equal(await s.store.getTransaction(m.id, `mix-${i}`), undefined, `mix-${i} was stored`);
    assert.equal((await s.store.getTransaction(m.id, 'mix-0'))?.amount, '125000.50');
    assert.ok(await s.store.getTransaction(m.id, 'mix-10'));
  });

  it('batch: Idempotency-Key replays every item as the first time', async () => {
    const headers = { 'idempotency-key': 'batch-key-1' };
    const body = { transactions: [txBody(m.id, { reference: 'BI-0' }), txBody(m.id, { reference: 'BI-1', amount: '-1' })] };
    const first = await s.call('POST', '/v1/transactions/batch', { body, headers });
    const second = await s.call('POST', '/v1/transactions/batch', { body, headers });
    assert.equal(first.body.results[0].ok, true);
    assert.deepEqual(second.body, first.body);
    assert.equal((await s.store.listTransactionConfirmations(m.id, first.body.results[0].transaction.id)).length, 1);
  });
});

describe('confirmations', () => {
  let s: ApiServer;
  let m: { id: string; apiKey: string };
  before(async () => {
    s = await startApi();
    m = await s.merchant('Conf');
    for (let i = 0; i < 3; i++) {
      assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id: `c-${i}` }) })).status, 201);
    }
  });
  after(() => s.close());

  it('lists with cursor pages and a state filter; a merchant key sees its own merchant', async () => {
    const p1 = await s.call('GET', '/v1/confirmations?limit=2', { key: m.apiKey });
    assert.equal(p1.status, 200, p1.text);
    assert.equal(p1.body.data.length, 2);
    assert.equal(p1.body.nextCursor, p1.body.data[1].id);
    const p2 = await s.call('GET', `/v1/confirmations?limit=2&after=${p1.body.nextCursor}`, { key: m.apiKey });
    assert.equal(p2.body.data.length, 1);
    assert.equal(p2.body.nextCursor, null);
    const c = p2.body.data[0];
    assert.equal(c.merchantId, m.id);
    assert.equal(c.transactionId, 'c-2');
    assert.equal((await s.call('GET', `/v1/confirmations?state=pending&merchantId=${m.id}`)).body.data.length, 3);
    assert.equal((await s.call('GET', '/v1/confirmations?state=delivered', { key: m.apiKey })).body.data.length, 0);
    assertError(await s.call('GET', '/v1/confirmations?merchantId=mer_nope'), 404, 'merchant_not_found');
  });

  it('shows a confirmation with its attempts', async () => {
    const id = (await s.store.listTransactionConfirmations(m.id, 'c-0'))[0]!.id;
    await settleAll(s.store, { kind: 'retry', at: Date.now() + 60_000, reason: 'HTTP 500' });
    const r = await s.call('GET', `/v1/confirmations/${id}`, { key: m.apiKey });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.state, 'pending');
    assert.equal(r.body.attempts.length, 1);
    assert.equal(r.body.attempts[0].number, 1);
    assert.equal(r.body.attempts[0].statusCode, 500);
    assert.equal(r.body.attempts[0].outcome, 'retry');
    assert.equal(r.body.lastError, 'HTTP 500');
    assertError(await s.call('GET', '/v1/confirmations/msg_nope'), 404, 'confirmation_not_found');
  });

  it('redelivers a delivered confirmation (202 pending) and refuses one in flight (409)', async () => {
    const m2 = await s.merchant('Redeliver');
    assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m2.id, { id: 'rd-1' }) })).status, 201);
    const id = (await s.store.listTransactionConfirmations(m2.id, 'rd-1'))[0]!.id;
    // Claim it: while in flight it cannot be redelivered.
    const claims = await s.store.claimDue({
      now: Date.now() + 120_000,
      limit: 1000,
      leaseMs: 60_000,
      exclude: [],
      capacity: new Map(),
      defaultCapacity: 1000,
    });
    const claim = claims.find((c) => c.id === id);
    assert.ok(claim);
    const busy = await s.call('POST', `/v1/confirmations/${id}/redeliver`, { key: m2.apiKey });
    assertError(busy, 409, 'confirmation_in_flight');
    assert.ok(Number(busy.headers.get('retry-after')) >= 1);
    await s.store.recordOutcomes(
      claims.map((c) => ({
        claim: c,
        outcome: { kind: 'delivered' } as const,
        attempt: { ok: true, statusCode: 200, durationMs: 1, startedAt: Date.now() },
      })),
      Date.now(),
    );
    assert.equal((await s.store.getConfirmation(id))?.state, 'delivered');
    s.events.length = 0;
    const r = await s.call('POST', `/v1/confirmations/${id}/redeliver`, { key: m2.apiKey });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.body, { id, state: 'pending' });
    assert.equal((await s.store.getConfirmation(id))?.state, 'pending');
    assert.deepEqual(s.events, [`changed:${m2.id}`, 'queued']);
  });

  it("replays a merchant's dead confirmations", async () => {
    const m3 = await s.merchant('Replay');
    for (const id of ['rp-1', 'rp-2']) {
      assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m3.id, { id }) })).status, 201);
    }
    await settleAll(s.store, { kind: 'dead', reason: 'gave up' });
    assert.equal((await s.call('GET', `/v1/confirmations?state=dead`, { key: m3.apiKey })).body.data.length, 2);
    s.events.length = 0;
    const r = await s.call('POST', `/v1/merchants/${m3.id}/replay`, { key: m3.apiKey });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.body, { requeued: 2 });
    assert.deepEqual(s.events, [`changed:${m3.id}`, 'queued']);
    assert.equal((await s.call('GET', `/v1/confirmations?state=pending`, { key: m3.apiKey })).body.data.length, 2);
    assert.deepEqual((await s.call('POST', `/v1/merchants/${m3.id}/replay`)).body, { requeued: 0 });
    assertError(await s.call('POST', '/v1/merchants/mer_nope/replay'), 404, 'merchant_not_found');
  });
});

describe('merchant isolation: a key of A acting on B answers 404', () => {
  let s: ApiServer;
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  let cB: string;
  before(async () => {
    s = await startApi();
    a = await s.merchant('A');
    b = await s.merchant('B');
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: b.apiKey, body: txBody(b.id, { id: 'tx-of-b' }) })).status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: a.apiKey, body: txBody(a.id, { id: 'tx-of-a' }) })).status,
      201,
    );
    cB = (await s.store.listTransactionConfirmations(b.id, 'tx-of-b'))[0]!.id;
  });
  after(() => s.close());

  it('merchant routes', async () => {
    const k = { key: a.apiKey };
    assertError(await s.call('GET', `/v1/merchants/${b.id}`, k), 404, 'merchant_not_found');
    assertError(
      await s.call('PATCH', `/v1/merchants/${b.id}`, { ...k, body: { url: 'https://evil.example/' } }),
      404,
      'merchant_not_found',
    );
    assertError(await s.call('POST', `/v1/merchants/${b.id}/secret/rotate`, k), 404, 'merchant_not_found');
    assertError(await s.call('POST', `/v1/merchants/${b.id}/replay`, k), 404, 'merchant_not_found');
    const target = await s.store.getDeliveryTarget(b.id, Date.now());
    assert.equal(target?.merchant.url, 'http://127.0.0.1:9/confirm');
    assert.equal(target?.secrets.length, 1);
  });

  it('transaction routes', async () => {
    const k = { key: a.apiKey };
    assertError(await s.call('GET', '/v1/transactions/tx-of-b', k), 404, 'transaction_not_found');
    assertError(
      await s.call('PATCH', '/v1/transactions/tx-of-b', { ...k, body: { status: 'approved' } }),
      404,
      'transaction_not_found',
    );
    assert.equal((await s.store.getTransaction(b.id, 'tx-of-b'))?.status, 'pending');
    const create = await s.call('POST', '/v1/transactions', { ...k, body: txBody(b.id, { id: 'planted-in-b' }) });
    assertError(create, 404, 'merchant_not_found', 'merchantId');
    assert.equal(await s.store.getTransaction(b.id, 'planted-in-b'), undefined);
  });

  it('confirmation routes', async () => {
    const k = { key: a.apiKey };
    assertError(await s.call('GET', `/v1/confirmations/${cB}`, k), 404, 'confirmation_not_found');
    assertError(await s.call('POST', `/v1/confirmations/${cB}/redeliver`, k), 404, 'confirmation_not_found');
    assertError(await s.call('GET', `/v1/confirmations?merchantId=${b.id}`, k), 404, 'merchant_not_found');
    const own = await s.call('GET', '/v1/confirmations', k);
    assert.equal(own.status, 200);
    assert.deepEqual(
      own.body.data.map((c: { merchantId: string }) => c.merchantId),
      [a.id],
    );
    // The admin sees both.
    assert.equal((await s.call('GET', '/v1/confirmations')).body.data.length, 2);
  });
});

describe('ids across merchants: a transaction id is unique per merchant, not across them', () => {
  let s: ApiServer;
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  before(async () => {
    s = await startApi();
    a = await s.merchant('A');
    b = await s.merchant('B');
    const r = await s.call('POST', '/v1/transactions', {
      key: b.apiKey,
      body: txBody(b.id, { id: 'order-77', reference: 'B-77', amount: '10.00' }),
    });
    assert.equal(r.status, 201, r.text);
  });
  after(() => s.close());

  it("A creating B's id answers 201 (never 409 transaction_exists) and A's GET and PATCH see only A's", async () => {
    const k = { key: a.apiKey };
    const created = await s.call('POST', '/v1/transactions', {
      ...k,
      body: txBody(a.id, { id: 'order-77', reference: 'A-77', amount: '99.00' }),
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.merchantId, a.id);
    // A's own id: the same content again is 200, other content 409, exactly as if B did not exist.
    const again = await s.call('POST', '/v1/transactions', {
      ...k,
      body: txBody(a.id, { id: 'order-77', reference: 'A-77', amount: '99.00' }),
    });
    assert.equal(again.status, 200, again.text);
    assertError(
      await s.call('POST', '/v1/transactions', { ...k, body: txBody(a.id, { id: 'order-77', amount: '1.00' }) }),
      409,
      'transaction_exists',
      'id',
    );
    // In a batch too: B's id is a new transaction of A's.
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: b.apiKey, body: txBody(b.id, { id: 'order-78' }) })).status,
      201,
    );
    const batch = await s.call('POST', '/v1/transactions/batch', {
      ...k,
      body: { transactions: [txBody(a.id, { id: 'order-78', amount: '5.00' })] },
    });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.body.results[0].status, 201, batch.text);

    const mine = await s.call('GET', '/v1/transactions/order-77', k);
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual([mine.body.merchantId, mine.body.reference, mine.body.amount], [a.id, 'A-77', '99.00']);
    assert.equal(mine.body.confirmations.length, 1);
    const patched = await s.call('PATCH', '/v1/transactions/order-77', { ...k, body: { status: 'approved' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.merchantId, a.id);
    const mineAfter = await s.call('GET', '/v1/transactions/order-77', k);
    assert.deepEqual(
      mineAfter.body.confirmations.map((c: { type: string }) => c.type),
      ['transaction.pending', 'transaction.approved'],
    );
    // B's transaction of the same id did not change and has only its own confirmation.
    const theirs = await s.call('GET', '/v1/transactions/order-77', { key: b.apiKey });
    assert.deepEqual([theirs.body.merchantId, theirs.body.status, theirs.body.amount], [b.id, 'pending', '10.00']);
    assert.deepEqual(
      theirs.body.confirmations.map((c: { type: string }) => c.type),
      ['transaction.pending'],
    );
    assert.notEqual(theirs.body.confirmations[0].id, mineAfter.body.confirmations[0].id);
    // An id only B uses is still missing for A, and A cannot reach B's by naming B.
    assertError(await s.call('GET', '/v1/transactions/order-78?merchantId=' + b.id, k), 404, 'merchant_not_found', 'merchantId');
    assertError(
      await s.call('PATCH', '/v1/transactions/order-77?merchantId=' + b.id, { ...k, body: { status: 'rejected' } }),
      404,
      'merchant_not_found',
      'merchantId',
    );
    assert.equal(
      (await s.call('GET', '/v1/transactions/order-77?merchantId=' + a.id, k)).body.merchantId,
      a.id,
      'naming itself is allowed',
    );
  });

  it('reference lookup: each transaction comes with its own confirmations only', async () => {
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: a.apiKey, body: txBody(a.id, { id: 'order-79', reference: 'R-79' }) }))
        .status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: b.apiKey, body: txBody(b.id, { id: 'order-79', reference: 'R-79' }) }))
        .status,
      201,
    );
    assert.equal(
      (await s.call('PATCH', '/v1/transactions/order-79', { key: b.apiKey, body: { status: 'approved' } })).status,
      200,
    );
    const found = await s.call('GET', '/v1/transactions?reference=R-79', { key: a.apiKey });
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(
      found.body.data.map((t: { merchantId: string; confirmations: unknown[] }) => [t.merchantId, t.confirmations.length]),
      [[a.id, 1]],
    );
  });

  it('admin: ?merchantId= names the merchant; an id several merchants use answers 409 ambiguous_transaction_id', async () => {
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: a.apiKey, body: txBody(a.id, { id: 'order-80' }) })).status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: b.apiKey, body: txBody(b.id, { id: 'order-80' }) })).status,
      201,
    );
    assertError(await s.call('GET', '/v1/transactions/order-80'), 409, 'ambiguous_transaction_id', 'merchantId');
    assertError(
      await s.call('PATCH', '/v1/transactions/order-80', { body: { status: 'approved' } }),
      409,
      'ambiguous_transaction_id',
      'merchantId',
    );
    const ofB = await s.call('GET', `/v1/transactions/order-80?merchantId=${b.id}`);
    assert.equal(ofB.status, 200, ofB.text);
    assert.equal(ofB.body.merchantId, b.id);
    const patched = await s.call('PATCH', `/v1/transactions/order-80?merchantId=${a.id}`, { body: { status: 'approved' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.merchantId, a.id);
    assert.equal(
      (await s.call('GET', `/v1/transactions/order-80?merchantId=${b.id}`)).body.status,
      'pending',
      "B's is untouched",
    );
    // An id one merchant uses needs no merchantId; none, or another merchant named, is 404.
    assert.equal(
      (await s.call('POST', '/v1/transactions', { key: a.apiKey, body: txBody(a.id, { id: 'order-81' }) })).status,
      201,
    );
    assert.equal((await s.call('GET', '/v1/transactions/order-81')).body.merchantId, a.id);
    assert.equal((await s.call('PATCH', '/v1/transactions/order-81', { body: { status: 'rejected' } })).body.merchantId, a.id);
    assertError(await s.call('GET', `/v1/transactions/order-81?merchantId=${b.id}`), 404, 'transaction_not_found');
    assertError(
      await s.call('PATCH', `/v1/transactions/order-81?merchantId=${b.id}`, { body: { status: 'approved' } }),
      404,
      'transaction_not_found',
    );
    assertError(await s.call('GET', '/v1/transactions/order-none'), 404, 'transaction_not_found');
    assertError(await s.call('GET', '/v1/transactions/order-81?merchant=x'), 400, 'invalid_query', 'merchant');
    assertError(await s.call('GET', '/v1/transactions/order-81?merchantId='), 400, 'invalid_query', 'merchantId');
  });
});

describe('availability', () => {
  it('refuses writes with 503 shutting_down while not ready, and stores nothing', async () => {
    const s = await startApi();
    try {
      const m = await s.merchant();
      s.ready = false;
      const ready = await s.call('GET', '/readyz', { key: null });
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body.ok, false);
      assert.equal((await s.call('GET', '/healthz', { key: null })).status, 200);
      const r = await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id: 'during-shutdown' }) });
      assertError(r, 503, 'shutting_down');
      assert.ok(r.headers.get('retry-after'));
      assert.equal(await s.store.getTransaction(m.id, 'during-shutdown'), undefined);
      s.ready = true;
      assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(m.id, { id: 'during-shutdown' }) })).status, 201);
    } finally {
      await s.close();
    }
  });

  it('answers 503 store_unavailable when the commit fails, /readyz 503, and never leaks a stack', async () => {
    const s = await startApi();
    try {
      const m = await s.merchant();
      await s.store.close();
      const r = await s.call('POST', '/v1/transactions', { body: txBody(m.id) });
      assertError(r, 503, 'store_unavailable');
      assert.equal(r.headers.get('retry-after'), '1');
      const batch = await s.call('POST', '/v1/transactions/batch', { body: { transactions: [txBody(m.id)] } });
      assertError(batch, 503, 'store_unavailable');
      assert.equal((await s.call('GET', '/readyz', { key: null })).status, 503);
      // A read that fails is a 500 in the catalog shape, with no internals in it.
      const read = await s.call('GET', '/v1/transactions/anything');
      assertError(read, 500, 'internal');
      assert.deepEqual(read.body, { error: { code: 'internal', message: errorCatalog.internal.message } });
      assert.ok(!/at .*\.js|stack|sqlite|database/i.test(read.text), read.text);
    } finally {
      await s.close();
    }
  });
});

describe('openapi.json', () => {
  let s: ApiServer;
  before(async () => {
    s = await startApi();
  });
  after(() => s.close());

  it('lists every route the server serves, but the files of the docs renderer', async () => {
    const doc = (await s.call('GET', '/openapi.json', { key: null })).body;
    assert.equal(doc.openapi, '3.1.0');
    const served = s.routes
      .flatMap((r) =>
        (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({
          method: String(method),
          url: r.url,
          hidden: r.schema?.hide === true,
        })),
      )
      .filter((r) => r.method !== 'HEAD')
      .map((r) => ({ ...r, key: `${r.method.toLowerCase()} ${r.url.replace(/:([A-Za-z]+)/g, '{$1}')}` }));
    // swagger-ui's script, style, images and the copy of this document it reads live under
    // /docs/ and are hidden; nothing else is.
    const rendererFiles = served.filter((r) => r.url.startsWith('/docs/'));
    assert.ok(rendererFiles.length >= 4, JSON.stringify(rendererFiles));
    assert.deepEqual(
      served
        .filter((r) => r.hidden && r.key !== 'get /docs')
        .map((r) => r.key)
        .sort(),
      rendererFiles.map((r) => r.key).sort(),
    );
    const registered = new Set(served.filter((r) => !r.url.startsWith('/docs/')).map((r) => r.key));
    assert.ok(registered.size >= 16, [...registered].join(', '));
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        documented.add(`${method} ${p}`);
        assert.ok(
          Object.keys(op.responses).some((code) => code.startsWith('2')),
          `${method} ${p} has no 2xx response`,
        );
        for (const [code, res] of Object.entries(op.responses as Record<string, any>)) {
          // /readyz answers its own { ok: false } for load balancers; everything else uses Error.
          if (Number(code) >= 400 && p !== '/readyz')
            assert.equal(res.content['application/json'].schema.$ref, '#/components/schemas/Error');
        }
        for (const param of op.parameters ?? []) if (param.in === 'path') assert.ok(p.includes(`{${param.name}}`));
      }
    }
    assert.deepEqual([...documented].sort(), [...registered].sort());
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = (await s.call('GET', '/openapi.json', { key: null })).body;
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
    assert.equal(doc.openapi, '3.1.0');
    // The docs page reads the same document.
    assert.deepEqual((await s.call('GET', '/docs/json', { key: null })).body, doc);
  });

  it('describes the shapes the routes really answer with', async () => {
    const doc = (await s.call('GET', '/openapi.json', { key: null })).body;
    const check = documentChecker(doc);
    const seen = new Set<string>();
    async function checked(method: string, route: string, docPath: string, opts: Parameters<ApiServer['call']>[2] = {}) {
      const r = await s.call(method, route, opts);
      const op = method.toLowerCase();
      const res = doc.paths[docPath]?.[op]?.responses?.[String(r.status)];
      assert.ok(res, `${method} ${docPath} does not document status ${r.status}: ${r.text}`);
      const errs = check(
        pointer('paths', docPath, op, 'responses', String(r.status), 'content', 'application/json', 'schema'),
        r.body,
      );
      assert.deepEqual(errs, [], `${method} ${route} → ${r.status}: ${r.text.slice(0, 300)}`);
      if (opts.body !== undefined && r.status < 300) {
        const bodyErrs = check(pointer('paths', docPath, op, 'requestBody', 'content', 'application/json', 'schema'), opts.body);
        assert.deepEqual(bodyErrs, [], `request body of ${method} ${docPath}`);
      }
      seen.add(`${method} ${docPath} ${r.status}`);
      return r;
    }
    const created = await checked('POST', '/v1/merchants', '/v1/merchants', {
      body: { name: 'Doc', url: 'https://doc.example/c', retrySchedule: [0, 5] },
    });
    const mid = created.body.id as string;
    await checked('GET', '/v1/merchants', '/v1/merchants');
    await checked('GET', `/v1/merchants/${mid}`, '/v1/merchants/{id}');
    await checked('PATCH', `/v1/merchants/${mid}`, '/v1/merchants/{id}', { body: { timeoutMs: 1000, maxInFlight: null } });
    await checked('POST', `/v1/merchants/${mid}/secret/rotate`, '/v1/merchants/{id}/secret/rotate');
    const tx = await checked('POST', '/v1/transactions', '/v1/transactions', {
      body: txBody(mid, { customer: { name: 'Ana', phone: '+57 1' }, metadata: { a: 1, b: null } }),
    });
    await checked('POST', '/v1/transactions/batch', '/v1/transactions/batch', {
      body: { transactions: [txBody(mid), txBody(mid, { amount: '0' })] },
    });
    await checked('PATCH', `/v1/transactions/${tx.body.id}`, '/v1/transactions/{id}', { body: { status: 'approved' } });
    const full = await checked('GET', `/v1/transactions/${tx.body.id}`, '/v1/transactions/{id}');
    await settleAll(s.store, { kind: 'dead', reason: 'HTTP 500' });
    const cid = full.body.confirmations[0].id as string;
    await checked('GET', `/v1/confirmations?merchantId=${mid}&limit=1`, '/v1/confirmations');
    await checked('GET', `/v1/confirmations/${cid}`, '/v1/confirmations/{id}');
    await checked('POST', `/v1/confirmations/${cid}/redeliver`, '/v1/confirmations/{id}/redeliver');
    await checked('POST', `/v1/merchants/${mid}/replay`, '/v1/merchants/{id}/replay');
    await checked('GET', '/healthz', '/healthz', { key: null });
    await checked('GET', '/readyz', '/readyz', { key: null });
    // Errors: documented per route with the Error schema.
    await checked('POST', '/v1/transactions', '/v1/transactions', { body: txBody(mid, { amount: 1 }) });
    await checked('GET', '/v1/transactions/missing', '/v1/transactions/{id}');
    await checked('GET', '/v1/transactions?reference=order-1', '/v1/transactions');
    await checked('GET', '/v1/transactions', '/v1/transactions');
    await checked('POST', '/v1/merchants', '/v1/merchants', {
      body: { name: 'E', url: 'https://e.example/c', format: 'epayco', epayco: { custId: '1', pKey: 'k' } },
    });
    await checked('GET', '/v1/merchants', '/v1/merchants', { key: null });
    await checked('PATCH', `/v1/transactions/${tx.body.id}`, '/v1/transactions/{id}', { body: { status: 'pending' } });
    // Another merchant with the same id: the admin must name one.
    const twin = await s.merchant('Twin');
    assert.equal((await s.call('POST', '/v1/transactions', { body: txBody(twin.id, { id: tx.body.id }) })).status, 201);
    const ambiguous = await checked('GET', `/v1/transactions/${tx.body.id}`, '/v1/transactions/{id}');
    assert.equal(ambiguous.body.error.code, 'ambiguous_transaction_id');
    await checked('GET', `/v1/transactions/${tx.body.id}?merchant=${mid}`, '/v1/transactions/{id}');
    assert.equal(seen.size, 24, [...seen].join('\n'));
  });

  it('documents the error schema with every catalog code', async () => {
    const doc = (await s.call('GET', '/openapi.json', { key: null })).body;
    assert.deepEqual(doc.components.schemas.ErrorBody.properties.code.enum, Object.keys(errorCatalog));
    for (const name of Object.keys(doc.components.schemas))
      assert.ok(JSON.stringify(doc).includes(`#/components/schemas/${name}`) || name === 'Error');
    // Every $ref resolves.
    for (const m of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([A-Za-z]+)"/g)) {
      assert.ok(doc.components.schemas[m[1]!], `dangling $ref ${m[1]}`);
    }
  });
});
