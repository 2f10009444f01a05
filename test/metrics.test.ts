import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { Metrics } from '../src/observe/metrics.js';
import { StoreCounts } from '../src/observe/store-counts.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';
import { PG_URL, pgSkip, withSchema } from './helpers/pg.js';

/** Samples of an exposition text, keyed by `name{labels}` as printed (the dashboard's reading). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

async function scrape(
  engine: Engine,
): Promise<{ status: number; type: string | null; text: string; m: Map<string, number>; ms: number }> {
  const t0 = Date.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(engine.url + '/metrics', { signal: AbortSignal.timeout(10_000) });
    text = await res.text();
  } catch (err) {
    throw new Error(`/metrics did not answer in 10 s: ${(err as Error).message}`);
  }
  return { status: res.status, type: res.headers.get('content-type'), text, m: samples(text), ms: Date.now() - t0 };
}

function byState(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const s = /^confirma_confirmations\{state="(\w+)"\}$/.exec(k);
    if (s !== null) out[s[1] as string] = v;
  }
  return out;
}

/** What a scrape serves whatever the store does: the node's own metrics and the process's. */
function assertEveryOtherMetric(text: string): void {
  for (const line of [
    /^confirma_attempts_total\{outcome="retry"\} [1-9]/m,
    /^confirma_ingested_total [1-9]/m,
    /^confirma_attempt_duration_seconds_bucket\{le="\+Inf"\} [1-9]/m,
    /^confirma_commit_batch_size_count [1-9]/m,
    /^confirma_in_flight \d+/m,
    /^confirma_ingest_backlog \d+/m,
    /^confirma_event_loop_delay_seconds\{quantile="0.99"\} \S+/m,
    /^process_cpu_seconds_total \S+/m,
    /^nodejs_heap_size_used_bytes \d+/m,
  ]) {
    assert.match(text, line);
  }
}

