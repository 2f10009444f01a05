import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_RETRY_SCHEDULE_SEC,
  classify,
  nextRetryDelayMs,
  parseRetryAfter,
  parseRetrySchedule,
} from '../src/dispatch/backoff.js';
import type { AttemptResult } from '../src/dispatch/outcome.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const mid = (): number => 0.5; // no jitter

function result(over: Partial<AttemptResult>): AttemptResult {
  return { ok: false, durationMs: 10, startedAt: NOW - 10, ...over };
}

describe('DEFAULT_RETRY_SCHEDULE_SEC', () => {
  it('is immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    assert.deepEqual([...DEFAULT_RETRY_SCHEDULE_SEC], [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
  });
});

describe('parseRetrySchedule', () => {
  it('parses a comma list, tolerating spaces', () => {
    assert.deepEqual(parseRetrySchedule('0, 5,300 ,1800'), [0, 5, 300, 1800]);
  });
  it('accepts the limits: 20 entries, 7 days each', () => {
    assert.equal(parseRetrySchedule(Array(20).fill('604800').join(',')).length, 20);
  });
  for (const bad of ['', ' ', '1,,2', '1.5', '-1', 'abc', '5s', '604801', Array(21).fill('1').join(','), '1e3', '0x10']) {
    it(`rejects ${JSON.stringify(bad.length > 30 ? `${bad.slice(0, 20)}…` : bad)} with a clear message`, () => {
      assert.throws(
        () => parseRetrySchedule(bad),
        (e: unknown) => e instanceof Error && /retry schedule/.test(e.message),
      );
    });
  }
  it('round-trips any valid schedule (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 604800 }), { minLength: 1, maxLength: 20 }), (s) => {
        assert.deepEqual(parseRetrySchedule(s.join(',')), s);
      }),
    );
  });
});

describe('nextRetryDelayMs', () => {
  it('uses schedule[attemptsMade] seconds, unjittered at random() = 0.5', () => {
    assert.equal(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SEC, 0, mid), 0);
    assert.equal(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SEC, 1, mid), 5000);
    assert.equal(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SEC, 2, mid), 300_000);
    assert.equal(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SEC, 7, mid), 36_000_000);
  });
  it('jitter spans -20% … +20%', () => {
    assert.equal(
      nextRetryDelayMs([0, 100], 1, () => 0),
      80_000,
    );
    assert.equal(
      nextRetryDelayMs([0, 100], 1, () => 0.99),
      119_600,
    );
    assert.equal(
      nextRetryDelayMs([0, 100], 1, () => 0.25),
      90_000,
    );
  });
  it('returns null once the schedule is exhausted', () => {
    assert.equal(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SEC, 8), null);
    assert.equal(nextRetryDelayMs([0], 1), null);
  });
  it('throws on a negative or fractional attempt count (a programmer error)', () => {
    assert.throws(() => nextRetryDelayMs([0], -1), RangeError);
    assert.throws(() => nextRetryDelayMs([0], 0.5), RangeError);
  });

  const schedules = fc.array(fc.integer({ min: 0, max: 604800 }), { minLength: 1, maxLength: 20 });
  const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('jitter stays within ±20% of the scheduled delay (property)', () => {
    fc.assert(
      fc.property(schedules, fc.nat(25), unit, (s, n, r) => {
        fc.pre(n < s.length);
        const d = nextRetryDelayMs(s, n, () => r);
        const base = (s[n] ?? 0) * 1000;
        assert.ok(d !== null);
        assert.ok(d >= Math.floor(base * 0.8) && d <= Math.ceil(base * 1.2), `${d} vs ${base}`);
      }),
    );
  });
  it('delays are never negative (property)', () => {
    fc.assert(
      fc.property(schedules, fc.nat(25), unit, (s, n, r) => {
        const d = nextRetryDelayMs(s, n, () => r);
        assert.ok(d === null || d >= 0);
      }),
    );
  });
  it('is exhausted exactly after schedule.length attempts (property)', () => {
    fc.assert(
      fc.property(schedules, unit, (s, r) => {
        for (let n = 0; n < s.length; n++)
          assert.notEqual(
            nextRetryDelayMs(s, n, () => r),
            null,
          );
        assert.equal(
          nextRetryDelayMs(s, s.length, () => r),
          null,
        );
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  const cap = 3_600_000;
  it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter('2', NOW, cap), 2000);
    assert.equal(parseRetryAfter(' 120 ', NOW, cap), 120_000);
    assert.equal(parseRetryAfter('0', NOW, cap), 0);
  });
  it('reads the three HTTP-date forms', () => {
    const at = new Date(NOW + 90_000);
    assert.equal(parseRetryAfter(at.toUTCString(), NOW, cap), 90_000);
    assert.equal(parseRetryAfter('Wednesday, 15-Jan-25 12:01:30 GMT', NOW, cap), 90_000);
    assert.equal(parseRetryAfter('Wed Jan 15 12:01:30 2025', NOW, cap), 90_000);
  });
  it('caps at capMs', () => {
    assert.equal(parseRetryAfter('999999999', NOW, cap), cap);
    assert.equal(parseRetryAfter(new Date(NOW + 10 * cap).toUTCString(), NOW, cap), cap);
  });
  it('a date in the past means now (0), never negative', () => {
    assert.equal(parseRetryAfter(new Date(NOW - 60_000).toUTCString(), NOW, cap), 0);
  });
  for (const bad of [
    undefined,
    '',
    '-5',
    '1.5',
    'soon',
    '2025-01-15T12:00:00Z',
    '5 seconds',
    'Mon, 99 Foo 2025 99:99:99 GMT',
    '1e3',
  ]) {
    it(`ignores ${JSON.stringify(bad)}`, () => assert.equal(parseRetryAfter(bad, NOW, cap), undefined));
  }
  it('is never negative and never above the cap (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: -10, max: 10 ** 9 }), (v, now, c) => {
        const r = parseRetryAfter(v, now, c);
        assert.ok(r === undefined || (r >= 0 && r <= Math.max(c, 0)));
      }),
    );
  });
});

