import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/domain/ids.js';
import { retentionPass } from '../src/store/retention.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { IngestOp } from '../src/store/store.js';
import { tempDir } from './helpers/engine.js';

const DAY = 86_400_000;

it('retention settings: transactions are kept 30 days by default, never less than delivered history', () => {
  assert.equal(loadConfig({}).transactionRetentionDays, 30);
  assert.equal(
    loadConfig({ CONFIRMA_RETENTION_DAYS: '40', CONFIRMA_TRANSACTION_RETENTION_DAYS: '40' }).transactionRetentionDays,
    40,
  );
  assert.throws(
    () => loadConfig({ CONFIRMA_RETENTION_DAYS: '40', CONFIRMA_TRANSACTION_RETENTION_DAYS: '10' }),
    /CONFIRMA_TRANSACTION_RETENTION_DAYS \(10\) cannot be less than CONFIRMA_RETENTION_DAYS \(40\)/,
  );
  assert.throws(() => loadConfig({ CONFIRMA_TRANSACTION_RETENTION_DAYS: '0' }), /CONFIRMA_TRANSACTION_RETENTION_DAYS/);
});

it('a retention pass removes, batch after batch, delivered history, old idempotency keys, then the transactions left bare', async () => {
  const { dir, cleanup } = tempDir();
  const store = new SqliteStore({ file: path.join(dir, 'r.db') });
  try {
    await store.migrate();
    const m = newId('mer');
    await store.createMerchant(
      {
        id: m,
        name: 'shop',
        url: 'https://shop.example/hook',
        format: 'standard',
        maxInFlight: null,
        timeoutMs: null,
        retrySchedule: null,
        epayco: null,
      },
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      { id: newId('key'), hash: 'h', prefix: 'cfm_mk_x' },
    );
    const created = Date.now() - 100 * DAY;
    const ops: IngestOp[] = Array.from({ length: 23 }, (_, i) => ({
      kind: 'create',
      scope: { kind: 'admin' },
      tx: {
        id: `old-${i}`,
        merchantId: m,
        reference: `o-${i}`,
        amount: '10.00',
        currency: 'USD',
        status: 'approved',
        customer: null,
        metadata: null,
      },
      idempotency: { scope: 'admin', key: `k-${i}`, requestHash: `h-${i}` },
    }));
    await store.ingest(ops, created);
    // Every one delivered but the last, which is dead: its transaction must stay.
    const claims = await store.claimDue({
      now: Date.now(),
      limit: 100,
      leaseMs: 30_000,
      exclude: [],
      capacity: new Map(),
      defaultCapacity: 100,
    });
    assert.equal(claims.length, 23);
    const attempt = { ok: true, statusCode: 200, durationMs: 3, startedAt: Date.now() };
    await store.recordOutcomes(
      claims.map((claim) => ({
        claim,
        outcome: claim.transactionId === 'old-22' ? { kind: 'dead' as const, reason: 'gave up' } : { kind: 'delivered' as const },
        attempt,
      })),
      Date.now(),
    );
    // A young transaction is kept whatever happens to the old ones.
    await store.ingest(
      [
        {
          kind: 'create',
          scope: { kind: 'admin' },
          tx: {
            id: 'young',
            merchantId: m,
            reference: 'y',
            amount: '1.00',
            currency: 'USD',
            status: 'pending',
            customer: null,
            metadata: null,
          },
        },
      ],
      Date.now(),
    );

    // Confirmation ids carry their real creation time (now), so history "older than 7 days" is
    // looked at from a point 8 days ahead; transactions were created 100 days ago.
    const policy = { historyDays: 7, transactionDays: 90 };
    // A stopping node ends a pass after the batch it is in.
    const cut = await retentionPass(store, policy, Date.now() + 8 * DAY, { batch: 4, pauseMs: 0, stopped: () => true });
    assert.deepEqual(cut, { confirmations: 4, idempotencyKeys: 0, transactions: 0 });
    const removed = await retentionPass(store, policy, Date.now() + 8 * DAY, { batch: 4, pauseMs: 0 });
    assert.deepEqual(removed, { confirmations: 18, idempotencyKeys: 23, transactions: 22 });
    assert.equal(await store.getTransaction(m, 'old-0'), undefined);
    assert.equal((await store.getTransaction(m, 'old-22'))?.id, 'old-22', 'kept: its confirmation is dead');
    assert.equal((await store.getTransaction(m, 'young'))?.id, 'young');
    assert.deepEqual(await store.countOpen(), { waiting: 0, pending: 1, inflight: 0, parked: 0, dead: 1 });
    // A second pass finds nothing more.
    assert.deepEqual(await retentionPass(store, policy, Date.now() + 8 * DAY, { batch: 4, pauseMs: 0 }), {
      confirmations: 0,
      idempotencyKeys: 0,
      transactions: 0,
    });
  } finally {
    await store.close();
    cleanup();
  }
});
