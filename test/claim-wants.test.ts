import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryTarget } from '../src/domain/merchant.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

/**
 * The real threaded SQLite store, with merchant reads slowed down on request (so a lane is caught
 * reloading its settings) and every failed per-merchant claim kept.
 */
class SlowTargetStore extends ThreadedSqliteStore {
  slowTargets = false;
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
    try {
      return await super.claimForMerchants(wants, now, leaseMs);
    } catch (err) {
      this.claimFailures.push((err as Error).message);
      throw err;
    }
  }
}

describe('per-merchant claims on the threaded SQLite store', () => {
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
});
