import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { HttpClient } from '../src/dispatch/http-client.js';
import { checkUrlDestinationResolved, parseAllowList, type Resolver } from '../src/dispatch/ssrf.js';
import { containsCardNumber, luhnValid } from '../src/domain/pan.js';
import { Keyring, KeyringError } from '../src/signing/keyring.js';
import { openSigningSecret, sealSigningSecret } from '../src/signing/sealed-secrets.js';
import { createLogger } from '../src/observe/logger.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { ADMIN_KEY, startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

describe('card numbers', () => {
  it('Luhn and PAN detection', () => {
    assert.equal(luhnValid('4111111111111111'), true);
    assert.equal(luhnValid('4111111111111112'), false);
    assert.equal(containsCardNumber('paid with 4111 1111 1111 1111 today'), true);
    assert.equal(containsCardNumber('card 5500-0000-0000-0004'), true);
    assert.equal(containsCardNumber('378282246310005'), true); // Amex, 15 digits
    assert.equal(containsCardNumber('order 12345 of 2026'), false);
    assert.equal(containsCardNumber('4111111111111112'), false);
  });
});

describe('ingest hardening', () => {
  let engine: Engine;
  let merchantId: string;
  before(async () => {
    engine = await startEngine({ CONFIRMA_RATE_LIMIT: '0' });
    const m = await engine.call('POST', '/v1/merchants', { name: 'Secure', url: 'http://127.0.0.1:9/x' });
    merchantId = m.body.id;
  });
  after(() => engine.stop());

  async function raw(body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(engine.url + '/v1/transactions', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, body: await res.json() };
  }

  it('refuses a card number in customer.name and metadata, naming the field, storing nothing', async () => {
    for (const [over, field] of [
      [{ customer: { name: 'Pay 4111 1111 1111 1111' } }, 'customer.name'],
      [{ metadata: { note: 'card 5500000000000004' } }, 'metadata.note'],
      [{ metadata: { n: 4111111111111111 } }, 'metadata.n'],
    ] as const) {
      const res = await engine.call('POST', '/v1/transactions', txBody(merchantId, { id: `pan-${field}`, ...over }));
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'card_number_refused');
      assert.equal(res.body.error.field, field);
      assert.equal(JSON.stringify(res.body).includes('4111'), false, 'the error does not echo the number');
      assert.equal(await engine.app.store.getTransaction(merchantId, `pan-${field}`), undefined);
    }
  });

  it('refuses a phone with more than the 15 digits of E.164', async () => {
    const res = await engine.call('POST', '/v1/transactions', txBody(merchantId, { customer: { phone: '4111 1111 1111 1111' } }));
    assert.equal(res.status, 400);
    assert.equal(res.body.error.field, 'customer.phone');
  });

  it('refuses invalid UTF-8', async () => {
    const body = Buffer.concat([Buffer.from('{"merchantId":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const res = await raw(body);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_encoding');
  });

  it('refuses deep nesting with a 4xx', async () => {
    const deep = '{"merchantId":"x","metadata":{"a":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}}';
    const res = await raw(deep);
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  });

  it('fuzzing 10,000 generated bodies answers only 4xx and stores nothing refused', async () => {
    const amount = fc.oneof(
      fc.double().map(String),
      fc.double(),
      fc.constantFrom('NaN', 'Infinity', '-1', '0', '0.00', '1e3', '1.234', '12.3.4', ' 5', '99999999999999999999', ''),
      fc.bigInt().map(String),
      fc.string(),
    );
    const currency = fc.oneof(fc.constantFrom('COP', 'USD', 'JPY', 'usd', 'XXX', 'ZZZ', ''), fc.string({ maxLength: 5 }));
    const pan = fc.constantFrom('4111111111111111', '5500 0000 0000 0004', '378282246310005');
    const body = fc.oneof(
      // malformed JSON text
      fc.string().map((s) => ({ text: s })),
      // valid JSON of any shape
      fc.jsonValue().map((v) => ({ text: JSON.stringify(v) })),
      // transaction-shaped bodies with one or more bad fields
      fc
        .record({
          amount,
          currency,
          status: fc.oneof(fc.constantFrom('approved', 'done', 'APPROVED', ''), fc.string()),
          name: fc.oneof(
            fc.string(),
            pan.map((p) => `Card ${p}`),
          ),
          extra: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue(), { maxKeys: 2 })),
        })
        .map((r) => ({
          text: JSON.stringify({
            merchantId,
            reference: 'fuzz',
            amount: r.amount,
            currency: r.currency,
            status: r.status,
            customer: { name: r.name },
            ...(r.extra ?? {}),
          }),
        })),
    );
    const before = await engine.app.store.countByState();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, async ({ text }) => {
        const res = await fetch(engine.url + '/v1/transactions', {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: text,
        });
        const json = (await res.json()) as { error?: { code: string }; id?: string };
        assert.ok(res.status < 500, `5xx for ${text.slice(0, 200)}: ${JSON.stringify(json)}`);
        if (res.status === 201) {
          accepted++;
          // Accepted bodies must have been valid: amount a proper decimal string for the currency.
          assert.match(String(JSON.parse(text).amount), /^(0|[1-9]\d*)(\.\d+)?$/);
        } else {
          assert.ok(res.status >= 400 && json.error !== undefined);
        }
      }),
      { numRuns: 10_000 },
    );
    const after = await engine.app.store.countByState();
    const total = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
    assert.equal(total(after) - total(before), accepted, 'one confirmation per accepted body, none for refused ones');
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After past the burst', async () => {
    const engine = await startEngine({ CONFIRMA_RATE_LIMIT: '2', CONFIRMA_RATE_LIMIT_BURST: '3' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(engine.url + '/v1/merchants', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer();
      }
      assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
      assert.equal(statuses[3], 429);
      assert.ok(retryAfter !== null && Number(retryAfter) >= 1);
    } finally {
      await engine.stop();
    }
  });
});

