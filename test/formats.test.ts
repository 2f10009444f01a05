import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { STATUSES, type Status } from '../src/domain/status.js';
import type { Transaction } from '../src/domain/transaction.js';
import {
  EPAYCO_STATES,
  epaycoBody,
  epaycoFormat,
  epaycoSignature,
  pKeyOwner,
  verifyEpaycoSignature,
} from '../src/formats/epayco.js';
import { loadConfig } from '../src/config.js';
import { FormatError } from '../src/formats/format.js';
import { createLogger } from '../src/observe/logger.js';
import { startReceiver } from '../src/receiver/receiver.js';
import { Keyring, keyringOf, parseMasterKey } from '../src/signing/keyring.js';
import { signedHeaders, verifyWebhook } from '../src/signing/standard-webhooks.js';
import { startEngine, waitFor, type Engine } from './helpers/engine.js';
import { MerchantServer } from './helpers/merchant-server.js';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

function tx(over: Partial<Transaction> = {}): Transaction {
  return {
    id: 'tx_01JDQ8Z4W3K5M7N9P2R4T6V8X0',
    merchantId: 'mer_1',
    reference: 'FAC-2024-0042',
    amount: '125000.50',
    currency: 'COP',
    status: 'approved',
    customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' },
    metadata: null,
    createdAt: Date.UTC(2026, 10, 29, 5, 0, 0),
    updatedAt: Date.UTC(2026, 10, 29, 5, 0, 7),
    ...over,
  };
}

