import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CircuitBreaker } from '../src/dispatch/breaker.js';

const T0 = 1_000_000;

function tripped(opts = { failureThreshold: 3, openMs: 1000, maxOpenMs: 5000 }): CircuitBreaker {
  const b = new CircuitBreaker(opts);
  for (let i = 0; i < opts.failureThreshold; i++) b.onFailure(T0);
  return b;
}

describe('CircuitBreaker', () => {
  it('starts closed and lets everything through', () => {
    const b = new CircuitBreaker();
    assert.equal(b.state, 'closed');
    for (let i = 0; i < 100; i++) assert.equal(b.canSend(T0 + i), true);
  });

  it('opens after failureThreshold consecutive failures (default 10), not before', () => {
    const b = new CircuitBreaker();
    for (let i = 0; i < 9; i++) b.onFailure(T0);
    assert.equal(b.state, 'closed');
    b.onFailure(T0);
    assert.equal(b.state, 'open');
    assert.equal(b.nextProbeAt, T0 + 30_000);
    assert.equal(b.canSend(T0 + 29_999), false);
  });

  it('a success in between resets the count', () => {
    const b = new CircuitBreaker({ failureThreshold: 3 });
    b.onFailure(T0);
    b.onFailure(T0);
    b.onSuccess();
    b.onFailure(T0);
    b.onFailure(T0);
    assert.equal(b.state, 'closed');
    b.onFailure(T0);
    assert.equal(b.state, 'open');
  });

  it('half-open allows exactly one probe', () => {
    const b = tripped();
    assert.equal(b.canSend(T0 + 999), false);
    assert.equal(b.canSend(T0 + 1000), true);
    assert.equal(b.state, 'half_open');
    assert.equal(b.canSend(T0 + 1000), false);
    assert.equal(b.canSend(T0 + 50_000), false);
  });

  it('a successful probe closes the circuit and resets the wait', () => {
    const b = tripped();
    assert.equal(b.canSend(T0 + 1000), true);
    b.onFailure(T0 + 1000); // probe failed: wait 2000
    assert.equal(b.canSend(T0 + 3000), true);
    b.onSuccess();
    assert.equal(b.state, 'closed');
    assert.equal(b.canSend(T0 + 3001), true);
    for (let i = 0; i < 3; i++) b.onFailure(T0 + 4000);
    assert.equal(b.nextProbeAt, T0 + 4000 + 1000, 'wait is back to openMs');
  });

  it('a failed probe reopens, doubling the wait up to maxOpenMs', () => {
    const b = tripped();
    let now = T0;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      now = b.nextProbeAt;
      assert.equal(b.canSend(now), true);
      b.onFailure(now);
      assert.equal(b.state, 'open');
      waits.push(b.nextProbeAt - now);
    }
    assert.deepEqual(waits, [2000, 4000, 5000, 5000, 5000, 5000]);
  });

  it('the default maximum wait is 10 minutes', () => {
    const d = new CircuitBreaker({ failureThreshold: 1 });
    d.onFailure(T0);
    let now = T0;
    for (let i = 0; i < 12; i++) {
      now = d.nextProbeAt;
      d.canSend(now);
      d.onFailure(now);
    }
    assert.equal(d.nextProbeAt - now, 600_000);
  });

  it('ignores late results while open', () => {
    const b = tripped();
    b.onSuccess();
    assert.equal(b.state, 'open');
    b.onFailure(T0 + 900);
    assert.equal(b.nextProbeAt, T0 + 1000, 'a late failure does not extend the wait');
  });

  it('rejects nonsense options', () => {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: 10, maxOpenMs: 5 }), RangeError);
  });

  it('never lets more than one request through while not closed (property)', () => {
    type Op = { op: 'send' | 'ok' | 'fail'; dt: number };
    const ops = fc.array(
      fc.record({ op: fc.constantFrom<'send' | 'ok' | 'fail'>('send', 'ok', 'fail'), dt: fc.nat(3000) }),
      { maxLength: 200 },
    );
    fc.assert(
      fc.property(ops, (list: Op[]) => {
        const b = new CircuitBreaker({ failureThreshold: 2, openMs: 500, maxOpenMs: 4000 });
        let now = T0;
        let probesSinceResult = 0;
        for (const { op, dt } of list) {
          now += dt;
          const before = b.state;
          if (op === 'send') {
            const allowed = b.canSend(now);
            if (before !== 'closed' && allowed) probesSinceResult++;
            assert.ok(probesSinceResult <= 1, 'at most one probe per open period');
            if (before === 'open' && now < b.nextProbeAt) assert.equal(allowed, false);
          } else {
            if (op === 'ok') b.onSuccess();
            else b.onFailure(now);
            if (before === 'half_open') probesSinceResult = 0;
          }
          if (b.state === 'open') assert.ok(b.nextProbeAt > 0 && b.nextProbeAt - now <= 4000);
        }
      }),
    );
  });
});
