import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import pg from 'pg';
import { waitFor } from './helpers/engine.js';
import { MerchantServer, type Script } from './helpers/merchant-server.js';
import { call, startNode, type NodeProcess } from './helpers/node-process.js';
import { PG_URL, pgSkip, withSchema } from './helpers/pg.js';

/**
 * Real child processes (`confirma start --role …`) on one real PostgreSQL, delivering to real
 * loopback merchants. Leases are short so crashed or paused workers are overtaken within seconds.
 */
const skip = await pgSkip();
const run = promisify(execFile);

function nodeEnv(schema: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: PG_URL,
    CONFIRMA_PG_SCHEMA: schema,
    CONFIRMA_PG_POOL_SIZE: '4',
    // The test process plays every merchant on 2 shared cores: generous deadlines, modest lanes,
    // so that overload shows up as slowness rather than as timeouts, retries and open circuits.
    CONFIRMA_ATTEMPT_TIMEOUT_MS: '5000',
    CONFIRMA_LEASE_MS: '7000',
    CONFIRMA_MAX_IN_FLIGHT_PER_MERCHANT: '8',
    CONFIRMA_RETRY_SCHEDULE: '0,1,1,1,1,1,1,1,1,1',
    CONFIRMA_BREAKER_MIN_ATTEMPTS: '1000000', // in effect no breaker: overload is not a merchant failing
    CONFIRMA_POLL_MS: '500',
    CONFIRMA_SHUTDOWN_GRACE_MS: '1000',
    ...extra,
  };
}

interface Load {
  /** Acknowledged transaction ids → the confirmation types they must produce, in order. */
  readonly expected: Map<string, string[]>;
}

async function merchants(api: string, fleet: MerchantServer, n: number, script?: (i: number) => Script): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call(api, 'POST', '/v1/merchants', { name: `m${i}`, url: fleet.url(`m${i}`) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    fleet.merchant(`m${i}`, res.body.secret, script);
    ids.push(res.body.id);
  }
  return ids;
}

/**
 * Posts `batches` batches of `size` transactions; every `pairEvery`-th starts `pending` and is
 * PATCHed to `approved` right away (while its first confirmation is usually still open).
 */
async function load(
  api: string,
  merchantIds: string[],
  batches: number,
  size: number,
  pairEvery: number,
  into: Load,
): Promise<void> {
  let ref = 0;
  const one = async (): Promise<void> => {
    const items = Array.from({ length: size }, (_, i) => {
      ref++;
      return {
        merchantId: merchantIds[ref % merchantIds.length]!,
        reference: `order-${ref}`,
        amount: '1000.00',
        currency: 'COP',
        status: i % pairEvery === 0 ? 'pending' : 'approved',
      };
    });
    const res = await call(api, 'POST', '/v1/transactions/batch', { transactions: items });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    const pending: string[] = [];
    for (const r of res.body.results) {
      assert.ok(r.ok, JSON.stringify(r));
      into.expected.set(r.transaction.id, [`transaction.${r.transaction.status}`]);
      if (r.transaction.status === 'pending') pending.push(r.transaction.id);
    }
    for (let i = 0; i < pending.length; i += 25) {
      await Promise.all(
        pending.slice(i, i + 25).map(async (id) => {
          const p = await call(api, 'PATCH', `/v1/transactions/${id}`, { status: 'approved' });
          assert.equal(p.status, 200, JSON.stringify(p.body));
          into.expected.get(id)!.push('transaction.approved');
        }),
      );
    }
  };
  for (let b = 0; b < batches; b += 2) await Promise.all([one(), ...(b + 1 < batches ? [one()] : [])]);
}

/** What the fleet saw, per transaction: the webhook ids and types in arrival order. */
function seen(fleet: MerchantServer): Map<string, Array<{ id: string; type: string; body: string }>> {
  const byTx = new Map<string, Array<{ id: string; type: string; body: string }>>();
  for (const r of fleet.received) {
    const body = JSON.parse(r.body) as { type: string; data: { id: string } };
    let list = byTx.get(body.data.id);
    if (list === undefined) byTx.set(body.data.id, (list = []));
    list.push({ id: r.id, type: body.type, body: r.body });
  }
  return byTx;
}

