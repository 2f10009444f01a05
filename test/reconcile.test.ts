import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApi, txBody, type ApiServer } from './helpers/api-server.js';

describe('GET /v1/transactions?reference= (reconciliation)', () => {
  let s: ApiServer;
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  before(async () => {
    s = await startApi();
    a = await s.merchant('A');
    b = await s.merchant('B');
  });
  after(() => s.close());

  it('gives a merchant key its own transactions with that reference, each with its confirmation history', async () => {
    const t1 = await s.call('POST', '/v1/transactions', { body: txBody(a.id, { reference: 'FAC-1' }) });
    assert.equal((await s.call('PATCH', `/v1/transactions/${t1.body.id}`, { body: { status: 'approved' } })).status, 200);
    await s.call('POST', '/v1/transactions', { body: txBody(b.id, { reference: 'FAC-1' }) });
    const r = await s.call('GET', '/v1/transactions?reference=FAC-1', { key: a.apiKey });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.length, 1);
    const [found] = r.body.data;
    assert.equal(found.id, t1.body.id);
    assert.equal(found.status, 'approved');
    assert.deepEqual(
      found.confirmations.map((c: { seq: number; type: string }) => [c.seq, c.type]),
      [
        [1, 'transaction.pending'],
        [2, 'transaction.approved'],
      ],
    );
    const mine = await s.call('GET', `/v1/transactions?reference=FAC-1&merchantId=${a.id}`, { key: a.apiKey });
    assert.equal(mine.body.data.length, 1);
  });

  it('answers an empty list for an unknown reference and 404 for another merchant named by a merchant key', async () => {
    const none = await s.call('GET', '/v1/transactions?reference=nope', { key: a.apiKey });
    assert.deepEqual(none.body, { data: [] });
    const other = await s.call('GET', `/v1/transactions?reference=FAC-1&merchantId=${b.id}`, { key: a.apiKey });
    assert.equal(other.status, 404);
    assert.equal(other.body.error.code, 'merchant_not_found');
  });

  it('lets the admin search every merchant, or one', async () => {
    const all = await s.call('GET', '/v1/transactions?reference=FAC-1');
    assert.deepEqual(new Set(all.body.data.map((t: { merchantId: string }) => t.merchantId)), new Set([a.id, b.id]));
    const one = await s.call('GET', `/v1/transactions?reference=FAC-1&merchantId=${b.id}`);
    assert.deepEqual(
      one.body.data.map((t: { merchantId: string }) => t.merchantId),
      [b.id],
    );
  });

  it('lists a reused reference newest first', async () => {
    const first = await s.call('POST', '/v1/transactions', { body: txBody(a.id, { reference: 'REUSED' }) });
    await new Promise((r) => setTimeout(r, 5));
    const second = await s.call('POST', '/v1/transactions', { body: txBody(a.id, { reference: 'REUSED' }) });
    const r = await s.call('GET', '/v1/transactions?reference=REUSED', { key: a.apiKey });
    assert.deepEqual(
      r.body.data.map((t: { id: string }) => t.id),
      [second.body.id, first.body.id],
    );
  });

  it('refuses a missing reference or an unknown parameter with 400 invalid_query', async () => {
    for (const q of ['', '?merchantId=x', '?reference=a&state=b', `?reference=${'r'.repeat(129)}`]) {
      const r = await s.call('GET', `/v1/transactions${q}`, { key: a.apiKey });
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'invalid_query', q);
    }
  });
});
