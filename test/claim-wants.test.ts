import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryTarget } from '../src/domain/merchant.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

/**
 * The real threaded SQLite store, with merchant reads slowed down on request (so a lane is caught
 * reloading its settings), per-merchant claims counted and every failed one kept.
 */
class SlowTargetStore extends ThreadedSqliteStore {
  slowTargets = false;
  claimsForMerchants = 0;
  readonly claimFailures: string[] = [];

  override async getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined> {
    if (this.slowTargets) await new Promise((r) => setTimeout(r, 300));
    return super.getDeliveryTarget(merchantId, now);
  }

  override async claimForMerchants(
    wants: ReadonlyArray<{ readonly merchantId: string; readonly limit: number }>,
    now: number,
    leaseMs: number,
  ): ReturnType<ThreadedSqliteStore['claimForMerchants']> {
    this.claimsForMerchants++;
    try {
      return await super.claimForMerchants(wants, now, leaseMs);
    } catch (err) {
      this.claimFailures.push((err as Error).message);
      throw err;
    }
  }
}

describe('claims on the threaded SQLite store', () => {
  let engine: Engine;
  let fleet: MerchantServer;
  let store: SlowTargetStore;

  before(async () => {
    fleet = await new MerchantServer().listen();
    engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '30000', CONFIRMA_LEASE_MS: '60000' }, (file) => {
      store = new SlowTargetStore({ file });
      return store;
    });
  });
  after(async () => {
    await engine.stop();
    await fleet.close();
  });

  // Regression: the dispatcher handed the store its lane objects along with the merchant ids. A
  // lane reloading its merchant holds a promise, which cannot be copied to the SQLite thread, so
  // every claim made for a backlogged lane during a reload failed ("could not be cloned").
  it('claims for a backlogged lane while it reloads its merchant settings', async () => {
    const res = await engine.call('POST', '/v1/merchants', { name: 'reloading', url: fleet.url('reloading'), maxInFlight: 4 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    // Answers take 20 to 260 ms, so the lane's four attempts end (and claim more) one at a time.
    fleet.merchant('reloading', res.body.secret, (n) => ({ kind: 'delay', ms: 20 + (n % 4) * 80, status: 200 }));
    const merchantId = res.body.id as string;
    const batch = await engine.call('POST', '/v1/transactions/batch', {
      transactions: Array.from({ length: 40 }, () => txBody(merchantId)),
    });
    assert.equal(batch.status, 200);
    await waitFor('the first deliveries', () => fleet.deliveries('reloading').length >= 8);
    // A settings change makes the lane reload while its other attempts finish and claim more.
    store.slowTargets = true;
    const patch = await engine.call('PATCH', `/v1/merchants/${merchantId}`, { timeoutMs: 20_000 });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    await waitFor('40 deliveries', () => fleet.deliveries('reloading').length >= 40, 30_000);
    assert.deepEqual(store.claimFailures, []);
    assert.equal(new Set(fleet.deliveries('reloading').map((r) => r.id)).size, 40);
  });

  it('sends an approval straight from its commit, without a claim', async () => {
    const res = await engine.call('POST', '/v1/merchants', { name: 'approving', url: fleet.url('approving') });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    fleet.merchant('approving', res.body.secret);
    const created = await engine.call('POST', '/v1/transactions', txBody(res.body.id, { status: 'pending' }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('the pending confirmation', () => fleet.deliveries('approving').length === 1);
    await waitFor('its outcome committed', async () => (await engine.app.store.countByState()).inflight === 0);
    const before = store.claimsForMerchants;
    const patched = await engine.call('PATCH', `/v1/transactions/${created.body.id}`, { status: 'approved' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await waitFor('the approval', () => fleet.deliveries('approving').length === 2);
    assert.equal(JSON.parse(fleet.deliveries('approving')[1]!.body).type, 'transaction.approved');
    assert.equal(store.claimsForMerchants - before, 0, 'the commit handed the approval to the dispatcher');
  });

  it('hands an approval back when its lane is full, and sends it when a slot frees', async () => {
    const res = await engine.call('POST', '/v1/merchants', { name: 'narrow', url: fleet.url('narrow'), maxInFlight: 1 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    // The second request (the second transaction) holds the lane's one slot for 1.5 s.
    fleet.merchant('narrow', res.body.secret, (n) =>
      n === 1 ? { kind: 'delay', ms: 1_500, status: 200 } : { kind: 'status', status: 200 },
    );
    const first = await engine.call('POST', '/v1/transactions', txBody(res.body.id, { status: 'pending' }));
    await waitFor('the first confirmation', () => fleet.deliveries('narrow').length === 1);
    await waitFor('its outcome committed', async () => (await engine.app.store.countByState()).inflight === 0);
    const second = await engine.call('POST', '/v1/transactions', txBody(res.body.id));
    assert.equal(second.status, 201);
    await waitFor('the second request on the wire', () => (fleet.open.get('narrow') ?? 0) === 1);
    const patched = await engine.call('PATCH', `/v1/transactions/${first.body.id}`, { status: 'approved' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await waitFor('the approval', () => fleet.deliveries('narrow').length === 3, 20_000);
    const got = fleet.deliveries('narrow').map((r) => JSON.parse(r.body) as { type: string; data: { id: string } });
    // The approval waited for the slot: it arrived after the slow answer, once, and the lane never held two.
    assert.deepEqual(
      got.map((b) => [b.data.id, b.type]),
      [
        [first.body.id, 'transaction.pending'],
        [second.body.id, 'transaction.approved'],
        [first.body.id, 'transaction.approved'],
      ],
    );
    assert.equal(fleet.maxOpen.get('narrow'), 1);
    const tx = await engine.call('GET', `/v1/transactions/${first.body.id}`);
    assert.deepEqual(
      tx.body.confirmations.map((c: { attempts: number }) => c.attempts),
      [1, 1],
    );
  });
});
