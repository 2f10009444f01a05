import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newId } from '../src/domain/ids.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import type { IngestOp } from '../src/store/store.js';
import { tempDir } from './helpers/engine.js';

function create(merchantId: string, reference: string): IngestOp {
  return {
    kind: 'create',
    scope: { kind: 'admin' },
    tx: { id: newId('tx'), merchantId, reference, amount: '10.00', currency: 'USD', status: 'approved', customer: null, metadata: null },
  };
}

describe('the SQLite thread', () => {
  it('runs a waiting ingest before the outcomes, claims and reads sent ahead of it', async () => {
    const { dir, cleanup } = tempDir();
    const store = new ThreadedSqliteStore({ file: path.join(dir, 'thread.db') });
    try {
      await store.migrate();
      const m = newId('mer');
      await store.createMerchant(
        { id: m, name: 'shop', url: 'https://shop.example/confirm', format: 'standard', maxInFlight: null, timeoutMs: null, retrySchedule: null, epayco: null },
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        { id: newId('key'), hash: 'hash-thread', prefix: 'ck_test' },
      );
      await store.ingest(Array.from({ length: 2_000 }, (_, i) => create(m, `r-${i}`)), Date.now());
      const done: string[] = [];
      const now = Date.now();
      // Sent in one turn: the thread finds them all waiting (or the first already running).
      const calls = [
        store.countByState().then(() => done.push('count')),
        store.claimDue({ now, limit: 1_000, leaseMs: 30_000, exclude: [], capacity: new Map(), defaultCapacity: 1_000 }).then(() => done.push('claim')),
        store.listConfirmations({ merchantId: m, limit: 500 }).then(() => done.push('list')),
        store.ingest([create(m, 'late')], now).then(() => done.push('ingest')),
        store.countByState().then(() => done.push('count again')),
      ];
      await Promise.all(calls);
      assert.ok(done.indexOf('ingest') < done.indexOf('claim'), `ingest ran after calls sent before it: ${done.join(', ')}`);
      // The others keep their order.
      assert.deepEqual(done.filter((d) => d !== 'ingest' && d !== 'count'), ['claim', 'list', 'count again']);
    } finally {
      await store.close();
      cleanup();
    }
  });
});