describe('secret rotation', () => {
  it('signs with both secrets during the overlap, and only the new one after it', async () => {
    const fleet = await new MerchantServer().listen();
    const engine = await startEngine({ CONFIRMA_SECRET_OVERLAP_MS: '1500' });
    try {
      const m = await engine.call('POST', '/v1/merchants', { name: 'Rotating', url: fleet.url('rot') });
      const oldSecret = m.body.secret as string;
      fleet.merchant('rot', oldSecret);
      const rotated = await engine.call('POST', `/v1/merchants/${m.body.id}/secret/rotate`);
      assert.equal(rotated.status, 200);
      const newSecret = rotated.body.secret as string;
      assert.notEqual(newSecret, oldSecret);
      const headersSeen: Array<Record<string, string>> = [];
      fleet.server.on('request', (req) => headersSeen.push(req.headers as Record<string, string>));
      const verifies = (secret: string, i: number): boolean => {
        try {
          new Webhook(secret).verify(fleet.received[i]!.body, headersSeen[i]!);
          return true;
        } catch {
          return false;
        }
      };
      await engine.call('POST', '/v1/transactions', txBody(m.body.id));
      await waitFor('first delivery', () => fleet.received.length === 1);
      assert.equal(verifies(oldSecret, 0), true, 'old secret verifies during the overlap');
      assert.equal(verifies(newSecret, 0), true, 'new secret verifies during the overlap');
      await new Promise((r) => setTimeout(r, 1600));
      await engine.call('POST', '/v1/transactions', txBody(m.body.id));
      await waitFor('second delivery', () => fleet.received.length === 2);
      assert.equal(verifies(newSecret, 1), true);
      assert.equal(verifies(oldSecret, 1), false, 'old secret no longer signs after the overlap');
      // Secrets are shown at creation and rotation only.
      const read = await engine.call('GET', `/v1/merchants/${m.body.id}`);
      assert.equal(JSON.stringify(read.body).includes('whsec_'), false);
    } finally {
      await engine.stop();
      await fleet.close();
    }
  });
});

describe('SSRF', () => {
  it('DNS rebinding: a name public at registration and loopback at connect never reaches loopback', async () => {
    const http = await import('node:http');
    let connections = 0;
    const server = http.createServer((_req, res) => res.end('reached'));
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    let lookups = 0;
    // A hostile DNS: a public address the first time (registration), loopback afterwards.
    const rebinding: Resolver = (_host, _opts, cb) => {
      lookups++;
      cb(null, [{ address: lookups === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }]);
    };
    const none = parseAllowList('');
    const url = `http://rebind.example:${port}/hook`;
    try {
      assert.deepEqual(await checkUrlDestinationResolved(url, none, rebinding), { ok: true });
      const client = new HttpClient({ allowPrivate: none, resolve: rebinding });
      const r = await client.send({ url, headers: {}, body: '{}', deadlineMs: 2000 });
      await client.close();
      assert.equal(r.errorKind, 'blocked_destination');
      assert.equal(connections, 0, 'no connection reached the loopback server');
      assert.ok(lookups >= 2, 'the address was resolved again at connect time');
    } finally {
      server.close();
    }
  });

  it('refuses at registration a name that resolves to a private address', async () => {
    const internal: Resolver = (_h, _o, cb) =>
      cb(null, [
        { address: '203.0.113.9', family: 4 },
        { address: '10.0.0.5', family: 4 },
      ]);
    const check = await checkUrlDestinationResolved('https://shop.example/hook', parseAllowList(''), internal);
    assert.equal(check.ok, false);
  });

  it('does not follow a 302 to the cloud metadata address', async () => {
    const http = await import('node:http');
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      // Loopback is allowed here only so the merchant itself can be reached; 169.254/16 is not.
      const client = new HttpClient({ allowPrivate: parseAllowList('loopback') });
      const r = await client.send({ url: `http://127.0.0.1:${port}/`, headers: {}, body: '{}', deadlineMs: 2000 });
      await client.close();
      assert.equal(r.ok, false);
      assert.equal(r.statusCode, 302);
      assert.match(r.errorMessage ?? '', /redirects are not followed/);
      assert.equal(requests, 1);
    } finally {
      server.close();
    }
  });
});