function expectedCount(l: Load): number {
  let n = 0;
  for (const types of l.expected.values()) n += types.length;
  return n;
}

/**
 * Attempts that timed out at the worker: the merchant may still have received them, so each may
 * legitimately arrive twice (same webhook-id). On 2 shared cores a few happen under full load.
 */
async function timedOut(schema: string): Promise<Map<string, number>> {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  try {
    const { rows } = await db.query(
      `SELECT confirmation_id, count(*)::int AS n FROM ${schema}.attempts WHERE error_kind = 'timeout' GROUP BY 1`,
    );
    return new Map(rows.map((r) => [String(r.confirmation_id), r.n as number]));
  } finally {
    await db.end();
  }
}

/** Arrivals per webhook id. */
function arrivals(fleet: MerchantServer): Map<string, number> {
  const n = new Map<string, number>();
  for (const r of fleet.received) n.set(r.id, (n.get(r.id) ?? 0) + 1);
  return n;
}

/** Distinct webhook ids received. */
function distinct(fleet: MerchantServer): number {
  return new Set(fleet.received.map((r) => r.id)).size;
}

/**
 * 0 lost (every acknowledged confirmation arrived), per-transaction order kept (first arrivals in
 * seq order), and any repeat is the same webhook-id with the same body. Returns the repeats.
 */
function verify(fleet: MerchantServer, l: Load): number {
  const byTx = seen(fleet);
  let repeats = 0;
  for (const [tx, types] of l.expected) {
    const got = byTx.get(tx) ?? [];
    const firsts: string[] = [];
    const bodies = new Map<string, string>();
    for (const g of got) {
      const before = bodies.get(g.id);
      if (before === undefined) {
        bodies.set(g.id, g.body);
        firsts.push(g.type);
      } else {
        assert.equal(g.body, before, `a repeat of ${g.id} changed its body`);
        repeats++;
      }
    }
    assert.deepEqual(firsts, types, `transaction ${tx}: lost or out of order`);
  }
  assert.ok(
    fleet.received.every((r) => r.verified),
    'every request verifies with the standardwebhooks package',
  );
  return repeats;
}

async function stopAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

