import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

async function createMerchant(
  engine: Engine,
  fleet: MerchantServer,
  name: string,
  extra: Record<string, unknown> = {},
  script?: Parameters<MerchantServer['merchant']>[2],
): Promise<{ id: string; secret: string; apiKey: string }> {
  const res = await engine.call('POST', '/v1/merchants', { name, url: fleet.url(name), ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  fleet.merchant(name, res.body.secret, script);
  return res.body;
}

describe('delivery end to end on SQLite', () => {
  let engine: Engine;
  let fleet: MerchantServer;

  before(async () => {
    fleet = await new MerchantServer().listen();
    // A generous deadline: on a starved 2-core machine the in-process fleet can take seconds to
    // answer, and a timeout there would be a (correct) retry that the exactly-once count rejects.
    engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '60000', CONFIRMA_LEASE_MS: '120000' });
  });
  after(async () => {
    await engine.stop();
    await fleet.close();
  });

  it('delivers 10,000 transactions for 50 merchants exactly once, each signature verified', async () => {
    const merchants: Array<{ id: string }> = [];
    for (let i = 0; i < 50; i++) merchants.push(await createMerchant(engine, fleet, `bulk${i}`));
    const acknowledged = new Set<string>();
    for (let b = 0; b < 10; b++) {
      const transactions = Array.from({ length: 1000 }, (_, i) => txBody(merchants[(b * 1000 + i) % 50]!.id));
      const res = await engine.call('POST', '/v1/transactions/batch', { transactions });
      assert.equal(res.status, 200);
      for (const r of res.body.results) {
        assert.equal(r.ok, true, JSON.stringify(r));
        acknowledged.add(r.transaction.id);
      }
    }
    assert.equal(acknowledged.size, 10_000);
    const bulk = () => fleet.received.filter((r) => r.merchant.startsWith('bulk'));
    await waitFor('10,000 deliveries', () => bulk().length >= 10_000, 60_000);
    const got = bulk();
    assert.equal(got.length, 10_000, 'no duplicates');
    assert.equal(new Set(got.map((r) => r.id)).size, 10_000);
    assert.ok(
      got.every((r) => r.verified),
      'every signature verifies with standardwebhooks',
    );
    const txIds = new Set(got.map((r) => JSON.parse(r.body).data.id as string));
    assert.deepEqual(
      [...acknowledged].filter((id) => !txIds.has(id)),
      [],
    );
    // The fleet counts a delivery when it answers; the outcome commits just after.
    await waitFor('every outcome committed', async () => {
      const counts = await engine.app.store.countByState();
      return counts.pending + counts.inflight + counts.waiting === 0;
    });
  });

  it('exposes Prometheus metrics without a key', async () => {
    const res = await fetch(engine.url + '/metrics');
    assert.equal(res.status, 200);
    const text = await res.text();
    const delivered = /confirma_attempts_total\{outcome="delivered"\} (\d+)/.exec(text);
    assert.ok(delivered !== null && Number(delivered[1]) >= 10_000, text.slice(0, 500));
    // Open states only: counting the delivered history would read every row retention keeps.
    assert.match(text, /confirma_confirmations\{state="pending"\} \d+/);
    assert.match(text, /confirma_confirmations\{state="dead"\} \d+/);
    assert.doesNotMatch(text, /confirma_confirmations\{state="delivered"\}/);
    assert.match(text, /confirma_attempt_duration_seconds_bucket\{le="0.1"\} \d+/);
    // The loop has run for a while by now, so its delay has been sampled (no sample is exactly zero).
    const maxDelay = /confirma_event_loop_delay_seconds\{quantile="1"\} ([\d.e-]+)/.exec(text);
    assert.ok(maxDelay !== null && Number(maxDelay[1]) > 0, text.slice(0, 2000));
    assert.match(text, /confirma_event_loop_delay_seconds\{quantile="0.99"\} [\d.e-]+/);
  });

  it('retries 500, timeout and reset with the same id and body, and records each attempt', async () => {
    const script = (n: number) =>
      n === 0
        ? ({ kind: 'status', status: 500 } as const)
        : n === 1
          ? ({ kind: 'hang' } as const)
          : n === 2
            ? ({ kind: 'reset' } as const)
            : ({ kind: 'status', status: 200 } as const);
    const m = await createMerchant(engine, fleet, 'flaky', { retrySchedule: [0, 0, 0, 0, 0], timeoutMs: 500 }, script);
    const res = await engine.call('POST', '/v1/transactions', txBody(m.id));
    assert.equal(res.status, 201);
    await waitFor('delivery after three failures', () => fleet.deliveries('flaky').length === 1, 15_000);
    const tx = await engine.call('GET', `/v1/transactions/${res.body.id}`);
    const [conf] = tx.body.confirmations;
    await waitFor(
      'delivered state',
      async () => (await engine.call('GET', `/v1/confirmations/${conf.id}`)).body.state === 'delivered',
    );
    const detail = await engine.call('GET', `/v1/confirmations/${conf.id}`);
    assert.equal(detail.body.attempts.length, 4);
    assert.deepEqual(
      detail.body.attempts.map((a: { errorKind: string | null }) => a.errorKind),
      ['http_status', 'timeout', 'reset', null],
    );
    assert.equal(detail.body.attempts[0].statusCode, 500);
    const [delivered] = fleet.deliveries('flaky');
    assert.equal(delivered!.id, conf.id, 'webhook-id is the confirmation id');
    assert.equal(JSON.parse(delivered!.body).data.id, res.body.id);
  });

  it('keeps webhook-id and body bytes identical on every attempt', async () => {
    const bodies: string[] = [];
    const ids: string[] = [];
    const m = await createMerchant(engine, fleet, 'same-bytes', { retrySchedule: [0, 0, 0] }, (n) =>
      n < 2 ? { kind: 'status', status: 503 } : { kind: 'status', status: 200 },
    );
    fleet.server.on('request', (req) => {
      if (req.url !== '/m/same-bytes') return;
      ids.push(String(req.headers['webhook-id']));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => bodies.push(Buffer.concat(chunks).toString()));
    });
    await engine.call('POST', '/v1/transactions', txBody(m.id));
    await waitFor('three attempts', () => bodies.length === 3, 10_000);
    assert.equal(new Set(ids).size, 1);
    assert.equal(new Set(bodies).size, 1);
  });

  it('honours Retry-After on 429', async () => {
    const m = await createMerchant(engine, fleet, 'throttled', { retrySchedule: [0, 0, 0] }, (n) =>
      n === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '2' } } : { kind: 'status', status: 200 },
    );
    const times: number[] = [];
    fleet.server.on('request', (req) => {
      if (req.url === '/m/throttled') times.push(Date.now());
    });
    await engine.call('POST', '/v1/transactions', txBody(m.id));
    await waitFor('delivery after 429', () => fleet.deliveries('throttled').length === 1, 10_000);
    assert.equal(times.length, 2);
    const gap = times[1]! - times[0]!;
    assert.ok(gap >= 1900 && gap < 3500, `second attempt ${gap} ms after the first`);
  });

  it('410 disables the endpoint and parks its confirmations; enabling resumes them', async () => {
    let gone = true;
    const m = await createMerchant(engine, fleet, 'gone', {}, () =>
      gone ? { kind: 'status', status: 410 } : { kind: 'status', status: 200 },
    );
    const first = await engine.call('POST', '/v1/transactions', txBody(m.id));
    await waitFor('merchant disabled', async () => (await engine.call('GET', `/v1/merchants/${m.id}`)).body.enabled === false);
    const second = await engine.call('POST', '/v1/transactions', txBody(m.id));
    assert.equal(second.status, 201);
    for (const id of [first.body.id, second.body.id]) {
      const tx = await engine.call('GET', `/v1/transactions/${id}`);
      assert.equal(tx.body.confirmations[0].state, 'parked');
    }
    assert.equal(fleet.deliveries('gone').length, 0);
    gone = false;
    const patched = await engine.call('PATCH', `/v1/merchants/${m.id}`, { enabled: true });
    assert.equal(patched.status, 200);
    await waitFor('both delivered after re-enabling', () => fleet.deliveries('gone').length === 2, 10_000);
  });

  it('delivers pending then approved in order even when pending first fails', async () => {
    const m = await createMerchant(engine, fleet, 'ordered', { retrySchedule: [0, 1, 1] }, (n) =>
      n === 0 ? { kind: 'status', status: 500 } : { kind: 'status', status: 200 },
    );
    const created = await engine.call('POST', '/v1/transactions', txBody(m.id, { status: 'pending' }));
    assert.equal(created.status, 201);
    const changed = await engine.call('PATCH', `/v1/transactions/${created.body.id}`, { status: 'approved' });
    assert.equal(changed.status, 200);
    await waitFor('two deliveries', () => fleet.deliveries('ordered').length === 2, 10_000);
    const types = fleet.deliveries('ordered').map((r) => JSON.parse(r.body).type);
    assert.deepEqual(types, ['transaction.pending', 'transaction.approved']);
  });

  it('marks a confirmation dead when retries run out, and replay delivers it', async () => {
    let failing = true;
    const m = await createMerchant(engine, fleet, 'doomed', { retrySchedule: [0, 0, 0] }, () =>
      failing ? { kind: 'status', status: 500 } : { kind: 'status', status: 200 },
    );
    const created = await engine.call('POST', '/v1/transactions', txBody(m.id));
    const confId = (await engine.call('GET', `/v1/transactions/${created.body.id}`)).body.confirmations[0].id;
    await waitFor('dead', async () => (await engine.call('GET', `/v1/confirmations/${confId}`)).body.state === 'dead');
    const dead = await engine.call('GET', `/v1/confirmations?merchantId=${m.id}&state=dead`);
    assert.deepEqual(
      dead.body.data.map((c: { id: string }) => c.id),
      [confId],
    );
    assert.equal((await engine.call('GET', `/v1/confirmations/${confId}`)).body.attempts.length, 3);
    failing = false;
    const replay = await engine.call('POST', `/v1/merchants/${m.id}/replay`);
    assert.equal(replay.status, 202);
    assert.equal(replay.body.requeued, 1);
    await waitFor('delivered after replay', () => fleet.deliveries('doomed').length === 1, 10_000);
    await waitFor(
      'state delivered',
      async () => (await engine.call('GET', `/v1/confirmations/${confId}`)).body.state === 'delivered',
    );
  });
});

