import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { once } from 'node:events';
import { startReceiver, type Receiver } from '../src/receiver/receiver.js';
import { generateSecret, signedHeaders } from '../src/signing/standard-webhooks.js';

const secret = generateSecret();
const oldSecret = generateSecret();
const customer = { name: 'Valentina Quiroga-Zuluaga', phone: '+573009871234' };
const lines: string[] = [];
let receiver: Receiver;

const nowSec = (): number => Math.floor(Date.now() / 1000);

function confirmation(txId: string, type = 'transaction.approved'): string {
  return JSON.stringify({ type, timestamp: new Date().toISOString(), data: { id: txId, amount: '48213.77', customer } });
}

async function post(
  body: string | Buffer,
  headers: Record<string, string>,
  url = receiver.url,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, json: await res.json() };
}

function signed(msgId: string, body: string | Buffer, ts = nowSec(), secrets = [secret]): Record<string, string> {
  return signedHeaders(secrets, msgId, ts, body);
}

before(async () => {
  receiver = await startReceiver({ port: 0, secret: [secret, oldSecret], log: (line) => lines.push(line) });
});

after(async () => {
  await receiver.close();
});

test('listens on a real port and reports the full URL of the POST path', () => {
  assert.ok(receiver.port > 0);
  assert.equal(receiver.url, `http://127.0.0.1:${receiver.port}/confirmation`);
});

test('a valid confirmation gets 200 {"ok":true}, is in the ledger, and logs one line', async () => {
  const body = confirmation('tx_abc');
  const before = lines.length;
  const res = await post(body, signed('msg_valid', body));
  assert.deepEqual(res, { status: 200, json: { ok: true } });
  assert.equal(receiver.received.get('msg_valid')?.body, body);
  assert.ok(Math.abs(receiver.received.get('msg_valid')!.receivedAt - Date.now()) < 60_000);
  assert.equal(lines.length, before + 1);
  assert.match(lines.at(-1)!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z accepted msg_valid transaction\.approved tx=tx_abc$/);
});

test('a duplicate webhook-id gets 200, counts in duplicates and is not recorded again', async () => {
  const body = confirmation('tx_dup');
  const headers = signed('msg_dup', body);
  assert.equal((await post(body, headers)).status, 200);
  const first = receiver.received.get('msg_dup');
  const duplicatesBefore = receiver.duplicates;
  const res = await post(body, headers);
  assert.equal(res.status, 200);
  assert.equal(receiver.duplicates, duplicatesBefore + 1);
  assert.equal(receiver.received.get('msg_dup'), first);
  assert.match(lines.at(-1)!, / duplicate msg_dup transaction\.approved tx=tx_dup$/);
});

test('a bad signature gets 401 invalid_signature and is not recorded', async () => {
  const body = confirmation('tx_bad');
  const rejectedBefore = receiver.rejected;
  const res = await post(body, signed('msg_bad', body, nowSec(), [generateSecret()]));
  assert.deepEqual(res, { status: 401, json: { ok: false, reason: 'invalid_signature' } });
  assert.equal(receiver.received.has('msg_bad'), false);
  assert.equal(receiver.rejected, rejectedBefore + 1);
  assert.match(lines.at(-1)!, / rejected msg_bad invalid_signature$/);
});

test('a tampered body gets 401', async () => {
  const body = confirmation('tx_tamper');
  const res = await post(body.replace('48213.77', '98213.77'), signed('msg_tamper', body));
  assert.equal(res.status, 401);
  assert.equal(receiver.received.has('msg_tamper'), false);
});

test('a stale timestamp gets 401 timestamp_out_of_tolerance even when correctly signed', async () => {
  const body = confirmation('tx_stale');
  const res = await post(body, signed('msg_stale', body, nowSec() - 301));
  assert.deepEqual(res, { status: 401, json: { ok: false, reason: 'timestamp_out_of_tolerance' } });
  assert.equal(receiver.received.has('msg_stale'), false);
});

test('missing signature headers get 401 missing_headers', async () => {
  const res = await post(confirmation('tx_none'), {});
  assert.deepEqual(res, { status: 401, json: { ok: false, reason: 'missing_headers' } });
});

test('during a rotation the old secret still verifies', async () => {
  const body = confirmation('tx_rot');
  const res = await post(body, signed('msg_rot', body, nowSec(), [oldSecret]));
  assert.equal(res.status, 200);
  assert.ok(receiver.received.has('msg_rot'));
});

