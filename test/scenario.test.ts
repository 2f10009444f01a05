import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetSockets, steadyCpu, type Tick } from '../src/sim/scenario.js';

/** A once-a-second sample with only what `steadyCpu` reads. */
function tick(at: number, accepted: number, engineCpuSec: number, harnessCpuSec: number): Tick {
  return {
    at,
    harnessCpuSec,
    engine: { cpuSec: engineCpuSec, rssBytes: 0, peakRssBytes: 0 },
    fleet: { accepted },
  } as unknown as Tick;
}

describe('scenario: CPU over the steady window', () => {
  it('counts only samples inside the window, per second and per delivered confirmation', () => {
    const ticks = [
      tick(1_000, 0, 0.5, 0.1), // warm-up: before the window
      tick(2_000, 1_000, 1.0, 0.3),
      tick(3_000, 3_000, 2.0, 0.8),
      tick(4_000, 5_000, 3.0, 1.3),
      tick(5_000, 5_500, 9.0, 9.0), // drain: after the window
    ];
    const s = steadyCpu(ticks, 2_000, 4_500);
    assert.ok(s !== undefined);
    assert.equal(s.seconds, 2);
    assert.equal(s.confirmed, 4_000);
    assert.equal(s.engineCores, 1); // 2 s of CPU over 2 s
    assert.equal(s.harnessCores, 0.5);
    assert.equal(s.engineUsPerConfirmation, 500); // 2 s / 4,000
    assert.equal(s.harnessUsPerConfirmation, 250);
  });

  it('has nothing to say with fewer than two samples in the window', () => {
    assert.equal(steadyCpu([tick(1_000, 0, 0, 0)], 0, 2_000), undefined);
    assert.equal(steadyCpu([tick(1_000, 0, 0, 0), tick(2_000, 10, 1, 1)], 1_500, 3_000), undefined);
  });
});

describe('scenario: sockets to the fleet', () => {
  it('gives the instant fleet 256 per dispatching process, whatever the merchants', () => {
    assert.equal(fleetSockets('instant', 50, 32, 1), 256);
    assert.equal(fleetSockets('instant', 50, 32, 2), 256);
  });

  it('gives slow profiles all lanes together, 256 to 1,024, shared by the dispatching processes', () => {
    assert.equal(fleetSockets('realistic', 5, 32, 1), 256);
    assert.equal(fleetSockets('realistic', 20, 32, 1), 640);
    assert.equal(fleetSockets('realistic', 200, 32, 1), 1024);
    assert.equal(fleetSockets('realistic', 200, 32, 2), 512);
    assert.equal(fleetSockets('chaos', 200, 32, 100), 64);
  });
});
