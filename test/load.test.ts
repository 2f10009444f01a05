import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Fleet } from '../src/sim/fleet.js';
import { Load, localFleet } from '../src/sim/load.js';
import { ADMIN_KEY, startEngine, waitFor } from './helpers/engine.js';

it('the load generator honours 429 Retry-After: throttled batches and approvals are sent again, none lost', async () => {
  const fleet = await new Fleet({ merchants: 2, profile: 'instant' }).listen();
  // A key limit far below what the load offers (100 transactions/s in batches every 20 ms, half of
  // them approved 100 ms later), so most requests are answered 429 at first.
  const engine = await startEngine({ CONFIRMA_RATE_LIMIT: '20', CONFIRMA_RATE_LIMIT_BURST: '20' });
  const load = new Load({
    url: engine.url,
    adminKey: ADMIN_KEY,
    rate: 100,
    durationSec: 1,
    merchants: 2,
    fleet: localFleet(fleet),
    pendingShare: 0.5,
    approveAfterMs: 100,
  });
  try {
    await load.setup();
    const p = await load.run();
    assert.ok(p.throttled > 0, 'the engine answered 429 at least once');
    assert.equal(p.errors, 0, load.errorSamples.join(' | '));
    assert.equal(p.refused, 0);
    assert.equal(p.acknowledged, p.sent, 'every throttled batch was sent again and acknowledged');
    assert.ok(p.expectedConfirmations > p.acknowledged, 'approvals were sent too');
    await waitFor('every confirmation at the fleet', () => fleet.acceptedCount >= p.expectedConfirmations);
    assert.equal(fleet.acceptedCount, p.expectedConfirmations);
  } finally {
    await load.close();
    await engine.stop();
    await fleet.close();
  }
});
