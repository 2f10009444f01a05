import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import type { DeliveryTarget } from '../src/domain/merchant.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

/**
 * Issue 13 §2: an attempt must end, and its outcome be committed, inside the lease of its claim;
 * otherwise another claim sends the same confirmation while the first is still in flight, and the
 * first outcome is refused as stale. Each test below made that happen before the fix: the merchant
 * saw one confirmation twice at once, and `confirma_stale_outcomes_total` counted the loser.
 */

/** A merchant on the fleet answering 200 after `ms`, with room for two requests in its lane. */
async function slowMerchant(engine: Engine, fleet: MerchantServer, name: string, ms: number): Promise<string> {
  const res = await engine.call('POST', '/v1/merchants', {
    name,
    url: fleet.url(name),
    maxInFlight: 2,
    retrySchedule: [0, 0, 0],
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  fleet.merchant(name, res.body.secret, () => ({ kind: 'delay', ms, status: 200 }));
  return res.body.id as string;
}

async function states(engine: Engine, txIds: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of txIds) {
    const tx = await engine.call('GET', `/v1/transactions/${id}`);
    for (const c of tx.body.confirmations as Array<{ state: string }>) out.push(c.state);
  }
  return out;
}

async function ingest(engine: Engine, merchantId: string, n: number): Promise<string[]> {
  const batch = await engine.call('POST', '/v1/transactions/batch', {
    transactions: Array.from({ length: n }, () => txBody(merchantId)),
  });
  assert.equal(batch.status, 200);
  return (batch.body.results as Array<{ transaction: { id: string } }>).map((r) => r.transaction.id);
}

describe('attempts end within their lease', () => {
  it('CONFIRMA_LEASE_MS must cover the attempt timeout plus 2 s to commit the outcome', () => {
    const refused = (env: Record<string, string>): boolean => {
      try {
        loadConfig(env);
        return false;
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /CONFIRMA_LEASE_MS .* CONFIRMA_ATTEMPT_TIMEOUT_MS/);
        return true;
      }
    };
    assert.equal(
      refused({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '15000', CONFIRMA_LEASE_MS: '16500' }),
      true,
      'accepted before: it exceeded the timeout by 1.5 s',
    );
    assert.equal(refused({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '15000', CONFIRMA_LEASE_MS: '16999' }), true);
    assert.equal(refused({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '15000', CONFIRMA_LEASE_MS: '17000' }), false);
    assert.equal(refused({}), false, 'the defaults (15 s, 60 s) fit');
  });

  it('a saturated pool and a slow merchant: no second claim while an attempt is in flight', async () => {
    // One socket to the merchant, which answers after 2.9 s: the second attempt waits 2.9 s for
    // the socket. Its deadline used to restart then, so it lasted 5.8 s under a 5 s lease and was
    // claimed again (this node's own scan) while still in flight.
    const fleet = await new MerchantServer().listen();
    const engine = await startEngine({
      CONFIRMA_ATTEMPT_TIMEOUT_MS: '3000',
      CONFIRMA_LEASE_MS: '5000',
      CONFIRMA_CONNECTIONS_PER_ORIGIN: '1',
      CONFIRMA_POLL_MS: '100',
    });
    try {
      const merchantId = await slowMerchant(engine, fleet, 'slow', 2900);
      const txIds = await ingest(engine, merchantId, 2);
      await waitFor('both delivered', async () => (await states(engine, txIds)).every((s) => s === 'delivered'), 30_000);
      assert.equal(await engine.app.metrics.staleOutcomes.get(), 0, 'an outcome was refused: its row had been claimed again');
      // The second attempt had 0.1 s of its deadline left when it was written: a timeout, then a retry.
      const confirmations = await engine.call('GET', `/v1/confirmations?merchantId=${merchantId}`);
      const attempts = await Promise.all(
        (confirmations.body.data as Array<{ id: string }>).map(
          async (c) =>
            (await engine.call('GET', `/v1/confirmations/${c.id}`)).body.attempts as Array<{
              errorKind: string | null;
              durationMs: number;
            }>,
        ),
      );
      for (const list of attempts) for (const a of list) assert.ok(a.durationMs <= 3_300, `an attempt lasted ${a.durationMs} ms`);
      assert.deepEqual(attempts.map((l) => l.length).sort(), [1, 2]);
    } finally {
      await engine.stop();
      await fleet.close();
    }
  });

  it("a merchant's stored timeoutMs longer than the lease allows is cut to the lease", async () => {
    // Set under a longer lease (or written before the rule); the node now runs with a 3 s lease.
    const fleet = await new MerchantServer().listen();
    const engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '1000', CONFIRMA_LEASE_MS: '3000', CONFIRMA_POLL_MS: '100' });
    try {
      const merchantId = await slowMerchant(engine, fleet, 'patient', 4000);
      await engine.app.store.updateMerchant(merchantId, { timeoutMs: 20_000, retrySchedule: [0, 0] }, Date.now());
      const txIds = await ingest(engine, merchantId, 1);
      const settled = async (): Promise<boolean> => {
        // Before the fix every attempt outlived its lease and was claimed again: it never settled.
        assert.ok((fleet.maxOpen.get('patient') ?? 0) <= 1, 'the merchant saw the confirmation twice at once');
        return (await states(engine, txIds)).every((s) => s === 'dead' || s === 'delivered');
      };
      await waitFor('the confirmation settled', settled, 30_000);
      assert.equal(fleet.maxOpen.get('patient'), 1, 'the merchant saw the confirmation twice at once');
      assert.equal(await engine.app.metrics.staleOutcomes.get(), 0);
      // Two attempts, each cut at ~1 s (lease 3 s less 2 s), then dead: the merchant needs 4 s.
      assert.deepEqual(await states(engine, txIds), ['dead']);
    } finally {
      await engine.stop();
      await fleet.close();
    }
  });

  it('a lease mostly spent before sending (a slow store) is handed back, not sent into its end', async () => {
    // The first read of the merchant takes 2.5 s of a 3 s lease: sending then with a 1 s deadline
    // would outlast the lease. Handed back, the row is claimed again with a fresh lease.
    class SlowFirstTarget extends ThreadedSqliteStore {
      private slow = true;
      override async getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined> {
        if (this.slow) {
          this.slow = false;
          await new Promise((r) => setTimeout(r, 2_500));
        }
        return super.getDeliveryTarget(merchantId, now);
      }
    }
    const fleet = await new MerchantServer().listen();
    const engine = await startEngine(
      { CONFIRMA_ATTEMPT_TIMEOUT_MS: '1000', CONFIRMA_LEASE_MS: '3000', CONFIRMA_POLL_MS: '100' },
      (file) => new SlowFirstTarget({ file }),
    );
    try {
      const merchantId = await slowMerchant(engine, fleet, 'late', 800);
      const txIds = await ingest(engine, merchantId, 1);
      await waitFor('delivered', async () => (await states(engine, txIds)).every((s) => s === 'delivered'), 30_000);
      assert.equal(fleet.maxOpen.get('late'), 1, 'the merchant saw the confirmation twice at once');
      assert.equal(fleet.deliveries('late').length, 1);
      assert.equal(await engine.app.metrics.staleOutcomes.get(), 0);
    } finally {
      await engine.stop();
      await fleet.close();
    }
  });
});
