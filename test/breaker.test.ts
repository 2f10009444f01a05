import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigError, loadConfig } from '../src/config.js';
import { CircuitBreaker, type BreakerOptions } from '../src/dispatch/breaker.js';
import { FailureWindow } from '../src/dispatch/failure-window.js';

const T0 = 1_000_000;

const SMALL: BreakerOptions = { minAttempts: 4, failureRatePercent: 50, windowMs: 10_000, openMs: 1000, maxOpenMs: 5000 };

function tripped(opts: BreakerOptions = SMALL): CircuitBreaker {
  const b = new CircuitBreaker(opts);
  for (let i = 0; i < (opts.minAttempts ?? 20); i++) b.onFailure(T0);
  assert.equal(b.state, 'open');
  return b;
}

describe('FailureWindow', () => {
  it('counts attempts and failures over the window and forgets what slid out', () => {
    const w = new FailureWindow(3_000);
    w.record(T0, true);
    w.record(T0 + 1_000, false);
    w.record(T0 + 2_999, true);
    assert.deepEqual(w.counts(T0 + 2_999), { attempts: 3, failures: 2 });
    assert.deepEqual(w.counts(T0 + 3_000), { attempts: 2, failures: 1 }, 'the first second slid out');
    assert.deepEqual(w.counts(T0 + 4_000), { attempts: 1, failures: 1 });
    assert.deepEqual(w.counts(T0 + 60_000), { attempts: 0, failures: 0 }, 'a gap longer than the window empties it');
    w.record(T0 + 60_000, true);
    assert.deepEqual(w.counts(T0 + 60_000), { attempts: 1, failures: 1 });
  });

  it('counts into the newest second when the clock steps back, and clears', () => {
    const w = new FailureWindow(2_000);
    w.record(T0 + 5_000, false);
    w.record(T0, true); // the clock stepped back 5 s
    assert.deepEqual(w.counts(T0 + 5_000), { attempts: 2, failures: 1 });
    assert.deepEqual(w.counts(T0 + 7_000), { attempts: 0, failures: 0 });
    w.record(T0 + 7_000, true);
    w.clear();
    assert.deepEqual(w.counts(T0 + 7_000), { attempts: 0, failures: 0 });
  });

  it('refuses a window shorter than one second', () => {
    assert.throws(() => new FailureWindow(999), RangeError);
  });
});