describe('/metrics on prom-client', () => {
  it("keeps today's names, types, help texts and buckets, and adds the process's own (CPU, memory, GC)", async () => {
    const metrics = new Metrics();
    metrics.attempts.inc({ outcome: 'delivered' });
    metrics.ingested.inc(undefined, 7);
    metrics.staleOutcomes.inc(undefined, 2);
    metrics.attemptSeconds.observe(0.2);
    metrics.commitBatch.observe(3);
    metrics.gauge('confirma_in_flight', 'Delivery requests in flight on this node.', () => 4);
    const text = await metrics.render();
    const expected: Array<[string, string, string]> = [
      ['confirma_attempts_total', 'counter', 'Delivery attempts by outcome.'],
      ['confirma_ingested_total', 'counter', 'Transactions and status changes committed.'],
      ['confirma_stale_outcomes_total', 'counter', 'Outcomes dropped because the lease had lapsed.'],
      ['confirma_attempt_duration_seconds', 'histogram', 'Wall time of one delivery attempt.'],
      ['confirma_commit_batch_size', 'histogram', 'Writes per group commit.'],
      ['confirma_in_flight', 'gauge', 'Delivery requests in flight on this node.'],
    ];
    for (const [name, type, help] of expected) {
      assert.ok(text.includes(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`), name);
    }
    const m = samples(text);
    assert.equal(m.get('confirma_attempts_total{outcome="delivered"}'), 1);
    assert.equal(m.get('confirma_ingested_total'), 7, 'inc(undefined, n) adds n');
    assert.equal(m.get('confirma_stale_outcomes_total'), 2);
    assert.equal(m.get('confirma_in_flight'), 4);
    const le = (name: string) => [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}`, 'gm'))].map((x) => x[1]);
    assert.deepEqual(le('confirma_attempt_duration_seconds'), [
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '30',
      '+Inf',
    ]);
    assert.deepEqual(le('confirma_commit_batch_size'), [
      '1',
      '2',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '+Inf',
    ]);
    assert.equal(m.get('confirma_attempt_duration_seconds_bucket{le="0.25"}'), 1);
    assert.equal(m.get('confirma_attempt_duration_seconds_bucket{le="0.1"}'), 0);
    assert.equal(m.get('confirma_commit_batch_size_sum'), 3);
    // prom-client's default metrics: the process, its heap, handles and GC.
    assert.match(text, /^process_cpu_seconds_total \S+$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds \S+$/m);
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  });

  it('escapes label values per the exposition format: quotes, backslashes and newlines', async () => {
    const metrics = new Metrics();
    metrics.gauge('confirma_test_labels', 'Label values that need escaping.', () => [
      [{ v: 'say "hi"' }, 1],
      [{ v: 'C:\\dir' }, 2],
      [{ v: 'two\nlines' }, 3],
    ]);
    metrics.attempts.inc({ outcome: 'a"b\\c\nd' });
    const text = await metrics.render();
    assert.ok(text.includes('confirma_test_labels{v="say \\"hi\\""} 1\n'), text);
    assert.ok(text.includes('confirma_test_labels{v="C:\\\\dir"} 2\n'));
    assert.ok(text.includes('confirma_test_labels{v="two\\nlines"} 3\n'));
    assert.ok(text.includes('confirma_attempts_total{outcome="a\\"b\\\\c\\nd"} 1\n'));
    // Every sample stays on one line: the newline never reaches the text unescaped.
    for (const line of text.split('\n')) assert.match(line, /^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+|)$/, line);
  });

  it('a gauge whose read throws: the scrape serves the rest, and the failure is reported', async () => {
    const failures: string[] = [];
    const metrics = new Metrics({ onCollectError: (name) => failures.push(name) });
    metrics.gauge('confirma_broken', 'Always fails.', () => {
      throw new Error('boom');
    });
    metrics.gauge('confirma_fine', 'Always 1.', async () => 1);
    const m = samples(await metrics.render());
    assert.equal(m.get('confirma_fine'), 1);
    assert.equal(m.has('confirma_broken'), false);
    assert.deepEqual(failures, ['confirma_broken']);
  });

  it('each node has a registry of its own: two in one process do not collide', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.gauge('confirma_in_flight', 'In flight.', () => 1);
    b.gauge('confirma_in_flight', 'In flight.', () => 2);
    a.attempts.inc({ outcome: 'retry' });
    assert.equal(samples(await a.render()).get('confirma_in_flight'), 1);
    const mb = samples(await b.render());
    assert.equal(mb.get('confirma_in_flight'), 2);
    assert.equal(mb.has('confirma_attempts_total{outcome="retry"}'), false);
  });
});

describe('StoreCounts', () => {
  it('a store that does not answer: one read at a time, a scrape waits at most the bound, the counts go on being served', async () => {
    let calls = 0;
    let answer: ((counts: Record<string, number>) => void) | undefined;
    const counts = new StoreCounts(
      () => {
        calls++;
        if (calls === 1) return Promise.resolve({ pending: 3 });
        if (calls === 2) return new Promise((resolve) => (answer = resolve));
        return Promise.resolve({ pending: 5 });
      },
      { everyMs: 0, waitMs: 100 },
    );
    const first = await counts.snapshot();
    assert.deepEqual(first, { counts: { pending: 3 }, ageSeconds: first.ageSeconds, up: true });
    const t0 = Date.now();
    const hung = await counts.snapshot();
    assert.ok(Date.now() - t0 >= 90, 'waited for the read');
    assert.deepEqual(hung.counts, { pending: 3 });
    assert.equal(hung.up, false);
    const again = await counts.snapshot();
    assert.equal(calls, 2, 'no second read behind the one the store holds');
    assert.equal(again.up, false);
    assert.ok((again.ageSeconds ?? 0) >= 0.09);
    // Once the store answers, reads (and up) resume.
    answer?.({ pending: 4 });
    await new Promise((resolve) => setImmediate(resolve));
    const back = await counts.snapshot();
    assert.equal(back.up, true);
    assert.equal(calls, 3);
    assert.deepEqual(back.counts, { pending: 5 });
  });

  it('a read that throws at once is a failed read, not one under way for ever', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    const counts = new StoreCounts(
      () => {
        calls++;
        if (calls === 1) throw new Error('closed');
        return Promise.resolve({ dead: 1 });
      },
      { everyMs: 0, waitMs: 1_000, onError: (err) => errors.push(err) },
    );
    assert.deepEqual(await counts.snapshot(), { counts: undefined, ageSeconds: undefined, up: false });
    assert.equal(errors.length, 1);
    assert.deepEqual((await counts.snapshot()).counts, { dead: 1 });
  });
});