describe('lane isolation', () => {
  it('a never-answering merchant does not slow a healthy one and holds at most its max in flight', async () => {
    const fleet = await new MerchantServer().listen();
    const engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '5000', CONFIRMA_LEASE_MS: '20000' });
    try {
      const healthy = await createMerchant(engine, fleet, 'healthy');
      // Baseline: the healthy merchant alone.
      const send = async (merchantId: string, n: number): Promise<void> => {
        const res = await engine.call('POST', '/v1/transactions/batch', {
          transactions: Array.from({ length: n }, () => txBody(merchantId)),
        });
        assert.equal(res.status, 200);
      };
      let t0 = Date.now();
      await send(healthy.id, 1000);
      await waitFor('baseline deliveries', () => fleet.deliveries('healthy').length === 1000, 30_000);
      const alone = Date.now() - t0;

      const bad = await createMerchant(engine, fleet, 'blackhole', { maxInFlight: 32 }, () => ({ kind: 'hang' }));
      await send(bad.id, 200);
      await waitFor('bad lane full', () => (fleet.open.get('blackhole') ?? 0) >= 32, 10_000);
      t0 = Date.now();
      await send(healthy.id, 1000);
      await waitFor('deliveries beside the black hole', () => fleet.deliveries('healthy').length === 2000, 30_000);
      const beside = Date.now() - t0;
      assert.ok(beside < Math.max(alone * 2, alone + 1000), `healthy took ${beside} ms beside the black hole, ${alone} ms alone`);
      assert.ok((fleet.maxOpen.get('blackhole') ?? 0) <= 32, `black hole saw ${fleet.maxOpen.get('blackhole')} open requests`);
      assert.ok(engine.app.dispatcher.laneInFlight(bad.id) <= 32);
    } finally {
      await fleet.close();
      await engine.stop();
    }
  });
});