describe('CircuitBreaker', () => {
  it('starts closed and lets everything through', () => {
    const b = new CircuitBreaker();
    assert.equal(b.state, 'closed');
    for (let i = 0; i < 100; i++) assert.equal(b.canSend(T0 + i), true);
    assert.deepEqual(b.snapshot(T0), {
      state: 'closed',
      since: null,
      nextProbeAt: null,
      failedProbes: 0,
      window: { attempts: 0, failures: 0 },
    });
  });

  it('a merchant that is down opens it once the window holds minAttempts (default 20), not before', () => {
    const b = new CircuitBreaker();
    for (let i = 0; i < 19; i++) b.onFailure(T0 + i);
    assert.equal(b.state, 'closed', '19 attempts decide nothing, however many failed');
    b.onFailure(T0 + 19);
    assert.equal(b.state, 'open');
    assert.equal(b.nextProbeAt, T0 + 19 + 30_000);
    assert.equal(b.canSend(T0 + 19 + 29_999), false);
    assert.deepEqual(b.snapshot(T0 + 20), {
      state: 'open',
      since: T0 + 19,
      nextProbeAt: T0 + 19 + 30_000,
      failedProbes: 0,
      window: { attempts: 20, failures: 20 },
    });
  });

  it('opens when the failures reach the rate (default 50%) of the window, first attempts and retries alike', () => {
    const b = new CircuitBreaker();
    for (let i = 0; i < 11; i++) b.onSuccess(T0);
    for (let i = 0; i < 10; i++) b.onFailure(T0);
    assert.equal(b.state, 'closed', '10 of 21 is under 50%');
    b.onFailure(T0);
    assert.equal(b.state, 'open', '11 of 22 is 50%');
    assert.deepEqual(b.snapshot(T0).window, { attempts: 22, failures: 11 });
  });

  it('honours another rate', () => {
    const b = new CircuitBreaker({ failureRatePercent: 90, minAttempts: 10 });
    for (let i = 0; i < 2; i++) b.onSuccess(T0);
    for (let i = 0; i < 17; i++) b.onFailure(T0);
    assert.equal(b.state, 'closed', '17 of 19 is 89%');
    b.onFailure(T0);
    assert.equal(b.state, 'open', '18 of 20 is 90%');
  });

  // Regression (issue 13 §1): ten consecutive failures opened it, and a merchant's retries come due
  // together, so a few payloads it refuses failed ten in a row while it accepted 96% of its traffic.
  it('a poisoned minority never opens it, even when its retries fail in a row', () => {
    const b = new CircuitBreaker();
    let now = T0;
    for (let second = 0; second < 120; second++) {
      now = T0 + second * 1_000;
      // Each second: 100 first attempts, 4 of them refused; then last second's 4 refused ones,
      // retried, and 11 more of the backlog's retries, all refused: 15 failures in a row.
      for (let i = 0; i < 100; i++) {
        if (i % 25 === 24) b.onFailure(now);
        else b.onSuccess(now);
      }
      for (let i = 0; i < 15; i++) b.onFailure(now + 500);
      assert.equal(b.state, 'closed', `second ${second}`);
    }
    const { attempts, failures } = b.snapshot(now + 500).window;
    assert.equal(attempts, 30 * 115);
    assert.equal(failures, 30 * 19);
  });

  it('counts only the window: failures that slid out no longer count', () => {
    const b = new CircuitBreaker(); // 30 s window
    for (let i = 0; i < 15; i++) b.onFailure(T0);
    for (let i = 0; i < 15; i++) b.onFailure(T0 + 30_000);
    assert.equal(b.state, 'closed', 'the first 15 left the window before the next 15 came');
    assert.deepEqual(b.snapshot(T0 + 30_000).window, { attempts: 15, failures: 15 });
    for (let i = 0; i < 5; i++) b.onFailure(T0 + 45_000);
    assert.equal(b.state, 'open');
    assert.deepEqual(b.snapshot(T0 + 45_000).window, { attempts: 20, failures: 20 });
  });

  it('half-open allows exactly one probe', () => {
    const b = tripped();
    assert.equal(b.probeDue(T0 + 999), false);
    assert.equal(b.canSend(T0 + 999), false);
    assert.equal(b.probeDue(T0 + 1000), true);
    assert.equal(b.canSend(T0 + 1000), true);
    assert.equal(b.state, 'half_open');
    assert.equal(b.probeDue(T0 + 1000), false);
    assert.equal(b.canSend(T0 + 1000), false);
    assert.equal(b.canSend(T0 + 50_000), false);
    assert.equal(b.snapshot(T0 + 1000).since, T0 + 1000);
    assert.equal(b.snapshot(T0 + 1000).nextProbeAt, null);
  });

  it('a successful probe closes the circuit, resets the wait and starts the window afresh', () => {
    const b = tripped();
    assert.equal(b.canSend(T0 + 1000), true);
    b.onFailure(T0 + 1000); // probe failed: wait 2000
    assert.equal(b.snapshot(T0 + 1000).failedProbes, 1);
    assert.equal(b.canSend(T0 + 3000), true);
    b.onSuccess(T0 + 3000);
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.snapshot(T0 + 3000), {
      state: 'closed',
      since: T0 + 3000,
      nextProbeAt: null,
      failedProbes: 0,
      window: { attempts: 0, failures: 0 },
    });
    b.onFailure(T0 + 3001);
    assert.equal(b.state, 'closed', 'the failures that opened it do not count again');
    for (let i = 0; i < 3; i++) b.onFailure(T0 + 4000);
    assert.equal(b.state, 'open');
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
    assert.equal(b.snapshot(now).failedProbes, 6);
  });

  it('the default maximum wait is 10 minutes', () => {
    const d = new CircuitBreaker({ minAttempts: 1 });
    d.onFailure(T0);
    let now = T0;
    for (let i = 0; i < 12; i++) {
      now = d.nextProbeAt;
      d.canSend(now);
      d.onFailure(now);
    }
    assert.equal(d.nextProbeAt - now, 600_000);
  });

  it('a probe that was never sent settles it: open again, next probe soon, wait not doubled', () => {
    const b = tripped({ ...SMALL, unsentProbeRetryMs: 200 });
    assert.equal(b.canSend(T0 + 1000), true);
    b.onNotSent(T0 + 1000);
    assert.equal(b.state, 'open', 'not left half_open');
    assert.equal(b.nextProbeAt, T0 + 1200);
    assert.equal(b.snapshot(T0 + 1000).failedProbes, 0, 'no verdict');
    assert.equal(b.canSend(T0 + 1199), false);
    assert.equal(b.canSend(T0 + 1200), true);
    b.onFailure(T0 + 1200);
    assert.equal(b.nextProbeAt - (T0 + 1200), 2000, 'the first failed probe doubles openMs, as if the unsent one never was');
    assert.equal(b.canSend(T0 + 3200), true);
    b.onSuccess(T0 + 3200);
    assert.equal(b.state, 'closed');
  });

  it('the default retry of an unsent probe is 1 s, and never longer than openMs', () => {
    const b = tripped({ ...SMALL, openMs: 30_000, maxOpenMs: 600_000 });
    b.canSend(T0 + 30_000);
    b.onNotSent(T0 + 30_000);
    assert.equal(b.nextProbeAt, T0 + 31_000);
    const short = tripped({ ...SMALL, openMs: 300 });
    short.canSend(T0 + 300);
    short.onNotSent(T0 + 300);
    assert.equal(short.nextProbeAt, T0 + 600);
  });

  it('attempts not sent while closed or open count for nothing', () => {
    const b = new CircuitBreaker(SMALL);
    for (let i = 0; i < 100; i++) b.onNotSent(T0);
    assert.deepEqual(b.snapshot(T0).window, { attempts: 0, failures: 0 });
    const o = tripped();
    o.onNotSent(T0 + 500);
    assert.equal(o.state, 'open');
    assert.equal(o.nextProbeAt, T0 + 1000);
  });

  it('ignores late results while open', () => {
    const b = tripped();
    b.onSuccess(T0 + 10);
    assert.equal(b.state, 'open');
    b.onFailure(T0 + 900);
    assert.equal(b.nextProbeAt, T0 + 1000, 'a late failure does not extend the wait');
    assert.deepEqual(b.snapshot(T0 + 900).window, { attempts: 4, failures: 4 }, 'the counts that opened it');
  });

  it('rejects nonsense options', () => {
    assert.throws(() => new CircuitBreaker({ minAttempts: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ minAttempts: 1.5 }), RangeError);
    assert.throws(() => new CircuitBreaker({ failureRatePercent: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ failureRatePercent: 101 }), RangeError);
    assert.throws(() => new CircuitBreaker({ windowMs: 500 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: 10, maxOpenMs: 5 }), RangeError);
    assert.throws(() => new CircuitBreaker({ unsentProbeRetryMs: 0 }), RangeError);
  });

  it('never lets more than one request through while not closed, and every probe settles (property)', () => {
    type Op = { op: 'send' | 'ok' | 'fail' | 'unsent'; dt: number };
    const ops = fc.array(fc.record({ op: fc.constantFrom<Op['op']>('send', 'ok', 'fail', 'unsent'), dt: fc.nat(3000) }), {
      maxLength: 300,
    });
    fc.assert(
      fc.property(ops, (list: Op[]) => {
        const b = new CircuitBreaker({
          minAttempts: 3,
          failureRatePercent: 60,
          windowMs: 5_000,
          openMs: 500,
          maxOpenMs: 4000,
          unsentProbeRetryMs: 100,
        });
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
            if (before === 'half_open') assert.equal(allowed, false);
          } else {
            if (op === 'ok') b.onSuccess(now);
            else if (op === 'fail') b.onFailure(now);
            else b.onNotSent(now);
            // Whatever the verdict, a settled probe leaves half_open.
            if (before === 'half_open') {
              assert.notEqual(b.state, 'half_open');
              probesSinceResult = 0;
            }
          }
          const snap = b.snapshot(now);
          assert.ok(snap.window.failures <= snap.window.attempts);
          if (b.state === 'open') assert.ok(b.nextProbeAt > 0 && b.nextProbeAt - now <= 4000);
          if (b.state !== 'closed') assert.ok(snap.since !== null && snap.since <= now);
        }
      }),
    );
  });
});