describe('epayco signature', () => {
  it('matches the worked example of docs/formats.md, computed independently with sha256sum', () => {
    // printf '%s' '500123^8f3b1c2d4e5a6978a1b2c3d4e5f60718^tx_01JDQ8Z4W3K5M7N9P2R4T6V8X0^msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1^125000.50^COP' | sha256sum
    const expected = '2f2b2ab52c686b16549e790a62e634f9bf01c3db507edd34596d580cf7d04f26';
    const got = epaycoSignature('500123', '8f3b1c2d4e5a6978a1b2c3d4e5f60718', {
      x_ref_payco: 'tx_01JDQ8Z4W3K5M7N9P2R4T6V8X0',
      x_transaction_id: 'msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1',
      x_amount: '125000.50',
      x_currency_code: 'COP',
    });
    assert.equal(got, expected);
  });

  it('builds the worked example request: fields, appended x_signature, Standard Webhooks headers over the form bytes', () => {
    const keyring = new Keyring(Buffer.alloc(32, 7));
    const body = epaycoBody({ msgId: 'msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1', seq: 2, type: 'transaction.approved', tx: tx(), at: 0 });
    const secret = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
    const merchant = {
      id: 'mer_1',
      epayco: { custId: '500123', sealedPKey: keyring.seal('8f3b1c2d4e5a6978a1b2c3d4e5f60718', pKeyOwner('mer_1')) },
    };
    const req = epaycoFormat.request({
      msgId: 'msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1',
      body,
      timestampSec: 1_800_000_000,
      target: { merchant: merchant as never, secrets: [secret], validUntil: null },
      keyring,
    });
    assert.equal(
      req.body,
      'x_ref_payco=tx_01JDQ8Z4W3K5M7N9P2R4T6V8X0&x_transaction_id=msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1' +
        '&x_id_invoice=FAC-2024-0042&x_amount=125000.50&x_currency_code=COP&x_cod_response=1&x_response=Aceptada' +
        '&x_cod_transaction_state=1&x_transaction_state=Aceptada&x_approval_code=' +
        '&x_transaction_date=2026-11-29+05%3A00%3A07&x_customer_name=Ana+G%C3%B3mez&x_customer_phone=%2B57+300+555+0101' +
        '&x_cust_id_cliente=500123&x_signature=2f2b2ab52c686b16549e790a62e634f9bf01c3db507edd34596d580cf7d04f26',
    );
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    const verdict = verifyWebhook(secret, req.headers, req.body, { nowSec: 1_800_000_000 });
    assert.deepEqual(verdict, { ok: true, msgId: 'msg_01JDQ8Z4W5A7C9E1G3J5K7M9P1', timestampSec: 1_800_000_000 });
    assert.ok(verifyEpaycoSignature('500123', '8f3b1c2d4e5a6978a1b2c3d4e5f60718', req.body));
    assert.ok(!verifyEpaycoSignature('500123', 'another-key', req.body));
    assert.ok(!verifyEpaycoSignature('500123', '8f3b1c2d4e5a6978a1b2c3d4e5f60718', req.body.replace('125000.50', '125000.51')));
  });

  it('maps every status to its gateway code and name', () => {
    const expected: Record<Status, [number, string]> = {
      pending: [3, 'Pendiente'],
      approved: [1, 'Aceptada'],
      rejected: [2, 'Rechazada'],
      failed: [4, 'Fallida'],
      reversed: [6, 'Reversada'],
      abandoned: [10, 'Abandonada'],
      cancelled: [11, 'Cancelada'],
    };
    for (const status of STATUSES) {
      const form = new URLSearchParams(
        epaycoBody({ msgId: 'msg_1', seq: 1, type: `transaction.${status}`, tx: tx({ status }), at: 0 }),
      );
      assert.equal(form.get('x_cod_transaction_state'), String(expected[status][0]), status);
      assert.equal(form.get('x_cod_response'), String(expected[status][0]), status);
      assert.equal(form.get('x_transaction_state'), expected[status][1], status);
      assert.equal(form.get('x_response'), expected[status][1], status);
      assert.deepEqual(EPAYCO_STATES[status], { code: expected[status][0], name: expected[status][1] });
    }
  });

  it('sends x_amount as the stored decimal string, byte for byte, for COP, USD and JPY', () => {
    const cases: Array<[string, string]> = [
      ['COP', '125000.50'],
      ['COP', '0.10'],
      ['COP', '999999999999999999.99'],
      ['USD', '19.99'],
      ['USD', '0.29'],
      ['USD', '100.10'],
      ['JPY', '1500'],
      ['JPY', '9007199254740993'],
    ];
    for (const [currency, amount] of cases) {
      const form = new URLSearchParams(epaycoBody({ msgId: 'msg_1', seq: 1, type: 't', tx: tx({ currency, amount }), at: 0 }));
      assert.equal(form.get('x_amount'), amount, `${currency} ${amount}`);
      assert.equal(form.get('x_currency_code'), currency);
    }
  });
});

