import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { describe, it } from 'node:test';
import {
  checkUrlDestination,
  isBlockedAddress,
  makeGuardedLookup,
  parseAllowList,
  type AllowList,
} from '../src/dispatch/ssrf.js';

const none = parseAllowList('');

const BLOCKED_ADDRESSES = [
  '0.0.0.0',
  '0.1.2.3',
  '10.0.0.1',
  '10.255.255.255',
  '100.64.0.1',
  '100.127.255.254',
  '127.0.0.1',
  '127.255.0.9',
  '169.254.169.254', // cloud metadata
  '169.254.0.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.0.0.8',
  '192.0.2.1',
  '192.168.1.1',
  '198.18.0.1',
  '198.19.255.255',
  '198.51.100.7',
  '203.0.113.9',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '255.255.255.255',
  '::',
  '::1',
  '0:0:0:0:0:0:0:1',
  'fe80::1',
  'fe80::1%eth0',
  'febf::1',
  'fc00::1',
  'fd12:3456::1',
  'ff02::1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:169.254.169.254',
  '::ffff:10.0.0.1',
  '::127.0.0.1',
  '::a00:1', // IPv4-compatible 10.0.0.1
  '64:ff9b::a00:1', // NAT64
  '64:ff9b::808:808', // NAT64, even of a public address
  '2002:7f00:1::1', // 6to4
  '2001::1', // Teredo
  '2001:0:4136:e378::1',
  '2001:db8::1',
  'not an address',
  '',
];

const PUBLIC_ADDRESSES = [
  '8.8.8.8',
  '1.1.1.1',
  '93.184.216.34',
  '100.63.255.255', // just below CGNAT
  '100.128.0.0', // just above CGNAT
  '172.15.255.255', // just below 172.16/12
  '172.32.0.0', // just above
  '192.0.3.1',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2a00:1450:4001::200e',
  '::ffff:8.8.8.8',
  '2001:4860::8888', // Google, outside Teredo 2001::/32
  '2001:db9::1', // just outside the documentation prefix
];

describe('isBlockedAddress', () => {
  for (const a of BLOCKED_ADDRESSES) {
    it(`blocks ${JSON.stringify(a)}`, () => assert.equal(isBlockedAddress(a), true));
  }
  for (const a of PUBLIC_ADDRESSES) {
    it(`lets ${a} through`, () => assert.equal(isBlockedAddress(a), false));
  }
});

const REFUSED_URLS = [
  'http://127.0.0.1/',
  'http://127.0.0.1:8080/hook',
  'http://2130706433/', // decimal 127.0.0.1
  'http://0x7f.1/', // hex + short form
  'http://0x7f000001/',
  'http://017700000001/', // octal
  'http://127.1/',
  'http://0/',
  'http://%31%32%37.0.0.1/', // percent-encoded
  'http://[::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:169.254.169.254]/latest/meta-data/',
  'http://169.254.169.254/latest/meta-data/',
  'http://10.0.0.5/',
  'http://192.168.0.1/',
  'http://172.20.1.1/',
  'http://[fd00::1]/',
  'http://[fe80::1]/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://localhost/',
  'http://LOCALHOST./',
  'http://shop.localhost/',
  'https://user@example.com/',
  'https://user:pass@example.com/',
  'ftp://example.com/',
  'file:///etc/passwd',
  'gopher://example.com/',
  'javascript:alert(1)',
  'not a url',
  '/relative/path',
];

const ACCEPTED_URLS = [
  'https://example.com/confirm',
  'http://shop.example.co/webhooks?x=1',
  'https://8.8.8.8/hook',
  'https://[2606:4700:4700::1111]/hook',
  'https://localhost.example.com/', // only *.localhost is loopback
  'http://127.0.0.1.nip.io/', // a name: checked at connect time, not here
];

