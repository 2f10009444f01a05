import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startEngine } from './helpers/engine.js';

/** The dispatcher's phases (idle → running → stopping → stopped, see dispatcher.ts) and the transitions it asserts. */
describe('dispatcher phases', () => {
  it('runs once: claimers only while running, one shutdown for every stop, no start after stop', async () => {
    const engine = await startEngine();
    try {
      const { dispatcher } = engine.app;
      const claimer = dispatcher.ingestClaimer();
      assert.ok(claimer !== undefined, 'a running dispatcher hands out claimers');
      claimer.settle([]);
      dispatcher.start(); // again while running: nothing
      const first = dispatcher.stop(1_000);
      assert.equal(dispatcher.stop(1_000), first, 'a second stop waits for the same shutdown');
      assert.equal(dispatcher.ingestClaimer(), undefined, 'no claimer while stopping');
      await first;
      assert.equal(dispatcher.ingestClaimer(), undefined, 'no claimer once stopped');
      assert.throws(() => dispatcher.start(), /dispatcher: stopped → running is not allowed/);
    } finally {
      await engine.stop();
    }
  });
});