describe('epayco failures', () => {
  it('cannot sign without a master key or credentials: a FormatError, recorded as a failed attempt and retried', () => {
    const keyring = new Keyring(Buffer.alloc(32, 7));
    const body = epaycoBody({ msgId: 'msg_1', seq: 1, type: 't', tx: tx(), at: 0 });
    const merchant = { id: 'mer_1', epayco: { custId: '1', sealedPKey: keyring.seal('k', pKeyOwner('mer_1')) } };
    const base = { msgId: 'msg_1', body, timestampSec: 1_800_000_000 };
    assert.throws(
      () =>
        epaycoFormat.request({
          ...base,
          target: { merchant: merchant as never, secrets: [], validUntil: null },
          keyring: undefined,
        }),
      (e: unknown) => e instanceof FormatError && /CONFIRMA_MASTER_KEY/.test(e.message),
    );
    assert.throws(
      () =>
        epaycoFormat.request({
          ...base,
          target: { merchant: { id: 'mer_2', epayco: merchant.epayco } as never, secrets: [], validUntil: null },
          keyring,
        }),
      (e: unknown) => e instanceof FormatError && /does not open/.test(e.message),
      'a p_key sealed for another merchant does not open',
    );
    assert.throws(
      () =>
        epaycoFormat.request({
          ...base,
          target: { merchant: { id: 'mer_1', epayco: null } as never, secrets: [], validUntil: null },
          keyring,
        }),
      FormatError,
    );
  });

  it('opens values sealed under a previous master key after a rotation, and seals with the new one', () => {
    const oldKey = Buffer.alloc(32, 4).toString('hex');
    const sealed = keyringOf({ masterKey: oldKey })!.seal('p', 'o');
    const config = loadConfig({ CONFIRMA_MASTER_KEY: MASTER_KEY, CONFIRMA_MASTER_KEY_PREVIOUS: ` ${oldKey} ` });
    const rotated = keyringOf(config)!;
    assert.equal(rotated.open(sealed, 'o'), 'p');
    assert.equal(rotated.seal('p', 'o').split('.')[1], new Keyring(parseMasterKey(MASTER_KEY)).keyId);
    assert.throws(() => loadConfig({ CONFIRMA_MASTER_KEY_PREVIOUS: oldKey }), /needs CONFIRMA_MASTER_KEY/);
    assert.throws(() => loadConfig({ CONFIRMA_MASTER_KEY: MASTER_KEY, CONFIRMA_MASTER_KEY_PREVIOUS: 'x' }), /key #1/);
  });

  it('refuses a malformed CONFIRMA_MASTER_KEY at start-up', () => {
    assert.throws(() => loadConfig({ CONFIRMA_MASTER_KEY: 'not-a-key' }), /CONFIRMA_MASTER_KEY must be 32 random bytes/);
    assert.equal(loadConfig({ CONFIRMA_MASTER_KEY: MASTER_KEY }).masterKey, MASTER_KEY);
  });

  it('the reference receiver answers 401 invalid_x_signature to a form whose x_signature does not match', async () => {
    const secret = 'whsec_' + Buffer.alloc(32, 3).toString('base64');
    const receiver = await startReceiver({ port: 0, secret, epayco: { custId: '1', pKey: 'right' }, log: () => {} });
    try {
      const send = async (pKey: string) => {
        const body = `${epaycoBody({ msgId: 'msg_9', seq: 1, type: 't', tx: tx(), at: 0 })}&x_signature=${epaycoSignature(
          '1',
          pKey,
          {
            x_ref_payco: tx().id,
            x_transaction_id: 'msg_9',
            x_amount: tx().amount,
            x_currency_code: tx().currency,
          },
        )}`;
        const headers = signedHeaders([secret], `msg_${pKey}`, Math.floor(Date.now() / 1000), body);
        return fetch(receiver.url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
      };
      const bad = await send('wrong');
      assert.equal(bad.status, 401);
      assert.deepEqual(await bad.json(), { ok: false, reason: 'invalid_x_signature' });
      assert.equal((await send('right')).status, 200);
      assert.equal(receiver.received.size, 1);
    } finally {
      await receiver.close();
    }
  });
});

describe('keyring', () => {
  it('opens what it sealed for the same owner only, and names the key that sealed it', () => {
    const k = new Keyring(parseMasterKey(MASTER_KEY));
    const sealed = k.seal('p-key-value', 'owner-a');
    assert.ok(!sealed.includes('p-key-value'));
    assert.equal(sealed.split('.')[1], k.keyId);
    assert.equal(k.open(sealed, 'owner-a'), 'p-key-value');
    assert.notEqual(k.seal('p-key-value', 'owner-a'), sealed, 'a fresh IV each time');
    assert.throws(() => k.open(sealed, 'owner-b'), /does not open/);
    assert.throws(() => new Keyring(Buffer.alloc(32, 9)).open(sealed, 'owner-a'), /does not have/);
    assert.equal(new Keyring(Buffer.alloc(32, 9), [parseMasterKey(MASTER_KEY)]).open(sealed, 'owner-a'), 'p-key-value');
  });

  it('accepts 32 bytes as hex or base64 and refuses anything else', () => {
    assert.equal(parseMasterKey('ab'.repeat(32)).length, 32);
    assert.equal(parseMasterKey(MASTER_KEY).length, 32);
    assert.throws(() => parseMasterKey('short'), /CONFIRMA_MASTER_KEY must be 32 random bytes/);
    assert.throws(() => parseMasterKey(Buffer.alloc(16).toString('base64')), /32 random bytes/);
  });

  it('never logs a pKey', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger('info', sink);
    log.info({ body: { epayco: { custId: '500123', pKey: 'very-secret-p-key' } }, pKey: 'very-secret-p-key' }, 'x');
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('very-secret-p-key'), lines[0]);
    assert.ok(lines[0]!.includes('500123'));
  });
});