describe('breaker settings', () => {
  it('defaults: 50% of at least 20 attempts in 30 s, first open period 30 s', () => {
    const c = loadConfig({});
    assert.deepEqual([c.breakerFailureRate, c.breakerMinAttempts, c.breakerWindowMs, c.breakerOpenMs], [50, 20, 30_000, 30_000]);
    const set = loadConfig({
      CONFIRMA_BREAKER_FAILURE_RATE: '80',
      CONFIRMA_BREAKER_MIN_ATTEMPTS: '1000000',
      CONFIRMA_BREAKER_WINDOW_MS: '60000',
    });
    assert.deepEqual([set.breakerFailureRate, set.breakerMinAttempts, set.breakerWindowMs], [80, 1_000_000, 60_000]);
  });

  it('refuses out-of-range values, naming the variable', () => {
    assert.throws(() => loadConfig({ CONFIRMA_BREAKER_FAILURE_RATE: '0' }), /CONFIRMA_BREAKER_FAILURE_RATE/);
    assert.throws(() => loadConfig({ CONFIRMA_BREAKER_FAILURE_RATE: '101' }), /CONFIRMA_BREAKER_FAILURE_RATE/);
    assert.throws(() => loadConfig({ CONFIRMA_BREAKER_MIN_ATTEMPTS: '0' }), /CONFIRMA_BREAKER_MIN_ATTEMPTS/);
    assert.throws(() => loadConfig({ CONFIRMA_BREAKER_WINDOW_MS: '999' }), /CONFIRMA_BREAKER_WINDOW_MS/);
  });

  // It counted consecutive failures; silently ignoring it would turn back on a breaker an operator
  // had set out of the way (as our benchmarks did with 10000), and reading it as something else
  // would be a guess.
  it('refuses CONFIRMA_BREAKER_THRESHOLD at start-up, naming its replacements', () => {
    assert.throws(
      () => loadConfig({ CONFIRMA_BREAKER_THRESHOLD: '10000' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /CONFIRMA_BREAKER_THRESHOLD is no longer read/.test(err.message) &&
        /CONFIRMA_BREAKER_FAILURE_RATE/.test(err.message) &&
        /CONFIRMA_BREAKER_MIN_ATTEMPTS/.test(err.message) &&
        /CONFIRMA_BREAKER_WINDOW_MS/.test(err.message),
    );
    assert.equal(loadConfig({ CONFIRMA_BREAKER_THRESHOLD: '' }).breakerMinAttempts, 20, 'empty counts as unset');
  });
});
