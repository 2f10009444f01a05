import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { errorCatalog } from '../src/errors.js';
import { connectionsCheckingInterval } from '../src/api/http-transport.js';
import { ADMIN, startApi, txBody, type ApiServer } from './helpers/api-server.js';
import { openSocket, parseAnswer, rawExchange, type RawAnswer } from './helpers/raw-http.js';

/**
 * Issue 13 §4, one error shape: what never reaches a route (router errors, Node's parser errors)
 * answers `{ error: { code, message } }` from the catalog with the right status, checked on a real
 * socket with raw bytes, since fetch would refuse to send most of these requests.
 */

function assertCatalogAnswer(a: RawAnswer, status: number, code: string, opts: { closes: boolean }): void {
  assert.equal(a.status, status, JSON.stringify(a));
  assert.match(a.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(a.body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error'], a.body);
  assert.equal(body.error.code, code, a.body);
  assert.ok(Object.hasOwn(errorCatalog, body.error.code));
  assert.equal(typeof body.error.message, 'string');
  if (opts.closes) {
    assert.equal(a.headers.connection, 'close', JSON.stringify(a.headers));
    assert.equal(a.closed, true, 'the server closed the connection');
  }
}

describe('answers that never reach a route use the catalog shape', () => {
  let s: ApiServer;
  let port: number;
  before(async () => {
    s = await startApi();
    port = (s.app.server.address() as AddressInfo).port;
  });
  after(() => s.close());

  const auth = `Authorization: Bearer ${ADMIN}\r\n`;

  it('a 300-character path parameter answers 414 uri_too_long, without echoing the path', async () => {
    const a = await rawExchange(
      port,
      `GET /v1/transactions/${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
    );
    assertCatalogAnswer(a, 414, 'uri_too_long', { closes: false });
    assert.equal(a.body.includes('aaaa'), false);
  });

  it('a malformed percent-escape in the path answers 400 invalid_path', async () => {
    const a = await rawExchange(port, `GET /v1/transactions/%zz%E0%A4%A HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    assertCatalogAnswer(a, 400, 'invalid_path', { closes: false });
  });

  const broken: Array<[string, string]> = [
    [
      'Content-Length: -1',
      `POST /v1/transactions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`,
    ],
    [
      'two different Content-Lengths',
      `POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    ],
    ['a NUL in a header value', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\u0000b\r\n\r\n`],
    ['a bare LF ending a header', `GET /healthz HTTP/1.1\r\nHost: x\nX-Note: a\r\n\r\n`],
    ['a space inside a header name', `GET /healthz HTTP/1.1\r\nHost: x\r\nX Note: a\r\n\r\n`],
    ['an unknown method', `BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a bad chunk size', `POST /v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`],
  ];
  for (const [name, bytes] of broken) {
    it(`${name} answers 400 bad_request and closes the connection`, async () => {
      assertCatalogAnswer(await rawExchange(port, bytes), 400, 'bad_request', { closes: true });
    });
  }

  it('headers over 16 KiB answer 431 headers_too_large and close the connection', async () => {
    const a = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`);
    assertCatalogAnswer(a, 431, 'headers_too_large', { closes: true });
  });

  it('still serves a well-formed request on a raw socket', async () => {
    const a = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(a.status, 200, a.body);
  });
});

describe('slow clients', () => {
  it('300 connections trickling a body, stuck in their headers or silent are all closed within the timeouts, 408 in the catalog shape, while others are served', async () => {
    const requestTimeout = 3000;
    const headersTimeout = 2000;
    const s = await startApi({
      CONFIRMA_REQUEST_TIMEOUT_MS: String(requestTimeout),
      CONFIRMA_HEADERS_TIMEOUT_MS: String(headersTimeout),
    });
    const sockets: Socket[] = [];
    try {
      const port = (s.app.server.address() as AddressInfo).port;
      const m = await s.merchant();
      const head =
        `POST /v1/transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${m.apiKey}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n';
      const t0 = Date.now();
      const slow = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const socket = await openSocket(port);
          sockets.push(socket);
          const kind = i % 10 === 0 ? 'silent' : i % 10 === 1 ? 'headers' : 'body';
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          socket.on('error', () => undefined);
          const closedAt = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
          if (kind === 'body') socket.write(`${head}{"merch`); // headers and 7 of the 100 body bytes
          if (kind === 'headers') socket.write('POST /v1/transactions HTTP/1.1\r\nHost: x\r\n');
          return { kind, chunks, closedAt, socket };
        }),
      );
      // While they hang on, the node keeps serving.
      const served = await s.call('POST', '/v1/transactions', { key: m.apiKey, body: txBody(m.id, { id: 'served-meanwhile' }) });
      assert.equal(served.status, 201, served.text);
      assert.ok(Date.now() - t0 < headersTimeout, 'served before any timeout fired');

      const bound = requestTimeout + connectionsCheckingInterval(s.config) + 1_500;
      const closedAt = await Promise.race([
        Promise.all(slow.map((c) => c.closedAt)),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), bound).unref()),
      ]);
      const open = slow.filter((c) => !c.socket.destroyed && c.socket.readyState !== 'closed').length;
      assert.ok(closedAt !== null, `${open} of 300 connections still open ${bound} ms after they started`);
      assert.ok(Math.max(...closedAt) - t0 <= bound, `the last closed after ${Math.max(...closedAt) - t0} ms`);
      for (const c of slow.filter((x) => x.kind !== 'silent')) {
        const a = parseAnswer(Buffer.concat(c.chunks).toString('latin1'), true);
        assert.equal(a.status, 408, `${c.kind}: ${a.body}`);
        assert.equal(JSON.parse(a.body).error.code, 'request_timeout');
        assert.equal(a.headers.connection, 'close');
      }
      const after = await s.call('GET', '/v1/merchants');
      assert.equal(after.status, 200);
      assert.ok(await s.store.getTransaction(m.id, 'served-meanwhile'));
    } finally {
      for (const socket of sockets) socket.destroy(); // else a failed run would wait on them in close()
      await s.close();
    }
  });

  it('refuses a headers timeout longer than the request timeout at start-up', async () => {
    const { loadConfig, ConfigError } = await import('../src/config.js');
    assert.throws(() => loadConfig({ CONFIRMA_REQUEST_TIMEOUT_MS: '5000', CONFIRMA_HEADERS_TIMEOUT_MS: '6000' }), ConfigError);
    const d = loadConfig({});
    assert.ok(d.requestTimeoutMs <= 30_000 && d.headersTimeoutMs <= d.requestTimeoutMs);
  });
});
