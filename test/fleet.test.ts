import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { generateSecret, signedHeaders } from '../src/signing/standard-webhooks.js';
import { Fleet } from '../src/sim/fleet.js';
import { Histogram } from '../src/sim/histogram.js';
import { answer, latencyMs, merchantMode, profile } from '../src/sim/profiles.js';

/** A seeded random source (mulberry32), so the statistics checked below are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function body(id: string, tx: string, seq: number, committedAt = Date.now()): string {
  return JSON.stringify({
    id,
    type: 'transaction.approved',
    timestamp: new Date(committedAt).toISOString(),
    data: { id: tx, seq },
  });
}

async function post(url: string, secret: string, id: string, text: string, tamper = false) {
  const headers = signedHeaders([secret], id, Math.floor(Date.now() / 1000), text);
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: tamper ? text.replace('approved', 'rejected') : text,
  });
  await res.body.text();
  return res.statusCode;
}

/**
 * A one-merchant realistic fleet whose random source is constant, so every request is answered 2xx
 * after the same drawn latency (`answerMs`); measured from a second ago.
 */
async function fixedFleet(): Promise<{ fleet: Fleet; secret: string; answerMs: number }> {
  const fixed = () => 0.9;
  const drawn = answer(profile('realistic'), fixed);
  assert.equal(drawn.kind, 'ok');
  const fleet = await new Fleet({ merchants: 1, profile: 'realistic', random: fixed }).listen();
  const secret = generateSecret();
  fleet.setSecret(0, secret);
  fleet.steadyFrom = Date.now() - 1_000;
  return { fleet, secret, answerMs: (drawn as { delayMs: number }).delayMs };
}

