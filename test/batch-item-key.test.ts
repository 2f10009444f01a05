import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApi, txBody, type ApiServer } from './helpers/api-server.js';

describe('batch items with their own idempotencyKey', () => {
  let s: ApiServer;
  let m: { id: string };
  before(async () => {
    s = await startApi();
    m = await s.merchant();
  });
  after(() => s.close());

  it('answers an item the same wherever it sits in a later batch, and refuses reuse with other content', async () => {
    const first = await s.call('POST', '/v1/transactions/batch', {
      body: {
        transactions: [{ ...txBody(m.id, { reference: 'a' }), idempotencyKey: 'rec-1' }, txBody(m.id, { reference: 'b' })],
      },
    });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.results[0].status, 201);
    const again = await s.call('POST', '/v1/transactions/batch', {
      body: {
        transactions: [
          { ...txBody(m.id, { reference: 'c' }), idempotencyKey: 'rec-2' },
          { ...txBody(m.id, { reference: 'a' }), idempotencyKey: 'rec-1' },
          { ...txBody(m.id, { reference: 'changed' }), idempotencyKey: 'rec-1' },
        ],
      },
    });
    assert.equal(again.body.results[1].status, 201, 'the first answer again');
    assert.equal(again.body.results[1].transaction.id, first.body.results[0].transaction.id);
    assert.equal(again.body.results[2].ok, false);
    assert.equal(again.body.results[2].error.code, 'idempotency_conflict');
    assert.equal(again.body.results[0].status, 201);
  });

  it('refuses a malformed item key naming the item', async () => {
    const r = await s.call('POST', '/v1/transactions/batch', {
      body: { transactions: [{ ...txBody(m.id), idempotencyKey: '' }] },
    });
    assert.equal(r.body.results[0].error.code, 'invalid_idempotency_key');
    assert.equal(r.body.results[0].error.field, 'transactions.0.idempotencyKey');
  });
});
