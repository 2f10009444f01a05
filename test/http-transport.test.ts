import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { errorCatalog } from '../src/errors.js';
import { ADMIN, startApi, type ApiServer } from './helpers/api-server.js';
import { rawExchange, type RawAnswer } from './helpers/raw-http.js';

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
    const a = await rawExchange(port, `GET /v1/transactions/${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    assertCatalogAnswer(a, 414, 'uri_too_long', { closes: false });
    assert.equal(a.body.includes('aaaa'), false);
  });

  it('a malformed percent-escape in the path answers 400 invalid_path', async () => {
    const a = await rawExchange(port, `GET /v1/transactions/%zz%E0%A4%A HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    assertCatalogAnswer(a, 400, 'invalid_path', { closes: false });
  });

  const broken: Array<[string, string]> = [
    ['Content-Length: -1', `POST /v1/transactions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`],
    ['two different Content-Lengths', `POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`],
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