describe('epayco merchants through the API', () => {
  it('refuses an epayco merchant with 400 master_key_not_configured when no master key is set', async () => {
    const engine = await startEngine();
    try {
      const r = await engine.call('POST', '/v1/merchants', {
        name: 'E',
        url: 'http://127.0.0.1:9/c',
        format: 'epayco',
        epayco: { custId: '1', pKey: 'k' },
      });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'master_key_not_configured');
      assert.match(r.body.error.message, /CONFIRMA_MASTER_KEY/);
      assert.equal((await engine.call('GET', '/v1/merchants')).body.data.length, 0, 'nothing stored');
    } finally {
      await engine.stop();
    }
  });

  it('stores pKey only encrypted, never returns it, and lets the merchant replace it', async () => {
    const engine = await startEngine({ CONFIRMA_MASTER_KEY: MASTER_KEY });
    try {
      const created = await engine.call('POST', '/v1/merchants', {
        name: 'E',
        url: 'http://127.0.0.1:9/c',
        format: 'epayco',
        epayco: { custId: '500123', pKey: 'plain-p-key-1' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.epayco, { custId: '500123' });
      const read = await engine.call('GET', `/v1/merchants/${created.body.id}`);
      assert.deepEqual(read.body.epayco, { custId: '500123' });
      assert.ok(!JSON.stringify(read.body).includes('plain-p-key'));
      const patched = await engine.call(
        'PATCH',
        `/v1/merchants/${created.body.id}`,
        { epayco: { custId: '500124', pKey: 'plain-p-key-2' } },
        created.body.apiKey,
      );
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body.epayco, { custId: '500124' });
      const db = new Database(engine.dbPath, { readonly: true });
      const row = db.prepare('SELECT * FROM merchants WHERE id = ?').get(created.body.id) as Record<string, string>;
      db.close();
      assert.ok(!JSON.stringify(row).includes('plain-p-key'));
      const k = new Keyring(parseMasterKey(MASTER_KEY));
      assert.equal(k.open(row.epayco_p_key_sealed!, pKeyOwner(created.body.id)), 'plain-p-key-2');
      // A standard merchant cannot switch to epayco without credentials.
      const plain = await engine.call('POST', '/v1/merchants', { name: 'S', url: 'http://127.0.0.1:9/c' });
      const sw = await engine.call('PATCH', `/v1/merchants/${plain.body.id}`, { format: 'epayco' });
      assert.equal(sw.status, 400);
      assert.equal(sw.body.error.code, 'missing_field');
      assert.equal(sw.body.error.field, 'epayco');
    } finally {
      await engine.stop();
    }
  });
});