describe('checkUrlDestination', () => {
  for (const u of REFUSED_URLS) {
    it(`refuses ${u}`, () => {
      const r = checkUrlDestination(u, none);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.reason.length > 0);
    });
  }
  for (const u of ACCEPTED_URLS) {
    it(`accepts ${u}`, () => assert.deepEqual(checkUrlDestination(u, none), { ok: true }));
  }
  it('the refusal matrix holds at least 30 cases', () => assert.ok(REFUSED_URLS.length + BLOCKED_ADDRESSES.length >= 30));

  it('allow-list `loopback` lets loopback URLs through, but not other private ones', () => {
    const loop = parseAllowList('loopback');
    assert.deepEqual(checkUrlDestination('http://127.0.0.1:3000/', loop), { ok: true });
    assert.deepEqual(checkUrlDestination('http://[::1]:3000/', loop), { ok: true });
    assert.deepEqual(checkUrlDestination('http://localhost:3000/', loop), { ok: true });
    assert.deepEqual(checkUrlDestination('http://2130706433/', loop), { ok: true });
    assert.equal(checkUrlDestination('http://10.0.0.1/', loop).ok, false);
    assert.equal(checkUrlDestination('http://169.254.169.254/', loop).ok, false);
    // userinfo is refused whatever the allow list says
    assert.equal(checkUrlDestination('http://a@127.0.0.1/', loop).ok, false);
  });
});

describe('parseAllowList', () => {
  it('`loopback` covers 127/8, ::1 and IPv4-mapped loopback', () => {
    const a = parseAllowList('loopback');
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) assert.equal(a.allows(ip), true, ip);
    for (const ip of ['10.0.0.1', '::2', '128.0.0.1', 'garbage']) assert.equal(a.allows(ip), false, ip);
  });

  it('takes CIDRs and single addresses, with spaces', () => {
    const a = parseAllowList(' 10.1.0.0/16 , fd00::/8, 192.168.5.5 ');
    assert.equal(a.allows('10.1.200.3'), true);
    assert.equal(a.allows('10.2.0.1'), false);
    assert.equal(a.allows('fd00:1::5'), true);
    assert.equal(a.allows('fc00::1'), false);
    assert.equal(a.allows('192.168.5.5'), true);
    assert.equal(a.allows('192.168.5.6'), false);
  });

  it('an empty spec allows nothing', () => {
    assert.equal(parseAllowList('').allows('127.0.0.1'), false);
  });

  it('rejects malformed entries with a message naming them', () => {
    assert.throws(() => parseAllowList('10.0.0.0/33'), /10\.0\.0\.0\/33/);
    assert.throws(() => parseAllowList('loopbak'), /loopbak/);
    assert.throws(() => parseAllowList('::1/129'), /prefix/);
    assert.throws(() => parseAllowList('10.0.0.0/x'), /prefix/);
  });
});

function lookupAll(
  allow: AllowList,
  host: string,
  all: boolean,
): Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[] }> {
  const lookup = makeGuardedLookup(allow);
  return new Promise((resolve) => {
    lookup(host, { all }, (err, address) => resolve({ err, address }));
  });
}

describe('makeGuardedLookup', () => {
  it('refuses a name that resolves to loopback', async () => {
    const { err } = await lookupAll(none, 'localhost', false);
    assert.equal(err?.code, 'ERR_BLOCKED_DESTINATION');
  });

  it('refuses an IP literal given as a name', async () => {
    const { err } = await lookupAll(none, '169.254.169.254', true);
    assert.equal(err?.code, 'ERR_BLOCKED_DESTINATION');
  });

  it('with `loopback` allowed, returns exactly the checked addresses (single and all forms)', async () => {
    const loop = parseAllowList('loopback');
    const one = await lookupAll(loop, '127.0.0.1', false);
    assert.equal(one.err, null);
    assert.equal(one.address, '127.0.0.1');
    const many = await lookupAll(loop, 'localhost', true);
    assert.equal(many.err, null);
    assert.ok(Array.isArray(many.address) && many.address.length > 0);
    for (const a of many.address) assert.equal(loop.allows(a.address), true);
  });

  it('passes DNS failures through with their code', async () => {
    const { err } = await lookupAll(none, 'no-such-host.invalid', false);
    assert.ok(err);
    assert.notEqual(err.code, 'ERR_BLOCKED_DESTINATION');
  });
});