test('log lines never contain customer data or the secret', async () => {
  const body = confirmation('tx_pii');
  await post(body, signed('msg_pii', body));
  await post(body, signed('msg_pii', body));
  await post(body, signed('msg_pii_bad', body, nowSec(), [generateSecret()]));
  assert.ok(
    lines.some((l) => l.includes('msg_pii ')),
    'the confirmations were logged',
  );
  for (const line of lines) {
    for (const planted of [customer.name, 'Valentina', customer.phone, '3009871234', secret, secret.slice(6), '48213.77']) {
      assert.ok(!line.includes(planted), `log line leaks ${planted}: ${line}`);
    }
  }
});

test('a sender cannot forge log lines through the body', async () => {
  const body = confirmation('tx_x\n2026-01-01T00:00:00.000Z accepted msg_fake', 'transaction.approved\r\nX');
  const before = lines.length;
  assert.equal((await post(body, signed('msg_inject', body))).status, 200);
  assert.equal(lines.length, before + 1);
  assert.ok(!/[\r\n]/.test(lines.at(-1)!));
});

test('a body that is not JSON is accepted and logged without type or id', async () => {
  const body = 'not json';
  assert.equal((await post(body, signed('msg_text', body))).status, 200);
  assert.match(lines.at(-1)!, / accepted msg_text - tx=-$/);
});

test('a body of exactly 1 MiB is accepted; one byte more gets 413', async () => {
  const exact = Buffer.alloc(1024 * 1024, 'a');
  assert.equal((await post(exact, signed('msg_1mib', exact))).status, 200);
  const over = Buffer.alloc(1024 * 1024 + 1, 'a');
  const res = await post(over, signed('msg_over', over));
  assert.deepEqual(res, { status: 413, json: { ok: false, reason: 'body_too_large' } });
  assert.equal(receiver.received.has('msg_over'), false);
});

test('a chunked body without content-length that passes 1 MiB gets 413', async () => {
  const req = request(receiver.url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
  const chunk = Buffer.alloc(64 * 1024, 'b');
  const responded = once(req, 'response');
  // Keep writing until the server answers; it must answer before we stop.
  let written = 0;
  let answered = false;
  void responded.then(() => (answered = true));
  while (!answered && written <= 4 * 1024 * 1024) {
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), responded]);
    written += chunk.length;
  }
  req.end();
  const [res] = (await responded) as [import('node:http').IncomingMessage];
  assert.equal(res.statusCode, 413);
  assert.ok(written > 1024 * 1024 && written <= 4 * 1024 * 1024 + chunk.length);
  res.resume();
  await once(res, 'end');
});

test('a declared content-length past 1 MiB gets 413 before any body is sent', { timeout: 10_000 }, async () => {
  const req = request(receiver.url, { method: 'POST', headers: { 'content-length': String(2 * 1024 * 1024) } });
  req.flushHeaders();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  assert.equal(res.statusCode, 413);
  res.resume();
  req.destroy();
});

test('GET /healthz is 200; other paths 404; other methods 405', async () => {
  const base = `http://127.0.0.1:${receiver.port}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/elsewhere`, { method: 'POST', body: '{}' })).status, 404);
  const get = await fetch(receiver.url);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);
  assert.equal((await fetch(`${receiver.url}?x=1`, { method: 'PUT' })).status, 405);
});

test('a custom path and a ledger limit are honoured; close() releases the port', async () => {
  const small = await startReceiver({ port: 0, secret, path: '/hooks/pay', ledgerLimit: 2, log: () => {} });
  assert.ok(small.url.endsWith('/hooks/pay'));
  for (const id of ['m1', 'm2', 'm3']) {
    const body = confirmation(`tx_${id}`);
    assert.equal((await post(body, signed(id, body), small.url)).status, 200);
  }
  assert.deepEqual([...small.received.keys()], ['m2', 'm3']);
  await small.close();
  await assert.rejects(fetch(small.url, { method: 'POST', body: '{}' }));
});

test('a malformed secret fails at start', async () => {
  await assert.rejects(startReceiver({ port: 0, secret: 'whsec_***', log: () => {} }), TypeError);
  await assert.rejects(startReceiver({ port: 0, secret: [], log: () => {} }), TypeError);
});