describe('epayco end to end', () => {
  let engine: Engine;
  let fleet: MerchantServer;
  before(async () => {
    fleet = await new MerchantServer().listen();
    engine = await startEngine({ CONFIRMA_MASTER_KEY: MASTER_KEY });
  });
  after(async () => {
    await engine.stop();
    await fleet.close();
  });

  async function epaycoMerchant(url: string, creds: { custId: string; pKey: string }, extra: Record<string, unknown> = {}) {
    const r = await engine.call('POST', '/v1/merchants', { name: 'Tienda', url, format: 'epayco', epayco: creds, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { id: string; secret: string; apiKey: string };
  }

  it('a receiver that checks x_signature like a merchant plugin accepts every confirmation of a run', async () => {
    const creds = { custId: '500123', pKey: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6' };
    // The merchant's secret is only known after the create: start with a placeholder, then restart.
    const placeholder = await startReceiver({ port: 0, secret: 'whsec_' + Buffer.alloc(32).toString('base64'), log: () => {} });
    await placeholder.close();
    const m = await epaycoMerchant(`http://127.0.0.1:${placeholder.port}/confirmation`, creds);
    const receiver = await startReceiver({ port: placeholder.port, secret: m.secret, epayco: creds, log: () => {} });
    try {
      const amounts: Array<[string, string]> = [
        ['COP', '125000.50'],
        ['COP', '1'],
        ['USD', '19.99'],
        ['USD', '0.01'],
        ['JPY', '1500'],
        ['JPY', '9007199254740993'],
      ];
      const ids: string[] = [];
      for (const [currency, amount] of amounts) {
        const r = await engine.call('POST', '/v1/transactions', {
          merchantId: m.id,
          reference: `FAC-${ids.length}`,
          amount,
          currency,
          status: 'pending',
          customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      const next: Status[] = ['approved', 'rejected', 'failed', 'abandoned', 'cancelled', 'approved'];
      for (let i = 0; i < ids.length; i++) {
        assert.equal((await engine.call('PATCH', `/v1/transactions/${ids[i]}`, { status: next[i] })).status, 200);
      }
      assert.equal((await engine.call('PATCH', `/v1/transactions/${ids[0]}`, { status: 'reversed' })).status, 200);
      await waitFor('13 confirmations', () => receiver.received.size === 13, 20_000);
      assert.equal(receiver.rejected, 0);
      const forms = [...receiver.received.values()].map((r) => new URLSearchParams(r.body));
      for (const f of forms) assert.ok(verifyEpaycoSignature(creds.custId, creds.pKey, new URLSearchParams(f).toString()));
      // x_amount is the stored string, exactly.
      for (let i = 0; i < ids.length; i++) {
        const mine = forms.filter((f) => f.get('x_ref_payco') === ids[i]);
        assert.ok(mine.length >= 2);
        for (const f of mine) {
          assert.equal(f.get('x_amount'), amounts[i]![1]);
          assert.equal(f.get('x_currency_code'), amounts[i]![0]);
          assert.equal(f.get('x_id_invoice'), `FAC-${i}`);
        }
      }
      const states = forms.filter((f) => f.get('x_ref_payco') === ids[0]).map((f) => f.get('x_cod_transaction_state'));
      assert.deepEqual(states, ['3', '1', '6'], 'pending, approved, reversed, in order');
    } finally {
      await receiver.close();
    }
  });

  it('refuses nothing and flags a wrong pKey: the fleet sees x_signature fail when the merchant holds another key', async () => {
    const m = await epaycoMerchant(fleet.url('wrongkey'), { custId: '7', pKey: 'the-real-key' });
    fleet.merchant('wrongkey', m.secret, undefined, { custId: '7', pKey: 'an-old-key' });
    const ok = await epaycoMerchant(fleet.url('rightkey'), { custId: '8', pKey: 'k8' });
    fleet.merchant('rightkey', ok.secret, undefined, { custId: '8', pKey: 'k8' });
    for (const id of [m.id, ok.id]) {
      const r = await engine.call('POST', '/v1/transactions', {
        merchantId: id,
        reference: 'r',
        amount: '10',
        currency: 'USD',
        status: 'approved',
      });
      assert.equal(r.status, 201);
    }
    await waitFor('both delivered', () => fleet.deliveries('wrongkey').length === 1 && fleet.deliveries('rightkey').length === 1);
    assert.equal(fleet.deliveries('wrongkey')[0]!.xSignatureOk, false);
    assert.equal(fleet.deliveries('rightkey')[0]!.xSignatureOk, true);
    assert.ok(fleet.deliveries('rightkey')[0]!.verified, 'standardwebhooks verifies the form bytes too');
    assert.equal(fleet.deliveries('rightkey')[0]!.contentType, 'application/x-www-form-urlencoded');
  });

  it('records a p_key this node cannot open as a failed attempt (errorKind signing) and retries it', async () => {
    const m = await epaycoMerchant(fleet.url('unopenable'), { custId: '5', pKey: 'k5' }, { retrySchedule: [0, 3600] });
    fleet.merchant('unopenable', m.secret, undefined, { custId: '5', pKey: 'k5' });
    // As if sealed under a master key this node does not have.
    const other = new Keyring(Buffer.alloc(32, 1)).seal('k5', pKeyOwner(m.id));
    const db = new Database(engine.dbPath);
    db.prepare('UPDATE merchants SET epayco_p_key_sealed = ? WHERE id = ?').run(other, m.id);
    db.close();
    const r = await engine.call('POST', '/v1/transactions', {
      merchantId: m.id,
      reference: 'r',
      amount: '1',
      currency: 'USD',
      status: 'approved',
    });
    assert.equal(r.status, 201);
    const conf = (await engine.call('GET', `/v1/transactions/${r.body.id}`)).body.confirmations[0];
    await waitFor(
      'a failed attempt',
      async () => (await engine.call('GET', `/v1/confirmations/${conf.id}`)).body.attempts.length === 1,
    );
    const detail = (await engine.call('GET', `/v1/confirmations/${conf.id}`)).body;
    assert.equal(detail.state, 'pending', 'retried later, not dead');
    assert.equal(detail.attempts[0].errorKind, 'signing');
    assert.match(detail.attempts[0].errorMessage, /master key/);
    assert.equal(fleet.deliveries('unopenable').length, 0, 'nothing was sent');
  });

  it('sends a confirmation in the format it was built in, even after the merchant switches format', async () => {
    const created = await engine.call('POST', '/v1/merchants', { name: 'Switch', url: fleet.url('switch') });
    const m = created.body as { id: string; secret: string };
    fleet.merchant('switch', m.secret, undefined, { custId: '3', pKey: 'k3' });
    assert.equal((await engine.call('PATCH', `/v1/merchants/${m.id}`, { enabled: false })).status, 200);
    const before = await engine.call('POST', '/v1/transactions', {
      merchantId: m.id,
      reference: 'old',
      amount: '1',
      currency: 'USD',
      status: 'approved',
    });
    assert.equal(before.status, 201);
    const sw = await engine.call('PATCH', `/v1/merchants/${m.id}`, {
      format: 'epayco',
      epayco: { custId: '3', pKey: 'k3' },
      enabled: true,
    });
    assert.equal(sw.status, 200, JSON.stringify(sw.body));
    const after = await engine.call('POST', '/v1/transactions', {
      merchantId: m.id,
      reference: 'new',
      amount: '2',
      currency: 'USD',
      status: 'approved',
    });
    assert.equal(after.status, 201);
    await waitFor('both delivered', () => fleet.deliveries('switch').length === 2);
    const byType = new Map(fleet.deliveries('switch').map((d) => [d.contentType, d]));
    assert.equal(JSON.parse(byType.get('application/json')!.body).data.reference, 'old');
    const form = byType.get('application/x-www-form-urlencoded')!;
    assert.equal(new URLSearchParams(form.body).get('x_id_invoice'), 'new');
    assert.equal(form.xSignatureOk, true);
    assert.ok(fleet.deliveries('switch').every((d) => d.verified));
  });

  it('sends identical form bytes on every retry', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(bodies.length < 3 ? 500 : 200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const m = await epaycoMerchant(`http://127.0.0.1:${port}/c`, { custId: '9', pKey: 'k9' }, { retrySchedule: [0, 0, 0] });
      const r = await engine.call('POST', '/v1/transactions', {
        merchantId: m.id,
        reference: 'r',
        amount: '10.50',
        currency: 'USD',
        status: 'approved',
      });
      assert.equal(r.status, 201);
      await waitFor('three attempts', () => bodies.length === 3);
      assert.equal(new Set(bodies).size, 1, 'same bytes each time');
      assert.ok(verifyEpaycoSignature('9', 'k9', bodies[0]!));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