describe('merchant fleet', () => {
  it('keeps a ledger of accepted ids with their transaction, and counts duplicates', async () => {
    const fleet = await new Fleet({ merchants: 3, profile: 'instant' }).listen();
    try {
      const secret = generateSecret();
      fleet.setSecret(1, secret);
      const before = Date.now();
      assert.equal(await post(fleet.url(1), secret, 'msg_a', body('msg_a', 'tx_1', 1, before - 30)), 200);
      assert.equal(await post(fleet.url(1), secret, 'msg_b', body('msg_b', 'tx_1', 2)), 200);
      assert.equal(await post(fleet.url(1), secret, 'msg_a', body('msg_a', 'tx_1', 1)), 200);
      const a = fleet.entry('msg_a');
      assert.ok(a !== undefined);
      assert.equal(a.tx, 'tx_1');
      assert.equal(a.seq, 1);
      assert.ok(a.at >= before && a.at <= Date.now());
      assert.equal(fleet.entry('msg_b')?.seq, 2);
      const s = fleet.stats();
      assert.equal(s.accepted, 2);
      assert.equal(s.duplicates, 1);
      assert.equal(s.requests, 3);
      assert.ok(s.latency.max >= 30, 'latency runs from the body timestamp to receipt');
      // A merchant nobody registered a secret for is refused and counted.
      assert.equal(await post(fleet.url(2), secret, 'msg_c', body('msg_c', 'tx_2', 1)), 404);
      assert.equal(fleet.stats().unknown, 1);
    } finally {
      await fleet.close();
    }
  });

  it('measures commit → the answer on first attempts, next to the answer time alone', async () => {
    const { fleet, secret, answerMs } = await fixedFleet();
    try {
      const committed = Date.now() - 40;
      assert.equal(await post(fleet.url(0), secret, 'msg_1', body('msg_1', 'tx_1', 1, committed)), 200);
      assert.equal(await post(fleet.url(0), secret, 'msg_2', body('msg_2', 'tx_2', 1, committed)), 200);
      // A repeat is not a first attempt; a confirmation committed before steadyFrom is not measured.
      assert.equal(await post(fleet.url(0), secret, 'msg_1', body('msg_1', 'tx_1', 1, committed)), 200);
      assert.equal(await post(fleet.url(0), secret, 'msg_3', body('msg_3', 'tx_3', 1, fleet.steadyFrom - 1)), 200);
      const s = fleet.stats();
      assert.equal(s.answered.count, 2);
      assert.deepEqual([s.ownLatency.count, s.ownLatency.p50, s.ownLatency.max], [2, Math.round(answerMs), answerMs]);
      // Arrival (≥ 40 ms after the commit) plus the answer time.
      assert.ok(s.answered.p50 >= 40 + Math.round(answerMs), `answered p50 ${s.answered.p50}`);
      assert.equal(s.answered.p50, s.firstArrival.p50 + Math.round(answerMs));
    } finally {
      await fleet.close();
    }
  });

  it("measures a transaction's later confirmation from the answer to the one before it", async () => {
    const { fleet, secret, answerMs } = await fixedFleet();
    try {
      // The approval is committed before the pending confirmation is even sent; the engine may send
      // it only once the merchant has answered the pending one (after `answerMs`).
      const committed = Date.now() - 200;
      assert.equal(await post(fleet.url(0), secret, 'msg_p', body('msg_p', 'tx_o', 1, committed)), 200);
      assert.equal(await post(fleet.url(0), secret, 'msg_a', body('msg_a', 'tx_o', 2, committed)), 200);
      const s = fleet.stats();
      assert.equal(s.firstArrival.count, 2);
      // The pending one waited ≥ 200 ms since its commit; the approval only the few ms between the
      // answer and its own arrival, not the 200 ms plus the answer time since its commit.
      assert.ok(s.firstArrival.max >= 200, `pending ${s.firstArrival.max}`);
      assert.ok(s.firstArrival.p50 < 100, `approval ${s.firstArrival.p50} (answer time ${answerMs})`);
    } finally {
      await fleet.close();
    }
  });

  it('rejects a bad signature and keeps it out of the ledger', async () => {
    const fleet = await new Fleet({ merchants: 1, profile: 'instant' }).listen();
    try {
      const secret = generateSecret();
      fleet.setSecret(0, secret);
      assert.equal(await post(fleet.url(0), secret, 'msg_x', body('msg_x', 'tx_9', 1), true), 401);
      assert.equal(await post(fleet.url(0), generateSecret(), 'msg_y', body('msg_y', 'tx_9', 1)), 401);
      const s = fleet.stats();
      assert.equal(s.badSignatures, 2);
      assert.equal(s.accepted, 0);
      assert.equal(fleet.entry('msg_x'), undefined);
    } finally {
      await fleet.close();
    }
  });

  it('serves registration and the ledger through its control API', async () => {
    const fleet = await new Fleet({ merchants: 2, profile: 'instant' }).listen();
    try {
      const secret = generateSecret();
      const reg = await request(`${fleet.baseUrl}/_fleet/merchants/0`, { method: 'PUT', body: JSON.stringify({ secret }) });
      const info = (await reg.body.json()) as { url: string; mode: string };
      assert.equal(info.url, fleet.url(0));
      assert.equal(info.mode, 'up');
      assert.equal(await post(info.url, secret, 'msg_1', body('msg_1', 'tx_1', 1)), 200);
      const ledger = await (await request(`${fleet.baseUrl}/_fleet/ledger`)).body.text();
      const [line] = ledger.trim().split('\n');
      const [id, tx, seq] = JSON.parse(line!) as [string, string, number, number];
      assert.deepEqual([id, tx, seq], ['msg_1', 'tx_1', 1]);
    } finally {
      await fleet.close();
    }
  });

  it('realistic: log-normal latency with median ~80 ms and p99 ~800 ms, 2% 5xx, 1% hang', () => {
    const p = profile('realistic');
    const random = seeded(7);
    const h = new Histogram();
    const kinds: Record<string, number> = {};
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      h.record(latencyMs(p, random));
      const a = answer(p, random);
      kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
    }
    assert.ok(Math.abs(h.quantile(0.5) - 80) <= 8, `median ${h.quantile(0.5)}`);
    assert.ok(Math.abs(h.quantile(0.99) - 800) <= 120, `p99 ${h.quantile(0.99)}`);
    assert.ok(Math.abs((kinds.error ?? 0) / n - 0.02) < 0.004, `5xx share ${(kinds.error ?? 0) / n}`);
    assert.ok(Math.abs((kinds.hang ?? 0) / n - 0.01) < 0.003, `hang share ${(kinds.hang ?? 0) / n}`);
    assert.equal(kinds.drip, undefined);
  });

  it('realistic: 2% of merchants are down (refused or hang); chaos adds 410 merchants and more faults', () => {
    const modes = (name: 'realistic' | 'chaos', count: number) =>
      Array.from({ length: count }, (_, i) => merchantMode(profile(name), i, count));
    const r = modes('realistic', 100);
    assert.equal(r.filter((m) => m === 'refused').length + r.filter((m) => m === 'hang').length, 2);
    assert.equal(r[0], 'up');
    assert.equal(modes('realistic', 50).filter((m) => m !== 'up').length, 1);
    const c = modes('chaos', 100);
    assert.equal(c.filter((m) => m === 'gone').length, 2);
    const random = seeded(11);
    const kinds = new Set<string>();
    for (let i = 0; i < 5_000; i++) kinds.add(answer(profile('chaos'), random).kind);
    for (const k of ['ok', 'error', 'hang', 'drip', 'reset', 'throttle']) assert.ok(kinds.has(k), `chaos lacks ${k}`);
    assert.equal(latencyMs(profile('instant'), random), 0);
  });

  it('a refused merchant points at a closed port', async () => {
    const fleet = await new Fleet({ merchants: 10, profile: 'realistic' }).listen();
    try {
      assert.equal(fleet.mode(9), 'refused');
      assert.notEqual(new URL(fleet.url(9)).port, String(fleet.port));
      await assert.rejects(request(fleet.url(9), { method: 'POST', body: '{}' }));
    } finally {
      await fleet.close();
    }
  });
});