describe('signing secrets at rest', () => {
  it('are sealed under CONFIRMA_MASTER_KEY and still sign', async () => {
    const Database = (await import('better-sqlite3')).default;
    const fleet = await new MerchantServer().listen();
    const masterKey = 'ab'.repeat(32);
    const engine = await startEngine({ CONFIRMA_MASTER_KEY: masterKey });
    try {
      const m = await engine.call('POST', '/v1/merchants', { name: 'Sealed', url: fleet.url('sealed') });
      fleet.merchant('sealed', m.body.secret);
      const rotated = await engine.call('POST', `/v1/merchants/${m.body.id}/secret/rotate`);
      assert.equal(rotated.status, 200);
      const db = new Database(engine.dbPath, { readonly: true });
      const stored = db.prepare('SELECT secret FROM merchant_secrets WHERE merchant_id = ?').all(m.body.id) as Array<{
        secret: string;
      }>;
      db.close();
      assert.equal(stored.length, 2);
      for (const row of stored) {
        assert.match(row.secret, /^v1\.[0-9a-f]{16}\./, 'sealed, with the id of the key that sealed it');
        assert.equal(row.secret.includes(m.body.secret.slice(6)), false);
        assert.equal(row.secret.includes(rotated.body.secret.slice(6)), false);
      }
      await engine.call('POST', '/v1/transactions', txBody(m.body.id));
      await waitFor('delivery signed with the opened secrets', () => fleet.received.length === 1);
      assert.equal(fleet.received[0]!.verified, true);
    } finally {
      await engine.stop();
      await fleet.close();
    }
  });
});

describe('sealed secret', () => {
  it('opens only with the master key and only for its own merchant', () => {
    const keyring = new Keyring(Buffer.alloc(32, 7));
    const sealed = sealSigningSecret(keyring, 'mer_a', 'whsec_c2VjcmV0');
    assert.equal(openSigningSecret(keyring, 'mer_a', sealed), 'whsec_c2VjcmV0');
    assert.throws(() => openSigningSecret(keyring, 'mer_b', sealed), KeyringError);
    assert.throws(() => openSigningSecret(undefined, 'mer_a', sealed), KeyringError);
    assert.equal(sealSigningSecret(undefined, 'mer_a', 'whsec_x'), 'whsec_x');
  });
});

describe('hostile endpoints', () => {
  it('drip, endless and silent merchants are cut at the deadline and their sockets are closed', async () => {
    const http = await import('node:http');
    let open = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      if (req.url === '/drip') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('x'), 50);
        res.on('close', () => clearInterval(t));
      } else if (req.url === '/endless') {
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 97);
        const pump = (): void => {
          while (res.write(chunk)) {
            /* keep writing until backpressure */
          }
        };
        res.on('drain', pump);
        pump();
      } // '/silent': never answers
    });
    server.on('connection', (s) => {
      open++;
      s.on('close', () => open--);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '600', CONFIRMA_LEASE_MS: '5000' });
    try {
      const rss0 = process.memoryUsage().rss;
      for (const p of ['drip', 'endless', 'silent']) {
        const m = await engine.call('POST', '/v1/merchants', {
          name: p,
          url: `http://127.0.0.1:${port}/${p}`,
          retrySchedule: [0],
        });
        const t0 = Date.now();
        for (let i = 0; i < 10; i++) {
          assert.equal((await engine.call('POST', '/v1/transactions', txBody(m.body.id))).status, 201);
        }
        // drip and endless answer 200 first (delivered; the body is cut), silent never answers (dead).
        const settled = p === 'silent' ? 'dead' : 'delivered';
        await waitFor(
          `${p} attempts ended`,
          async () => {
            const page = await engine.call('GET', `/v1/confirmations?merchantId=${m.body.id}&state=${settled}`);
            return page.body.data.length === 10;
          },
          15_000,
        );
        assert.ok(Date.now() - t0 < 10_000, `${p} took ${Date.now() - t0} ms`);
      }
      await waitFor('every socket to the hostile server closed', () => open === 0, 10_000);
      const grown = process.memoryUsage().rss - rss0;
      assert.ok(grown < 100 * 1024 * 1024, `rss grew by ${grown} bytes`);
    } finally {
      await engine.stop();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('logs', () => {
  it('mask customer data and drop secrets and keys', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info({ customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' } }, 'tx');
    log.info({ tx: { customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' } } }, 'nested');
    log.info({ secret: 'whsec_abc', apiKey: 'cfm_mk_abc', req: { headers: { authorization: 'Bearer cfm_mk_abc' } } }, 'keys');
    const text = lines.join('');
    for (const planted of ['Ana', 'Gómez', '555 0101', 'whsec_abc', 'cfm_mk_abc']) {
      assert.equal(text.includes(planted), false, `${planted} leaked: ${text}`);
    }
    assert.match(text, /A\*\*/);
    assert.match(text, /\*\*\*01/);
  });
});