describe('/metrics while the store is down', () => {
  it('SQLite store closed: 200 with every other metric and the last counts, their age, confirma_store_up 0', async () => {
    const engine = await startEngine();
    try {
      // A merchant whose port refuses: its confirmations stay open (waiting for a retry).
      const created = await engine.call('POST', '/v1/merchants', { name: 'down', url: 'http://127.0.0.1:9/confirm' });
      assert.equal(created.status, 201);
      for (let i = 0; i < 3; i++)
        assert.equal((await engine.call('POST', '/v1/transactions', txBody(created.body.id))).status, 201);
      let last = await scrape(engine);
      await waitFor(
        'three open confirmations counted and an attempt made',
        async () => {
          last = await scrape(engine);
          const open = Object.values(byState(last.m)).reduce((a, b) => a + b, 0);
          return open === 3 && (last.m.get('confirma_attempts_total{outcome="retry"}') ?? 0) > 0;
        },
        20_000,
        200,
      );
      const known = byState(last.m);
      const up = last.m.get('confirma_store_up');

      await engine.app.store.close();
      // Scrapes go on answering; once the counts are due again (5 s) the read fails.
      await waitFor(
        'the failed read reported',
        async () => {
          last = await scrape(engine);
          assert.equal(last.status, 200, last.text);
          return last.m.get('confirma_store_up') === 0;
        },
        20_000,
        200,
      );
      assert.equal(last.type, 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(up, 1, 'the store was up before');
      assert.deepEqual(byState(last.m), known, 'the last known counts');
      assert.ok((last.m.get('confirma_confirmations_age_seconds') ?? 0) >= 5, 'with their age');
      assertEveryOtherMetric(last.text);
    } finally {
      await engine.stop();
    }
  });

  it('PostgreSQL worker whose table is locked: the scrape answers within the bound, then store up again', async (t) => {
    const skip = await pgSkip();
    if (skip !== false) return t.skip(skip);
    await withSchema('metricslock', async (schema) => {
      const engine = await startEngine({ DATABASE_URL: PG_URL, CONFIRMA_PG_SCHEMA: schema, CONFIRMA_ROLE: 'worker' });
      const locker = new pg.Client({ connectionString: PG_URL });
      await locker.connect();
      try {
        const up = await scrape(engine);
        assert.equal(up.status, 200);
        assert.equal(up.m.get('confirma_confirmations{state="pending"}'), 0);

        // countOpen now waits on the lock: the store does not answer, nor fail.
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${schema}.confirmations IN ACCESS EXCLUSIVE MODE`);
        let last = up;
        await waitFor(
          'a scrape that found the store not answering',
          async () => {
            last = await scrape(engine);
            assert.equal(last.status, 200);
            assert.ok(last.ms < 6_000, `the scrape took ${last.ms} ms`);
            return last.m.get('confirma_store_up') === 0;
          },
          20_000,
          200,
        );
        assert.equal(last.type, 'text/plain; version=0.0.4; charset=utf-8');
        assert.equal(up.m.get('confirma_store_up'), 1, 'the store was up before');
        assert.equal(last.m.get('confirma_confirmations{state="pending"}'), 0, 'the last known counts');
        assert.ok((last.m.get('confirma_confirmations_age_seconds') ?? 0) >= 5);
        assert.match(last.text, /^process_cpu_seconds_total \S+$/m);
        assert.match(last.text, /^confirma_in_flight \d+$/m);

        await locker.query('ROLLBACK');
        await waitFor(
          'the store counted again',
          async () => (await scrape(engine)).m.get('confirma_store_up') === 1,
          20_000,
          200,
        );
        const fresh = await scrape(engine);
        assert.ok((fresh.m.get('confirma_confirmations_age_seconds') ?? 99) < 5);
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        await locker.end();
        await engine.stop();
      }
    });
  });
});