describe('many nodes on one PostgreSQL', { skip }, () => {
  it('3 workers and 1 API node deliver 30,000 transactions: 0 lost, order kept, no duplicates but repeats of timed-out attempts', async () => {
    await withSchema('scale', async (schema) => {
      const fleet = await new MerchantServer().listen();
      const nodes: NodeProcess[] = [];
      try {
        const env = nodeEnv(schema, { CONFIRMA_ATTEMPT_TIMEOUT_MS: '15000', CONFIRMA_LEASE_MS: '20000' });
        const api = await startNode('api', env);
        nodes.push(api);
        for (let i = 0; i < 3; i++) nodes.push(await startNode('worker', env));
        const ids = await merchants(api.url, fleet, 20);
        const l: Load = { expected: new Map() };
        await load(api.url, ids, 30, 1_000, 20, l);
        assert.equal(l.expected.size, 30_000);
        const total = expectedCount(l);
        await waitFor('every confirmation delivered', () => distinct(fleet) >= total, 120_000, 100);
        await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here
        const repeats = verify(fleet, l);
        // No duplicates, except a repeat of an attempt that timed out at the worker (none when the
        // machine is not starved: the deadline is 15 s and the merchants answer at once).
        const timeouts = await timedOut(schema);
        for (const [id, n] of arrivals(fleet)) {
          assert.ok(n - 1 <= (timeouts.get(id) ?? 0), `${id} arrived ${n} times but timed out ${timeouts.get(id) ?? 0} times`);
        }
        assert.equal(fleet.received.length, total + repeats);
        // The work was shared: every worker delivered some of it.
        const metrics = await Promise.all(nodes.slice(1).map((n) => fetch(`${n.url}/metrics`).then((r) => r.text())));
        for (const m of metrics) assert.match(m, /confirma_attempts_total\{outcome="delivered"\} [1-9]/);
        // The API node only ingests: it never sent anything, and workers serve no /v1 routes.
        const apiMetrics = await fetch(`${api.url}/metrics`).then((r) => r.text());
        assert.doesNotMatch(apiMetrics, /confirma_attempts_total\{outcome="delivered"\} [1-9]/);
        const onWorker = await call(nodes[1]!.url, 'GET', '/v1/merchants');
        assert.equal(onWorker.status, 404);
        assert.equal(onWorker.body?.error?.code, 'not_found', 'a worker answers in the catalog shape too');
        // Breakers live in the workers: the API node has none to show, and each worker counts its own.
        assert.equal((await call(api.url, 'GET', `/v1/merchants/${ids[0]}`)).body.breaker, null);
        for (const m of metrics) assert.match(m, /confirma_breakers\{state="open"\} 0/);
        assert.equal((await fetch(`${nodes[1]!.url}/readyz`)).status, 200);
      } finally {
        await stopAll(nodes);
        await fleet.close();
      }
    });
  });

  it('kill -9 of one worker: the others finish its work once its leases lapse, same webhook-ids', async () => {
    await withSchema('kill', async (schema) => {
      const fleet = await new MerchantServer().listen();
      const nodes: NodeProcess[] = [];
      try {
        const env = nodeEnv(schema, { CONFIRMA_ATTEMPT_TIMEOUT_MS: '3000', CONFIRMA_LEASE_MS: '5000' });
        const api = await startNode('api', env);
        nodes.push(api);
        for (let i = 0; i < 3; i++) nodes.push(await startNode('worker', env));
        // Slow answers keep plenty in flight on every worker when one dies.
        const ids = await merchants(api.url, fleet, 6, () => ({ kind: 'delay', ms: 60, status: 200 }));
        const l: Load = { expected: new Map() };
        await load(api.url, ids, 4, 1_000, 10, l);
        await waitFor('some deliveries', () => fleet.received.length >= 500, 30_000);
        const victim = nodes[1]!;
        const killedAt = Date.now();
        victim.child.kill('SIGKILL');
        await once(victim.child, 'exit');
        assert.ok(distinct(fleet) < expectedCount(l), 'the kill happened mid-run');
        await waitFor('every confirmation delivered', () => distinct(fleet) >= expectedCount(l), 60_000, 100);
        await new Promise((r) => setTimeout(r, 300));
        const repeats = verify(fleet, l);
        // A repeat is either what was in flight at the kill (first sent before it, its outcome never
        // recorded) or the retry of an attempt that timed out; nothing else is sent twice.
        const timeouts = await timedOut(schema);
        const first = new Map<string, number>();
        const repeated = new Set<string>();
        for (const r of fleet.received) {
          if (first.has(r.id)) repeated.add(r.id);
          else first.set(r.id, r.at);
        }
        assert.equal(repeated.size <= repeats, true);
        // The fleet stamps a delivery when it answers (60 ms after it arrives): allow for that.
        for (const id of repeated) {
          assert.ok(
            first.get(id)! < killedAt + 500 || timeouts.has(id),
            `${id} was sent twice, yet neither in flight at the kill nor timed out`,
          );
        }
      } finally {
        await stopAll(nodes);
        await fleet.close();
      }
    });
  });

  it('a stale worker (paused past its lease) records no outcome', async () => {
    await withSchema('stale', async (schema) => {
      const fleet = await new MerchantServer().listen();
      const nodes: NodeProcess[] = [];
      try {
        const env = nodeEnv(schema, { CONFIRMA_ATTEMPT_TIMEOUT_MS: '2000', CONFIRMA_LEASE_MS: '4000' });
        const api = await startNode('api', env);
        nodes.push(api);
        const paused = await startNode('worker', env);
        nodes.push(paused);
        const [m] = await merchants(api.url, fleet, 1, () => ({ kind: 'delay', ms: 400, status: 200 }));
        const l: Load = { expected: new Map() };
        await load(api.url, [m!], 1, 40, 1_000, l);
        await waitFor('requests in flight', () => (fleet.open.get('m0') ?? 0) >= 5, 10_000, 5);
        paused.child.kill('SIGSTOP');
        nodes.push(await startNode('worker', env));
        await waitFor(
          'every confirmation delivered by the other worker',
          async () => {
            const r = await call(api.url, 'GET', '/v1/confirmations?state=delivered&limit=100');
            return r.status === 200 && r.body.data.length === expectedCount(l);
          },
          30_000,
          100,
        );
        paused.child.kill('SIGCONT');
        await waitFor(
          'the paused worker found its outcomes stale',
          async () => {
            const text = await fetch(`${paused.url}/metrics`).then((r) => r.text());
            return /confirma_stale_outcomes_total \d*[1-9]/.test(text);
          },
          15_000,
          100,
        );
        const db = new pg.Client({ connectionString: PG_URL });
        await db.connect();
        try {
          const { rows } = await db.query(`SELECT confirmation_id, count(*)::int AS n FROM ${schema}.attempts GROUP BY 1`);
          assert.equal(rows.length, expectedCount(l));
          assert.ok(
            rows.every((r) => r.n === 1),
            'one attempt row each: the stale worker wrote none',
          );
          const c = await db.query(
            `SELECT count(*)::int AS n FROM ${schema}.confirmations WHERE state = 'delivered' AND attempts = 1`,
          );
          assert.equal(c.rows[0].n, expectedCount(l));
        } finally {
          await db.end();
        }
      } finally {
        await stopAll(nodes);
        await fleet.close();
      }
    });
  });

  it('PostgreSQL restarted mid-run: 503 store_unavailable meanwhile, nothing acknowledged lost, delivery resumes', async () => {
    await withSchema('restart', async (schema) => {
      const fleet = await new MerchantServer().listen();
      const nodes: NodeProcess[] = [];
      try {
        const api = await startNode('api', nodeEnv(schema));
        nodes.push(api);
        nodes.push(await startNode('worker', nodeEnv(schema)));
        const ids = await merchants(api.url, fleet, 4);
        const expected = new Map<string, string[]>();
        const codes = new Map<string, number>();
        let stop = false;
        let okAfterRestart = 0;
        let restarted = false;
        let n = 0;
        const sender = async (): Promise<void> => {
          while (!stop) {
            const batch = Array.from({ length: 50 }, () => ({
              merchantId: ids[n++ % ids.length]!,
              reference: `r-${n}`,
              amount: '10.00',
              currency: 'COP',
              status: 'approved',
            }));
            let res: { status: number; body: any };
            try {
              res = await call(api.url, 'POST', '/v1/transactions/batch', { transactions: batch });
            } catch (err) {
              codes.set('fetch_error', (codes.get('fetch_error') ?? 0) + 1);
              continue;
            }
            if (res.status === 200) {
              for (const r of res.body.results) {
                if (r.ok) expected.set(r.transaction.id, ['transaction.approved']);
                else codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1);
              }
              if (restarted) okAfterRestart++;
            } else {
              const code = String(res.body?.error?.code ?? res.status);
              assert.equal(res.status, 503, JSON.stringify(res.body));
              codes.set(code, (codes.get(code) ?? 0) + 1);
            }
          }
        };
        const senders = [sender(), sender()];
        await waitFor('deliveries before the restart', () => fleet.received.length >= 300, 20_000);
        const cluster = readdirSync('/etc/postgresql')[0]!;
        await run('pg_ctlcluster', ['--skip-systemctl-redirect', cluster, 'main', 'restart']);
        restarted = true;
        await waitFor('ingest accepted again after the restart', () => okAfterRestart >= 5, 30_000, 50);
        stop = true;
        await Promise.all(senders);
        assert.ok((codes.get('store_unavailable') ?? 0) > 0, `saw ${JSON.stringify([...codes])}`);
        assert.deepEqual(
          [...codes.keys()].filter((c) => c !== 'store_unavailable' && c !== 'fetch_error'),
          [],
        );
        const delivered = (): boolean => {
          const byTx = seen(fleet);
          for (const tx of expected.keys()) if (!byTx.has(tx)) return false;
          return true;
        };
        await waitFor('every acknowledged transaction delivered', delivered, 60_000, 200);
        verify(fleet, { expected });
      } finally {
        await stopAll(nodes);
        await fleet.close();
      }
    });
  });
});