describe('classify', () => {
  const ctx = { attemptsMade: 1, schedule: DEFAULT_RETRY_SCHEDULE_SEC, nowMs: NOW, retryAfterCapMs: 3_600_000, random: mid };

  it('2xx → delivered', () => {
    assert.deepEqual(classify(result({ ok: true, statusCode: 204 }), ctx), { kind: 'delivered' });
  });
  it('410 → disable', () => {
    assert.deepEqual(classify(result({ statusCode: 410, errorKind: 'http_status' }), ctx), {
      kind: 'disable',
      reason: 'http 410',
    });
  });
  it('500 → retry after the scheduled delay, reason "http 500"', () => {
    assert.deepEqual(classify(result({ statusCode: 500, errorKind: 'http_status' }), ctx), {
      kind: 'retry',
      at: NOW + 5000,
      reason: 'http 500',
    });
  });
  it('timeout → retry with reason "timeout"', () => {
    const o = classify(result({ errorKind: 'timeout' }), { ...ctx, attemptsMade: 2 });
    assert.deepEqual(o, { kind: 'retry', at: NOW + 300_000, reason: 'timeout' });
  });
  it('a 3xx is a failure, not a success', () => {
    assert.equal(classify(result({ statusCode: 302, errorKind: 'http_status' }), ctx).kind, 'retry');
  });
  it('429 with Retry-After retries at now + Retry-After instead of the schedule', () => {
    const o = classify(result({ statusCode: 429, errorKind: 'http_status', retryAfterMs: 2000 }), { ...ctx, attemptsMade: 3 });
    assert.deepEqual(o, { kind: 'retry', at: NOW + 2000, reason: 'http 429' });
  });
  it('503 with Retry-After is capped at retryAfterCapMs', () => {
    const o = classify(result({ statusCode: 503, errorKind: 'http_status', retryAfterMs: 10 ** 10 }), ctx);
    assert.deepEqual(o, { kind: 'retry', at: NOW + 3_600_000, reason: 'http 503' });
  });
  it('Retry-After on a 500 is not honoured', () => {
    const o = classify(result({ statusCode: 500, errorKind: 'http_status', retryAfterMs: 1 }), ctx);
    assert.deepEqual(o, { kind: 'retry', at: NOW + 5000, reason: 'http 500' });
  });
  it('429 with Retry-After is still dead once the schedule is exhausted', () => {
    const o = classify(result({ statusCode: 429, errorKind: 'http_status', retryAfterMs: 1000 }), { ...ctx, attemptsMade: 8 });
    assert.deepEqual(o, { kind: 'dead', reason: 'http 429' });
  });
  it('dead after the last scheduled attempt', () => {
    assert.deepEqual(classify(result({ errorKind: 'connect' }), { ...ctx, attemptsMade: 8 }), {
      kind: 'dead',
      reason: 'connect',
    });
  });
  it('every failure ends dead after schedule.length attempts, and retries are never in the past (property)', () => {
    const kinds = ['timeout', 'connect', 'reset', 'dns', 'tls', 'blocked_destination', 'other'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 86400 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(...kinds),
        fc.option(
          fc.integer({ min: 400, max: 599 }).filter((s) => s !== 410),
          { nil: undefined },
        ),
        fc.option(fc.integer({ min: -1000, max: 10 ** 9 }), { nil: undefined }),
        (schedule, kind, statusCode, retryAfterMs) => {
          const r = result(
            statusCode === undefined ? { errorKind: kind } : { statusCode, errorKind: 'http_status', retryAfterMs },
          );
          for (let n = 1; n <= schedule.length; n++) {
            const o = classify(r, { ...ctx, schedule, attemptsMade: n });
            if (n < schedule.length) {
              assert.equal(o.kind, 'retry');
              if (o.kind === 'retry') assert.ok(o.at >= NOW);
            } else {
              assert.equal(o.kind, 'dead');
            }
          }
        },
      ),
    );
  });
});
