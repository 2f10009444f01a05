import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import {
  Signer,
  generateSecret,
  secretKeyBytes,
  signatureHeader,
  signedHeaders,
  verifyWebhook,
} from '../src/signing/standard-webhooks.js';

const body = JSON.stringify({
  type: 'transaction.approved',
  data: { id: 'tx_abc', amount: '123.45', customer: { name: 'Ana Pérez', phone: '+573001234567' } },
});
const nowSec = (): number => Math.floor(Date.now() / 1000);

test('generateSecret gives whsec_ and the base64 of 32 random bytes', () => {
  const a = generateSecret();
  const b = generateSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(secretKeyBytes(a).length, 32);
  assert.notEqual(a, b);
});

test('our signature verifies with the standardwebhooks package', () => {
  const secret = generateSecret();
  const headers = signedHeaders([secret], 'msg_1', nowSec(), body);
  assert.deepEqual(Object.keys(headers).sort(), ['webhook-id', 'webhook-signature', 'webhook-timestamp']);
  assert.match(headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
});

test('with two secrets, each secret verifies with the package and a third does not', () => {
  const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
  const ts = nowSec();
  const headers = signedHeaders([oldSecret, newSecret], 'msg_rot', ts, body);
  const parts = headers['webhook-signature']!.split(' ');
  assert.equal(parts.length, 2, 'two signatures joined by a single space');
  assert.ok(parts.every((p) => p.startsWith('v1,')));
  assert.equal(headers['webhook-signature'], signatureHeader([oldSecret, newSecret], 'msg_rot', ts, body));
  new Webhook(oldSecret).verify(body, headers);
  new Webhook(newSecret).verify(body, headers);
  assert.throws(() => new Webhook(generateSecret()).verify(body, headers), /No matching signature/);
});

test("the package's own sign output verifies with verifyWebhook", () => {
  const secret = generateSecret();
  const ts = nowSec();
  const signature = new Webhook(secret).sign('msg_pkg', new Date(ts * 1000), body);
  const result = verifyWebhook(
    secret,
    { 'webhook-id': 'msg_pkg', 'webhook-timestamp': String(ts), 'webhook-signature': signature },
    body,
  );
  assert.deepEqual(result, { ok: true, msgId: 'msg_pkg', timestampSec: ts });
});

test('a Buffer body signs its bytes, the same as the string (non-ASCII included)', () => {
  const secret = generateSecret();
  const ts = nowSec();
  const bytes = Buffer.from(body, 'utf8');
  assert.equal(signatureHeader([secret], 'msg_buf', ts, bytes), signatureHeader([secret], 'msg_buf', ts, body));
  const headers = signedHeaders([secret], 'msg_buf', ts, bytes);
  new Webhook(secret).verify(bytes, headers);
  assert.equal(verifyWebhook(secret, headers, bytes).ok, true);
});

test('Signer signs exactly as signatureHeader does', () => {
  const secrets = [generateSecret(), generateSecret()];
  const signer = new Signer(secrets);
  assert.equal(signer.signatureHeader('msg_s', 1_700_000_000, body), signatureHeader(secrets, 'msg_s', 1_700_000_000, body));
  assert.deepEqual(signer.signedHeaders('msg_s', 1_700_000_000, body), signedHeaders(secrets, 'msg_s', 1_700_000_000, body));
});

test('property: both implementations agree in both directions on any id, timestamp and body', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme-ascii' }),
      fc.integer({ min: -300, max: 300 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      (msgId, skew, text) => {
        const secret = generateSecret();
        const ts = nowSec() + skew;
        const headers = signedHeaders([secret], msgId, ts, text);
        new Webhook(secret).verify(text, headers, { jsonParse: false });
        const theirs = new Webhook(secret).sign(msgId, new Date(ts * 1000), text);
        const result = verifyWebhook(secret, { ...headers, 'webhook-signature': theirs }, text);
        assert.deepEqual(result, { ok: true, msgId, timestampSec: ts });
      },
    ),
    { numRuns: 300 },
  );
});

test('a tampered body, id or timestamp is rejected as invalid_signature', () => {
  const secret = generateSecret();
  const ts = nowSec();
  const headers = signedHeaders([secret], 'msg_t', ts, body);
  assert.equal(verifyWebhook(secret, headers, body).ok, true);
  const invalid = { ok: false, reason: 'invalid_signature' };
  assert.deepEqual(verifyWebhook(secret, headers, body.replace('123.45', '923.45')), invalid);
  assert.deepEqual(verifyWebhook(secret, { ...headers, 'webhook-id': 'msg_u' }, body), invalid);
  assert.deepEqual(verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts - 1) }, body), invalid);
  assert.deepEqual(verifyWebhook(generateSecret(), headers, body), invalid);
});

