import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { addressKey, AuthFailureLimiter } from '../src/api/auth-failure-limiter.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { ADMIN, startApi, type ApiServer } from './helpers/api-server.js';

/**
 * Issue 13 §5, guessing: failed authentications are limited per client address. Requests come
 * from distinct loopback addresses (Linux routes all of 127/8 to lo), each on its own connection.
 */

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: any;
}

function get(s: ApiServer, path: string, opts: { from: string; key: string; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.url}${path}`,
      { localAddress: opts.from, agent: false, headers: { authorization: `Bearer ${opts.key}`, ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Counts the store's key lookups, to show refused requests never reach it. */
function countLookups(s: ApiServer): { readonly n: number } {
  const counter = { n: 0 };
  const original = s.store.findApiKey.bind(s.store);
  s.store.findApiKey = async (hash: string) => {
    counter.n++;
    return original(hash);
  };
  return counter;
}

describe('failed authentication is limited per client address', () => {
  it('300 wrong keys from one address: 401 for the burst, then 429 with Retry-After and no key lookup; other addresses are unaffected', async () => {
    const s = await startApi({ CONFIRMA_AUTH_FAILURE_LIMIT: '2', CONFIRMA_AUTH_FAILURE_BURST: '20' });
    try {
      const lookups = countLookups(s);
      const statuses: number[] = [];
      let limited: Answer | undefined;
      const t0 = Date.now();
      for (let i = 0; i < 300; i++) {
        const r = await get(s, '/v1/merchants', { from: '127.0.0.2', key: `cfm_mk_wrong${i}` });
        statuses.push(r.status);
        if (r.status === 429) limited ??= r;
      }
      const count = (code: number): number => statuses.filter((x) => x === code).length;
      assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401), 'the burst answers 401');
      // The burst, plus what the bucket refilled at 2/s while the 300 requests ran.
      const refilled = Math.ceil(((Date.now() - t0) / 1000) * 2);
      assert.ok(count(401) <= 20 + refilled, `${count(401)} answered 401 (burst 20, ${refilled} refilled)`);
      assert.equal(count(401) + count(429), 300);
      assert.ok(limited !== undefined);
      assert.equal(limited.body.error.code, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) >= 1, String(limited.headers['retry-after']));
      assert.equal(limited.headers.connection, 'close');
      assert.equal(lookups.n, count(401), 'a refused request never looks its key up');

      // Even a valid key from that address waits (the address is what is limited)…
      assert.equal((await get(s, '/v1/merchants', { from: '127.0.0.2', key: ADMIN })).status, 429);
      const m = await s.merchant();
      assert.equal((await get(s, `/v1/merchants/${m.id}`, { from: '127.0.0.2', key: m.apiKey })).status, 429);
      // …while another address still gets 401 for a wrong key, and a fresh one is served.
      assert.equal((await get(s, '/v1/merchants', { from: '127.0.0.3', key: 'cfm_mk_wrong' })).status, 401);
      assert.equal((await get(s, '/v1/merchants', { from: '127.0.0.4', key: ADMIN })).status, 200);
      assert.equal((await get(s, `/v1/merchants/${m.id}`, { from: '127.0.0.5', key: m.apiKey })).status, 200);
      // Public routes need no key and are never limited.
      assert.equal((await get(s, '/healthz', { from: '127.0.0.2', key: 'x' })).status, 200);
    } finally {
      await s.close();
    }
  });

  it('CONFIRMA_AUTH_FAILURE_LIMIT=0 turns the limit off', async () => {
    const s = await startApi({ CONFIRMA_AUTH_FAILURE_LIMIT: '0', CONFIRMA_AUTH_FAILURE_BURST: '1' });
    try {
      for (let i = 0; i < 30; i++) assert.equal((await get(s, '/v1/merchants', { from: '127.0.0.2', key: 'nope' })).status, 401);
    } finally {
      await s.close();
    }
  });

  it('behind a trusted proxy the X-Forwarded-For address is limited; without one the header is ignored', async () => {
    const behind = await startApi({ CONFIRMA_TRUST_PROXY: 'loopback', CONFIRMA_AUTH_FAILURE_BURST: '5' });
    try {
      const via = (client: string, key: string): Promise<Answer> =>
        get(behind, '/v1/merchants', { from: '127.0.0.2', key, headers: { 'x-forwarded-for': client } });
      for (let i = 0; i < 5; i++) assert.equal((await via('203.0.113.7', 'wrong')).status, 401);
      assert.equal((await via('203.0.113.7', 'wrong')).status, 429);
      assert.equal((await via('203.0.113.8', ADMIN)).status, 200, 'another client behind the same proxy is served');
    } finally {
      await behind.close();
    }
    const direct = await startApi({ CONFIRMA_AUTH_FAILURE_BURST: '5' });
    try {
      // A client cannot escape the limit by claiming a new address in each request.
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        statuses.push(
          (
            await get(direct, '/v1/merchants', {
              from: '127.0.0.2',
              key: 'wrong',
              headers: { 'x-forwarded-for': `198.51.100.${i}` },
            })
          ).status,
        );
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    } finally {
      await direct.close();
    }
  });
});

describe('the limiter itself', () => {
  it('refills at its rate and bounds the addresses it keeps, least recently failed out first', () => {
    const l = new AuthFailureLimiter(2, 3, 3);
    for (let i = 0; i < 3; i++) l.fail('10.0.0.1', 0);
    assert.equal(l.wait('10.0.0.1', 0), 500);
    assert.equal(l.wait('10.0.0.1', 500), 0, 'one token back after 1/rate s');
    l.fail('10.0.0.2', 1);
    l.fail('10.0.0.3', 2);
    l.fail('10.0.0.4', 3);
    assert.equal(l.size, 3);
    assert.equal(l.wait('10.0.0.1', 3), 0, 'the oldest address was evicted');
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as its IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2::a'), addressKey('2001:db8:1:2:ffff:1:2:3'));
    assert.notEqual(addressKey('2001:db8:1:2::a'), addressKey('2001:db8:1:3::a'));
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
    const l = new AuthFailureLimiter(1, 1);
    l.fail('2001:db8:1:2::a', 0);
    assert.ok(l.wait('2001:db8:1:2::b', 0) > 0, 'a neighbour in the same /64 shares the bucket');
  });
});

describe('CONFIRMA_TRUST_PROXY', () => {
  it('takes addresses, CIDRs and range names, and refuses what any client could spoof', () => {
    assert.deepEqual(loadConfig({}).trustProxy, []);
    assert.deepEqual(loadConfig({ CONFIRMA_TRUST_PROXY: 'loopback, 10.0.0.0/8,2001:db8::/32' }).trustProxy, [
      'loopback',
      '10.0.0.0/8',
      '2001:db8::/32',
    ]);
    for (const bad of ['true', '*', '1', '10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/2']) {
      assert.throws(() => loadConfig({ CONFIRMA_TRUST_PROXY: bad }), ConfigError, bad);
    }
  });
});
