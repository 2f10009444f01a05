import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { createHandler } from '../src/adapters/aws/handler.js';
import { defaultMapping } from '../src/adapters/aws/mapping.js';
import { ADMIN_KEY, startEngine, waitFor, type Engine } from './helpers/engine.js';
import { MerchantServer } from './helpers/merchant-server.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/dynamodb/', import.meta.url));

/** A recorded-shape stream event with the merchant ids of this run filled in. */
function event(name: string, vars: Record<string, string>): DynamoDBStreamEvent {
  let text = readFileSync(`${fixtures}${name}.json`, 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{{${k}}}`, v);
  return JSON.parse(text) as DynamoDBStreamEvent;
}

function seqOf(ev: DynamoDBStreamEvent, eventIndex: number): string {
  return ev.Records[eventIndex]!.dynamodb!.SequenceNumber!;
}

/**
 * A real loopback proxy in front of the engine that answers 503 for the requests `refuse` picks,
 * the way a load balancer does when the node behind it is overloaded.
 */
class Proxy {
  refuse: (method: string, url: string) => boolean = () => false;
  readonly seen: string[] = [];
  private readonly server: Server;
  url = '';
  constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const method = req.method ?? 'GET';
        const url = req.url ?? '/';
        this.seen.push(`${method} ${url}`);
        if (this.refuse(method, url)) {
          res.writeHead(503, { 'content-type': 'text/html' }).end('<html><body>503 Service Unavailable</body></html>');
          return;
        }
        const body = Buffer.concat(chunks);
        fetch(this.target + url, {
          method,
          headers: { authorization: String(req.headers.authorization), 'content-type': 'application/json' },
          body: body.length === 0 ? undefined : body,
        }).then(
          async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()),
          () => res.writeHead(502).end(),
        );
      });
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('AWS DynamoDB Streams adapter against a real engine', () => {
  let engine: Engine;
  let fleet: MerchantServer;
  let proxy: Proxy;
  let a: string;
  let b: string;
  const logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  let handle: ReturnType<typeof createHandler>;

  before(async () => {
    fleet = await new MerchantServer().listen();
    engine = await startEngine();
    proxy = await new Proxy(engine.url).listen();
    for (const name of ['shopA', 'shopB']) {
      const r = await engine.call('POST', '/v1/merchants', { name, url: fleet.url(name) });
      fleet.merchant(name, r.body.secret);
      if (name === 'shopA') a = r.body.id;
      else b = r.body.id;
    }
    handle = createHandler({
      confirmaUrl: proxy.url,
      apiKey: ADMIN_KEY,
      mapping: defaultMapping({ merchantId: a }),
      log: (level, message, fields) => logs.push({ level, message, fields }),
    });
  });
  after(async () => {
    await proxy.close();
    await engine.stop();
    await fleet.close();
  });

  async function tx(id: string): Promise<{ status: number; body: any }> {
    return engine.call('GET', `/v1/transactions/${id}`);
  }

  async function totalConfirmations(): Promise<number> {
    const c = await engine.app.store.countByState();
    return Object.values(c).reduce((x, y) => x + y, 0);
  }

  it('creates one transaction per INSERT, skips malformed items and REMOVE, and reports no failure', async () => {
    const ev = event('insert', { MERCHANT_B: b });
    assert.deepEqual(await handle(ev), { batchItemFailures: [] });
    const p1 = await tx('pay-001');
    assert.equal(p1.status, 200);
    assert.deepEqual(
      { ...p1.body, createdAt: undefined, updatedAt: undefined, confirmations: p1.body.confirmations.length },
      {
        id: 'pay-001',
        merchantId: a,
        reference: 'pay-001',
        amount: '125000.5',
        currency: 'COP',
        status: 'pending',
        customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' },
        metadata: { creationDate: '2026-11-29T05:00:00Z' },
        createdAt: undefined,
        updatedAt: undefined,
        confirmations: 1,
      },
    );
    const p2 = (await tx('pay-002')).body;
    assert.deepEqual([p2.merchantId, p2.amount, p2.currency, p2.status], [b, '19.99', 'USD', 'approved']);
    const p3 = (await tx('pay-003')).body;
    assert.deepEqual([p3.amount, p3.currency, p3.status], ['1500', 'JPY', 'pending']);
    for (const bad of ['pay-bad-1', 'pay-bad-2', 'pay-bad-3', 'pay-old']) assert.equal((await tx(bad)).status, 404, bad);
    const bySeq = (i: number) => logs.filter((l) => l.fields.sequenceNumber === seqOf(ev, i));
    assert.match(bySeq(3)[0]!.message, /not a transaction/);
    assert.match(String(bySeq(3)[0]!.fields.reason), /amount is missing/);
    assert.match(String(bySeq(4)[0]!.fields.reason), /^invalid_amount/);
    assert.match(String(bySeq(5)[0]!.fields.reason), /^invalid_currency/);
    assert.match(bySeq(6)[0]!.message, /REMOVE ignored/);
    await waitFor('3 confirmations delivered', () => fleet.received.length === 3);
    assert.ok(fleet.received.every((r) => r.verified));
  });

  it('is idempotent when Lambda delivers the same event again', async () => {
    const before = await totalConfirmations();
    assert.deepEqual(await handle(event('insert', { MERCHANT_B: b })), { batchItemFailures: [] });
    assert.equal(await totalConfirmations(), before);
  });

  it('turns MODIFY into a status change only when the status changed, and creates items Confirma never saw', async () => {
    const ev = event('modify', { MERCHANT_B: b });
    assert.deepEqual(await handle(ev), { batchItemFailures: [] });
    const types = async (id: string) => (await tx(id)).body.confirmations.map((c: { type: string }) => c.type);
    assert.deepEqual(await types('pay-001'), ['transaction.pending', 'transaction.approved']);
    assert.deepEqual(await types('pay-003'), ['transaction.pending'], 'a name change is not a confirmation');
    assert.deepEqual(await types('pay-legacy'), ['transaction.approved']);
    assert.deepEqual(await types('pay-002'), ['transaction.approved', 'transaction.reversed']);
    const count = await totalConfirmations();
    assert.deepEqual(await handle(ev), { batchItemFailures: [] }, 'redelivered MODIFYs are already applied');
    assert.equal(await totalConfirmations(), count);

    // A change the state machine forbids (reversed → pending) is rejected and logged, not retried.
    const forbidden = event('modify', { MERCHANT_B: b });
    const record = structuredClone(forbidden.Records[3]!);
    record.dynamodb!.SequenceNumber = '1000000000000099999999999';
    record.dynamodb!.NewImage!.status = { S: 'pending' };
    record.dynamodb!.OldImage!.status = { S: 'reversed' };
    assert.deepEqual(await handle({ Records: [record] }), { batchItemFailures: [] });
    const line = logs.find((l) => l.fields.sequenceNumber === '1000000000000099999999999');
    assert.equal(line?.level, 'error');
    assert.match(String(line?.fields.reason), /invalid_transition: the transaction is reversed, the item says pending/);
    assert.equal(await totalConfirmations(), count);
  });

  it('lists exactly the records Confirma answered 503 for, and the retries deliver each confirmation once', async () => {
    const ev = event('partial', { MERCHANT_B: b });
    const seq = (i: number) => seqOf(ev, i);

    // The batch request is refused: both INSERTs fail, and so do the MODIFYs of those items,
    // without being sent (their create has not happened). The other items go through.
    proxy.refuse = (method, url) => method === 'POST' && url === '/v1/transactions/batch';
    const seenBefore = proxy.seen.length;
    const first = await handle(ev);
    assert.deepEqual(
      first.batchItemFailures,
      [0, 1, 2, 3].map((i) => ({ itemIdentifier: seq(i) })),
    );
    assert.ok(!proxy.seen.slice(seenBefore).some((r) => r.includes('pay-101') || r.includes('pay-102')));
    assert.equal((await tx('pay-001')).body.status, 'reversed');
    assert.equal((await tx('pay-003')).body.status, 'approved');

    // Lambda retries; this time only pay-102's status change is refused.
    proxy.refuse = (method, url) => method === 'PATCH' && url === `/v1/transactions/pay-102?merchantId=${a}`;
    const second = await handle(ev);
    assert.deepEqual(second.batchItemFailures, [{ itemIdentifier: seq(3) }]);
    assert.equal((await tx('pay-101')).body.status, 'approved');
    assert.equal((await tx('pay-102')).body.status, 'pending');

    proxy.refuse = () => false;
    assert.deepEqual(await handle(ev), { batchItemFailures: [] });
    assert.equal((await tx('pay-102')).body.status, 'approved');
    const types = async (id: string) => (await tx(id)).body.confirmations.map((c: { type: string }) => c.type);
    assert.deepEqual(await types('pay-001'), ['transaction.pending', 'transaction.approved', 'transaction.reversed']);
    assert.deepEqual(await types('pay-102'), ['transaction.pending', 'transaction.approved']);

    const total = await totalConfirmations();
    await waitFor('every confirmation delivered', () => fleet.received.length === total);
    assert.equal(new Set(fleet.received.map((r) => r.id)).size, total, 'each confirmation arrives once');
  });

  it("keeps two merchants' items with the same id apart: each change reaches its own, a failure holds back only its own", async () => {
    // One id, two merchants' tables feeding one stream (an admin key): created, then both changed.
    const template = event('modify', { MERCHANT_B: b }).Records[0]!;
    let n = 0;
    const record = (eventName: 'INSERT' | 'MODIFY', merchant: string, status: string, old?: string) => {
      const r = structuredClone(template);
      r.eventName = eventName;
      r.dynamodb!.SequenceNumber = String(2000000000000000000000000n + BigInt(++n));
      const image = { id: { S: 'pay-twin' }, merchant_id: { S: merchant }, amount: { N: '10' }, status: { S: status } };
      r.dynamodb!.NewImage = image;
      if (old === undefined) delete r.dynamodb!.OldImage;
      else r.dynamodb!.OldImage = { ...image, status: { S: old } };
      return r;
    };
    const inserts = [record('INSERT', a, 'pending'), record('INSERT', b, 'pending')];
    assert.deepEqual(await handle({ Records: inserts }), { batchItemFailures: [] });
    const ofMerchant = async (m: string) => (await engine.call('GET', `/v1/transactions/pay-twin?merchantId=${m}`)).body;
    assert.deepEqual([(await ofMerchant(a)).status, (await ofMerchant(b)).status], ['pending', 'pending']);

    // A's change is refused by the load balancer; B's of the same id goes through all the same.
    const changes = [
      record('MODIFY', a, 'approved', 'pending'),
      record('MODIFY', b, 'rejected', 'pending'),
      record('MODIFY', a, 'reversed', 'approved'),
    ];
    proxy.refuse = (method, url) => method === 'PATCH' && url.includes(`merchantId=${a}`);
    const first = await handle({ Records: changes });
    assert.deepEqual(first.batchItemFailures, [
      { itemIdentifier: changes[0]!.dynamodb!.SequenceNumber! },
      { itemIdentifier: changes[2]!.dynamodb!.SequenceNumber! },
    ]);
    assert.deepEqual([(await ofMerchant(a)).status, (await ofMerchant(b)).status], ['pending', 'rejected']);
    proxy.refuse = () => false;
    assert.deepEqual(await handle({ Records: changes }), { batchItemFailures: [] });
    const types = async (m: string) => (await ofMerchant(m)).confirmations.map((c: { type: string }) => c.type);
    assert.deepEqual(await types(a), ['transaction.pending', 'transaction.approved', 'transaction.reversed']);
    assert.deepEqual(await types(b), ['transaction.pending', 'transaction.rejected']);
    // Without a merchant, the admin's read of an id both use is refused rather than guessed.
    assert.equal((await engine.call('GET', '/v1/transactions/pay-twin')).body.error.code, 'ambiguous_transaction_id');
  });
});

describe('AWS adapter mapping and configuration', () => {
  it('keeps DynamoDB numbers as their exact digits', async () => {
    const { unmarshall } = await import('@aws-sdk/util-dynamodb');
    const { ExactNumber } = await import('../src/adapters/aws/mapping.js');
    const map = defaultMapping({ merchantId: 'mer_1' });
    for (const digits of ['0.1', '125000.5', '9007199254740993', '123456789012345678.99']) {
      const item = unmarshall({ id: { N: '42' }, amount: { N: digits } }, { wrapNumbers: (v: string) => new ExactNumber(v) });
      const tx = map(item);
      assert.equal(tx.amount, digits);
      assert.equal(tx.id, '42');
    }
    assert.throws(() => map({ id: 'x', amount: { nested: true } }), /amount must be a string or a number/);
    assert.throws(() => defaultMapping()({ id: 'x', amount: '1' }), /CONFIRMA_MERCHANT_ID/);
  });

  it('reads its settings from the Lambda environment', async () => {
    const { configFromEnv } = await import('../src/adapters/aws/handler.js');
    assert.throws(() => configFromEnv({}), /CONFIRMA_URL and CONFIRMA_API_KEY/);
    assert.throws(
      () => configFromEnv({ CONFIRMA_URL: 'http://x', CONFIRMA_API_KEY: 'k', CONFIRMA_TIMEOUT_MS: 'soon' }),
      /CONFIRMA_TIMEOUT_MS/,
    );
    const c = configFromEnv({
      CONFIRMA_URL: 'http://x',
      CONFIRMA_API_KEY: 'k',
      CONFIRMA_MERCHANT_ID: 'mer_9',
      CONFIRMA_CURRENCY: 'USD',
    });
    assert.deepEqual(c.mapping!({ id: 'a', amount: '1' }), {
      id: 'a',
      merchantId: 'mer_9',
      reference: 'a',
      amount: '1',
      currency: 'USD',
      status: 'pending',
    });
  });
});