test('the timestamp must be within 5 minutes either way; 300 s is still inside, as in the package', () => {
  const secret = generateSecret();
  const now = 1_800_000_000;
  const at = (ts: number, opts: { toleranceSec?: number } = {}) =>
    verifyWebhook(secret, signedHeaders([secret], 'msg_w', ts, body), body, { nowSec: now, ...opts });
  const outside = { ok: false, reason: 'timestamp_out_of_tolerance' };
  assert.deepEqual(at(now - 301), outside);
  assert.deepEqual(at(now + 301), outside);
  assert.deepEqual(at(now - 299), { ok: true, msgId: 'msg_w', timestampSec: now - 299 });
  assert.equal(at(now + 299).ok, true);
  assert.equal(at(now - 300).ok, true);
  assert.deepEqual(at(now - 61, { toleranceSec: 60 }), outside);
  assert.equal(at(now - 59, { toleranceSec: 60 }).ok, true);
});

test('the default window follows the clock', () => {
  const secret = generateSecret();
  const stale = signedHeaders([secret], 'msg_c', nowSec() - 400, body);
  assert.deepEqual(verifyWebhook(secret, stale, body), { ok: false, reason: 'timestamp_out_of_tolerance' });
  assert.throws(() => new Webhook(secret).verify(body, stale), /too old/);
});

test('missing headers and malformed timestamps are told apart', () => {
  const secret = generateSecret();
  const headers = signedHeaders([secret], 'msg_h', nowSec(), body);
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const without = { ...headers, [name]: undefined };
    assert.deepEqual(verifyWebhook(secret, without, body), { ok: false, reason: 'missing_headers' }, name);
    assert.deepEqual(verifyWebhook(secret, { ...headers, [name]: '' }, body), { ok: false, reason: 'missing_headers' }, name);
  }
  for (const bad of ['abc', '12abc', '-5', '1.5', ' 17']) {
    const result = verifyWebhook(secret, { ...headers, 'webhook-timestamp': bad }, body);
    assert.deepEqual(result, { ok: false, reason: 'invalid_timestamp' }, bad);
  }
});

test('header names are case-insensitive', () => {
  const secret = generateSecret();
  const ts = nowSec();
  const h = signedHeaders([secret], 'msg_ci', ts, body);
  const mixed = {
    'Webhook-Id': h['webhook-id'],
    'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
    'Webhook-Signature': h['webhook-signature'],
  };
  assert.deepEqual(verifyWebhook(secret, mixed, body), { ok: true, msgId: 'msg_ci', timestampSec: ts });
});

test('any v1 signature among several may match; other versions are ignored', () => {
  const secret = generateSecret();
  const ts = nowSec();
  const good = signatureHeader([secret], 'msg_v', ts, body);
  const sig = good.slice('v1,'.length);
  const withSig = (value: string) =>
    verifyWebhook(secret, { 'webhook-id': 'msg_v', 'webhook-timestamp': String(ts), 'webhook-signature': value }, body);
  assert.equal(withSig(`v1,${Buffer.alloc(32).toString('base64')} v2,xyz ${good}`).ok, true);
  assert.equal(withSig(`v1a,${sig} v2,${sig}`).ok, false, 'a valid MAC under another version does not count');
  assert.equal(withSig(`${sig}`).ok, false, 'a bare signature without version does not count');
  assert.equal(withSig(`v1,${sig}x`).ok, false);
  // node:http joins a repeated header with ", "
  assert.equal(withSig(`${good}, v1,${Buffer.alloc(32).toString('base64')}`).ok, true);
  assert.equal(
    verifyWebhook(secret, { 'webhook-id': 'msg_v', 'webhook-timestamp': String(ts), 'webhook-signature': ['v2,x', good] }, body)
      .ok,
    true,
  );
});

test('verifyWebhook accepts any of several secrets (a rotation on the receiving side)', () => {
  const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
  const headers = signedHeaders([oldSecret], 'msg_r', nowSec(), body);
  assert.equal(verifyWebhook([newSecret, oldSecret], headers, body).ok, true);
  assert.equal(verifyWebhook([newSecret], headers, body).ok, false);
});

test('a malformed secret throws, without echoing it', () => {
  const good = generateSecret();
  for (const bad of ['whsec_', '', 'whsec_not base64!', 'whsec_abc', 'whsec_QUJD*', 'whsec_-_8=']) {
    assert.throws(() => secretKeyBytes(bad), TypeError, bad);
    assert.throws(() => signatureHeader([good, bad], 'msg_m', 1, body), TypeError, bad);
    assert.throws(() => new Signer([bad]), TypeError, bad);
    assert.throws(() => verifyWebhook(bad, signedHeaders([good], 'msg_m', nowSec(), body), body), TypeError, bad);
  }
  const typo = `${good.slice(0, 20)}!${good.slice(21)}`;
  assert.throws(
    () => secretKeyBytes(typo),
    (err: Error) => !err.message.includes(typo.slice(6, 20)) && !err.message.includes(typo.slice(21)),
  );
  // The prefix is optional, as in the reference libraries.
  assert.deepEqual(secretKeyBytes(good.slice('whsec_'.length)), secretKeyBytes(good));
});

test('signing needs a secret and a whole-second timestamp', () => {
  assert.throws(() => signatureHeader([], 'msg', 1, body), TypeError);
  assert.throws(() => new Signer([]), TypeError);
  assert.throws(() => signatureHeader([generateSecret()], 'msg', 1.5, body), TypeError);
  assert.throws(() => signatureHeader([generateSecret()], 'msg', Date.now() * 1000, body), TypeError);
});
