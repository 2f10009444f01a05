import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import type { Claim } from '../src/domain/confirmation.js';
import { newId } from '../src/domain/ids.js';
import type { Status } from '../src/domain/status.js';
import type { AttemptResult, Outcome } from '../src/dispatch/outcome.js';
import { ConfirmaError } from '../src/errors.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import type { IngestOp, IngestResult, PurgeCursor, Scope, Store } from '../src/store/store.js';
import { tempDir } from './helpers/engine.js';
import { PG_URL, pgSkip, withSchema } from './helpers/pg.js';

/**
 * One contract for the Store interface, run against every adapter: SQLite on a temp file and
 * PostgreSQL in a schema of its own per test (kept when the test fails).
 */
interface Adapter {
  readonly name: string;
  readonly skip: Promise<string | false>;
  /** Runs `fn` with a fresh, migrated store and disposes of it. */
  with(label: string, fn: (store: Store) => Promise<void>): Promise<void>;
}

const ADMIN: Scope = { kind: 'admin' };

/** An SQLite adapter: a fresh file per test, opened by `open`. */
function sqlite(name: string, open: (file: string) => Store): Adapter {
  return {
    name,
    skip: Promise.resolve(false),
    async with(_label, fn) {
      const { dir, cleanup } = tempDir();
      const store = open(path.join(dir, 'c.db'));
      try {
        await store.migrate();
        await fn(store);
      } finally {
        await store.close();
        cleanup();
      }
    },
  };
}

const adapters: Adapter[] = [
  sqlite('sqlite', (file) => new SqliteStore({ file })),
  // The default for a node: the same store behind its worker thread, errors and claims crossing
  // the thread boundary as plain data.
  sqlite('sqlite (own thread)', (file) => new ThreadedSqliteStore({ file })),
  {
    name: 'postgres',
    skip: pgSkip(),
    async with(label, fn) {
      await withSchema(label, async (schema) => {
        const store = new PostgresStore({ url: PG_URL, schema, poolSize: 4 });
        try {
          await store.migrate();
          await fn(store);
        } finally {
          await store.close();
        }
      });
    },
  },
];

async function merchant(store: Store, secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'): Promise<string> {
  const id = newId('mer');
  await store.createMerchant(
    {
      id,
      name: 'shop',
      url: 'https://shop.example/confirm',
      format: 'standard',
      maxInFlight: null,
      timeoutMs: null,
      retrySchedule: null,
      epayco: null,
    },
    secret,
    { id: newId('key'), hash: `hash-${id}`, prefix: 'ck_test' },
  );
  return id;
}

/** Two merchants, in id order. */
async function twoMerchants(store: Store): Promise<[string, string]> {
  const a = await merchant(store);
  const b = await merchant(store);
  return a < b ? [a, b] : [b, a];
}

function create(merchantId: string, over: { id?: string; status?: Status; scope?: Scope; reference?: string } = {}): IngestOp {
  return {
    kind: 'create',
    scope: over.scope ?? ADMIN,
    tx: {
      id: over.id ?? newId('tx'),
      merchantId,
      reference: over.reference ?? 'order-1',
      amount: '125000.50',
      currency: 'COP',
      status: over.status ?? 'pending',
      customer: { name: 'Ana' },
      metadata: { cart: 7 },
    },
  };
}

function status(transactionId: string, s: Status, over: { merchantId?: string; scope?: Scope } = {}): IngestOp {
  return {
    kind: 'status',
    scope: over.scope ?? ADMIN,
    transactionId,
    ...(over.merchantId === undefined ? {} : { merchantId: over.merchantId }),
    status: s,
  };
}

function ok(r: IngestResult | undefined): Extract<IngestResult, { ok: true }> {
  assert.ok(r !== undefined && r.ok, `expected ok, got ${JSON.stringify(r)}`);
  return r;
}

function failed(r: IngestResult | undefined, code: string): void {
  assert.ok(r !== undefined && !r.ok, `expected ${code}, got ${JSON.stringify(r)}`);
  assert.equal(r.error.code, code);
}

const attempt = (now: number): AttemptResult => ({ ok: true, statusCode: 200, durationMs: 12.4, startedAt: now });

async function record(store: Store, claim: Claim, outcome: Outcome, now = Date.now()) {
  return store.recordOutcomes([{ claim, outcome, attempt: attempt(now) }], now);
}

async function claimAll(store: Store, now = Date.now(), leaseMs = 30_000): Promise<Claim[]> {
  return store.claimDue({ now, limit: 100, leaseMs, exclude: [], capacity: new Map(), defaultCapacity: 100 });
}

for (const adapter of adapters) {
  describe(`Store contract: ${adapter.name}`, async () => {
    const skip = await adapter.skip;
    const test = (name: string, fn: (store: Store) => Promise<void>): void => {
      it(name, { skip }, () => adapter.with(name, fn));
    };

    test('merchants: create, get, list, patch, keys, secret rotation', async (store) => {
      const id = await merchant(store, 'whsec_first');
      const m = await store.getMerchant(id);
      assert.equal(m?.name, 'shop');
      assert.equal(m?.disabledAt, null);
      assert.deepEqual(
        (await store.listMerchants(undefined, 10)).map((x) => x.id),
        [id],
      );
      assert.deepEqual(await store.listMerchants(id, 10), []);
      const patched = await store.updateMerchant(id, { name: 'shop 2', maxInFlight: 3, retrySchedule: [1, 2] }, Date.now());
      assert.equal(patched?.name, 'shop 2');
      assert.equal(patched?.maxInFlight, 3);
      assert.deepEqual(patched?.retrySchedule, [1, 2]);
      assert.equal(await store.updateMerchant('mer_nope', { name: 'x' }, Date.now()), undefined);
      assert.equal((await store.findApiKey(`hash-${id}`))?.merchantId, id);
      assert.equal(await store.findApiKey('unknown'), undefined);
      const now = Date.now();
      assert.equal(await store.rotateSecret(id, 'whsec_second', now, now + 60_000), true);
      assert.equal(await store.rotateSecret('mer_nope', 'whsec_x', now, now), false);
      assert.deepEqual((await store.getDeliveryTarget(id, now))?.secrets, ['whsec_second', 'whsec_first']);
      assert.deepEqual((await store.getDeliveryTarget(id, now + 120_000))?.secrets, ['whsec_second']);
      assert.equal(await store.getDeliveryTarget('mer_nope', now), undefined);
    });

    test('delivery target: validUntil is the earliest expiry among the live secrets, null with one', async (store) => {
      const id = await merchant(store, 'whsec_one');
      const now = Date.now();
      assert.equal((await store.getDeliveryTarget(id, now))?.validUntil, null, 'only the current secret: no expiry');
      await store.rotateSecret(id, 'whsec_two', now, now + 60_000);
      await store.rotateSecret(id, 'whsec_three', now + 1, now + 30_000);
      // whsec_one expired at now+60s was not touched by the second rotation (already expiring).
      const during = await store.getDeliveryTarget(id, now + 1);
      assert.deepEqual(during?.secrets, ['whsec_three', 'whsec_two', 'whsec_one']);
      assert.equal(during?.validUntil, now + 30_000);
      const later = await store.getDeliveryTarget(id, now + 45_000);
      assert.deepEqual(later?.secrets, ['whsec_three', 'whsec_one']);
      assert.equal(later?.validUntil, now + 60_000, 'expired secrets do not count');
      const after = await store.getDeliveryTarget(id, now + 120_000);
      assert.deepEqual(after?.secrets, ['whsec_three']);
      assert.equal(after?.validUntil, null);
    });

    test('merchants: epayco credentials round trip, patch, and are kept by other patches', async (store) => {
      const plain = await merchant(store);
      assert.equal((await store.getMerchant(plain))?.epayco, null);
      const id = newId('mer');
      const created = await store.createMerchant(
        {
          id,
          name: 'tienda',
          url: 'https://tienda.example/confirm',
          format: 'epayco',
          maxInFlight: null,
          timeoutMs: null,
          retrySchedule: null,
          epayco: { custId: '12345', sealedPKey: 'v1.k1.iv.ct' },
        },
        'whsec_x',
        { id: newId('key'), hash: `hash-${id}`, prefix: 'ck_test' },
      );
      assert.equal(created.format, 'epayco');
      assert.deepEqual(created.epayco, { custId: '12345', sealedPKey: 'v1.k1.iv.ct' });
      assert.deepEqual((await store.getMerchant(id))?.epayco, { custId: '12345', sealedPKey: 'v1.k1.iv.ct' });
      const renamed = await store.updateMerchant(id, { name: 'tienda 2' }, Date.now());
      assert.deepEqual(renamed?.epayco, { custId: '12345', sealedPKey: 'v1.k1.iv.ct' }, 'a patch without epayco keeps them');
      const replaced = await store.updateMerchant(id, { epayco: { custId: '999', sealedPKey: 'v1.k1.iv2.ct2' } }, Date.now());
      assert.deepEqual(replaced?.epayco, { custId: '999', sealedPKey: 'v1.k1.iv2.ct2' });
      const given = await store.updateMerchant(plain, { format: 'epayco', epayco: { custId: '7', sealedPKey: 's' } }, Date.now());
      assert.equal(given?.format, 'epayco');
      assert.deepEqual(given?.epayco, { custId: '7', sealedPKey: 's' });
      assert.deepEqual((await store.getDeliveryTarget(plain, Date.now()))?.merchant.epayco, { custId: '7', sealedPKey: 's' });
      const dropped = await store.updateMerchant(plain, { format: 'standard', epayco: null }, Date.now());
      assert.equal(dropped?.format, 'standard');
      assert.equal(dropped?.epayco, null, 'epayco: null removes the credentials');
      assert.equal((await store.getMerchant(plain))?.epayco, null);
    });

    test('stored credentials: listed as stored, replaced only while unchanged', async (store) => {
      const plain = await merchant(store, 'whsec_first');
      await store.rotateSecret(plain, 'whsec_second', Date.now(), Date.now() + 60_000);
      const epayco = newId('mer');
      await store.createMerchant(
        {
          id: epayco,
          name: 'e',
          url: 'https://e.example/c',
          format: 'epayco',
          maxInFlight: null,
          timeoutMs: null,
          retrySchedule: null,
          epayco: { custId: '1', sealedPKey: 'v1.k1.iv.ct' },
        },
        'whsec_third',
        { id: newId('key'), hash: newId('key'), prefix: 'cfm_mk_x' },
      );
      const all = await store.listStoredCredentials();
      const mine = all.filter((c) => c.merchantId === plain || c.merchantId === epayco);
      assert.deepEqual(
        mine.map((c) => [c.kind, c.merchantId, c.stored]),
        [
          ['signing_secret', plain, 'whsec_first'],
          ['signing_secret', plain, 'whsec_second'],
          ['signing_secret', epayco, 'whsec_third'],
          ['epayco_p_key', epayco, 'v1.k1.iv.ct'],
        ],
      );
      const [first, , , pKey] = mine;
      assert.equal(await store.replaceStoredCredential(first!, 'v1.k2.a.b'), true);
      assert.equal(await store.replaceStoredCredential(first!, 'v1.k3.a.b'), false, 'no longer what was read');
      assert.equal(await store.replaceStoredCredential(pKey!, 'v1.k2.c.d'), true);
      assert.equal((await store.getMerchant(epayco))?.epayco?.sealedPKey, 'v1.k2.c.d');
      const target = await store.getDeliveryTarget(plain, Date.now());
      assert.deepEqual([...(target?.secrets ?? [])].sort(), ['v1.k2.a.b', 'whsec_second']);
    });

    test('api keys: create, list by owner in creation order, revoke once', async (store) => {
      const m = await merchant(store);
      const t = Date.now();
      const admin = await store.createApiKey(
        { id: 'key_a1', merchantId: null, prefix: 'cfm_ak_A', hash: 'h-a1', name: 'ops' },
        t,
      );
      assert.deepEqual(admin, { id: 'key_a1', merchantId: null, prefix: 'cfm_ak_A', name: 'ops', createdAt: t, revokedAt: null });
      const named = await store.createApiKey(
        { id: 'key_m1', merchantId: m, prefix: 'cfm_mk_B', hash: 'h-m1', name: 'backend' },
        t + 1,
      );
      const unnamed = await store.createApiKey(
        { id: 'key_m2', merchantId: m, prefix: 'cfm_mk_C', hash: 'h-m2', name: null },
        t + 2,
      );
      assert.equal(unnamed.name, null);
      assert.deepEqual((await store.findApiKey('h-m1'))?.merchantId, m);
      assert.deepEqual(await store.findApiKey('h-a1'), { id: 'key_a1', merchantId: null });
      // The merchant's first key (createMerchant) is listed too, with no name.
      const mine = await store.listApiKeys(m);
      assert.equal(mine.length, 3);
      assert.deepEqual(mine.slice(1), [named, unnamed]);
      assert.equal(mine[0]!.name, null);
      assert.deepEqual(await store.listApiKeys(null), [admin]);
      assert.equal((await store.listApiKeys()).length, 4);
      assert.deepEqual(await store.listApiKeys('mer_nope'), []);
      const revoked = await store.revokeApiKey('key_m1', t + 10);
      assert.equal(revoked?.revokedAt, t + 10);
      assert.equal(await store.findApiKey('h-m1'), undefined, 'a revoked key no longer authenticates');
      assert.equal((await store.revokeApiKey('key_m1', t + 20))?.revokedAt, t + 10, 'revoking twice keeps the first time');
      assert.equal(await store.revokeApiKey('key_nope', t), undefined);
      assert.equal((await store.listApiKeys(m)).find((k) => k.id === 'key_m1')?.revokedAt, t + 10, 'revoked keys stay listed');
      assert.ok((await store.findApiKey('h-m2')) !== undefined);
    });

    test('audit: append, list oldest first with a cursor', async (store) => {
      assert.deepEqual(await store.listAudit(undefined, 10), []);
      const t = Date.now();
      await store.appendAudit({ at: t, actor: 'admin', action: 'merchant.created', target: 'mer_1', details: { name: 'shop' } });
      await store.appendAudit({ at: t + 1, actor: 'key_1', action: 'key.revoked', target: 'key_2', details: null });
      await store.appendAudit({ at: t + 2, actor: 'cli', action: 'merchant.replayed', target: 'mer_1', details: { count: 3 } });
      const all = await store.listAudit(undefined, 10);
      assert.deepEqual(
        all.map((e) => [e.at, e.actor, e.action, e.target, e.details]),
        [
          [t, 'admin', 'merchant.created', 'mer_1', { name: 'shop' }],
          [t + 1, 'key_1', 'key.revoked', 'key_2', null],
          [t + 2, 'cli', 'merchant.replayed', 'mer_1', { count: 3 }],
        ],
      );
      assert.ok(all[0]!.id < all[1]!.id && all[1]!.id < all[2]!.id, 'ids increase');
      const page1 = await store.listAudit(undefined, 2);
      assert.deepEqual(
        page1.map((e) => e.id),
        [all[0]!.id, all[1]!.id],
      );
      const page2 = await store.listAudit(page1[1]!.id, 2);
      assert.deepEqual(
        page2.map((e) => e.id),
        [all[2]!.id],
      );
      assert.deepEqual(await store.listAudit(all[2]!.id, 2), []);
    });

    test('formats: each confirmation is built and claimed in the merchant format of its ingest', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      await store.ingest([create(m, { id: 'fmt-1', reference: 'INV-1' })], now);
      await store.updateMerchant(m, { format: 'epayco', epayco: { custId: '12345', sealedPKey: 'sealed' } }, now);
      // A status change after the switch is built in the new format; the first keeps its own.
      await store.ingest([status('fmt-1', 'approved'), create(m, { id: 'fmt-2', reference: 'INV-2' })], now);
      const claims = await claimAll(store, now);
      const byTx = new Map(claims.map((c) => [c.transactionId, c]));
      const first = byTx.get('fmt-1')!;
      assert.equal(first.format, 'standard');
      assert.equal(first.seq, 1);
      const standard = JSON.parse(first.body) as { id: string; type: string; data: { id: string } };
      assert.equal(standard.id, first.id);
      assert.equal(standard.type, 'transaction.pending');
      assert.equal(standard.data.id, 'fmt-1');
      const second = byTx.get('fmt-2')!;
      assert.equal(second.format, 'epayco');
      const form = new URLSearchParams(second.body);
      assert.equal(form.get('x_ref_payco'), 'fmt-2');
      assert.equal(form.get('x_transaction_id'), second.id);
      assert.equal(form.get('x_id_invoice'), 'INV-2');
      assert.equal(form.get('x_amount'), '125000.50');
      assert.equal(form.get('x_currency_code'), 'COP');
      assert.equal(form.get('x_customer_name'), 'Ana');
      // The waiting approval of fmt-1 was built in epayco when it was ingested.
      await record(store, first, { kind: 'delivered' }, now);
      const [next] = await store.claimForMerchants([{ merchantId: m, limit: 10 }], now, 10_000);
      assert.equal(next?.transactionId, 'fmt-1');
      assert.equal(next?.seq, 2);
      assert.equal(next?.format, 'epayco');
      assert.equal(new URLSearchParams(next.body).get('x_transaction_id'), next.id);
      // Switching back does not rewrite stored bodies.
      await store.updateMerchant(m, { format: 'standard' }, now);
      await store.releaseClaims([next, second], now);
      const again = await claimAll(store, now);
      assert.deepEqual(
        again.map((c) => [c.id, c.format, c.body]).sort(),
        [
          [next.id, 'epayco', next.body],
          [second.id, 'epayco', second.body],
        ].sort(),
      );
    });

    test('reads: transactions by reference, newest first, filtered by merchant', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      const t = Date.now();
      await store.ingest([create(a, { id: 'ref-a1', reference: 'R-1' })], t);
      await store.ingest([create(b, { id: 'ref-b1', reference: 'R-1' })], t + 1);
      // Same millisecond: the greater id comes first.
      await store.ingest([create(a, { id: 'ref-a2', reference: 'R-1' }), create(a, { id: 'ref-a3', reference: 'R-1' })], t + 2);
      await store.ingest([create(a, { id: 'ref-a4', reference: 'R-2' })], t + 3);
      const ids = (txs: Array<{ id: string }>): string[] => txs.map((x) => x.id);
      assert.deepEqual(ids(await store.findTransactionsByReference(a, 'R-1', 10)), ['ref-a3', 'ref-a2', 'ref-a1']);
      assert.deepEqual(ids(await store.findTransactionsByReference(b, 'R-1', 10)), ['ref-b1']);
      assert.deepEqual(ids(await store.findTransactionsByReference(undefined, 'R-1', 10)), [
        'ref-a3',
        'ref-a2',
        'ref-b1',
        'ref-a1',
      ]);
      assert.deepEqual(ids(await store.findTransactionsByReference(undefined, 'R-1', 2)), ['ref-a3', 'ref-a2']);
      assert.deepEqual(ids(await store.findTransactionsByReference(a, 'R-2', 10)), ['ref-a4']);
      assert.deepEqual(await store.findTransactionsByReference(b, 'R-2', 10), []);
      assert.deepEqual(await store.findTransactionsByReference(undefined, 'nope', 10), []);
      const [found] = await store.findTransactionsByReference(b, 'R-1', 1);
      assert.equal(found?.merchantId, b);
      assert.equal(found?.createdAt, t + 1);
      assert.deepEqual(found?.customer, { name: 'Ana' });
    });

    test('ingest: per-op results in one batch; a refused op leaves no trace', async (store) => {
      const m = await merchant(store);
      const other = await merchant(store);
      const first = create(m, { id: 'tx-a' });
      const [a, dup, clash, nobody, hidden, bad, missing] = await store.ingest(
        [
          first,
          first,
          create(m, { id: 'tx-a', reference: 'another' }),
          create('mer_nope'),
          create(other, { scope: { kind: 'merchant', merchantId: m } }),
          status('tx-a', 'pending'),
          status('tx-none', 'approved'),
        ],
        Date.now(),
      );
      assert.equal(ok(a).httpStatus, 201);
      assert.equal(ok(dup).httpStatus, 200);
      failed(clash, 'transaction_exists');
      failed(nobody, 'merchant_not_found');
      failed(hidden, 'merchant_not_found');
      failed(bad, 'invalid_transition');
      failed(missing, 'transaction_not_found');
      const tx = await store.getTransaction(m, 'tx-a');
      assert.equal(tx?.reference, 'order-1');
      assert.deepEqual(tx?.customer, { name: 'Ana' });
      assert.deepEqual(tx?.metadata, { cart: 7 });
      assert.equal((await store.listTransactionConfirmations(m, 'tx-a')).length, 1);
      assert.equal((await store.countByState()).pending, 1);
    });

    test('ingest: idempotency keys replay the first answer and refuse a different request', async (store) => {
      const m = await merchant(store);
      const idempotency = { scope: 'key_1', key: 'k-1', requestHash: 'h1' };
      const op = { ...create(m), idempotency } as IngestOp;
      const [first] = await store.ingest([op], Date.now());
      const [again] = await store.ingest([{ ...create(m), idempotency } as IngestOp], Date.now());
      assert.equal(ok(first).httpStatus, 201);
      assert.equal(ok(again).httpStatus, 201);
      assert.equal(ok(again).transaction.id, ok(first).transaction.id);
      const [conflict] = await store.ingest(
        [{ ...create(m), idempotency: { ...idempotency, requestHash: 'h2' } } as IngestOp],
        Date.now(),
      );
      failed(conflict, 'idempotency_conflict');
      // Same key in another scope is another claim.
      const [elsewhere] = await store.ingest(
        [{ ...create(m), idempotency: { ...idempotency, scope: 'key_2' } } as IngestOp],
        Date.now(),
      );
      assert.notEqual(ok(elsewhere).transaction.id, ok(first).transaction.id);
      assert.equal((await store.countByState()).pending, 2);
    });

    test('order: the next confirmation waits until the one before is delivered or dead', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      await store.ingest([create(m, { id: 'tx-1' }), status('tx-1', 'approved'), status('tx-1', 'reversed')], now);
      const confs = await store.listTransactionConfirmations(m, 'tx-1');
      assert.deepEqual(
        confs.map((c) => [c.seq, c.type, c.state]),
        [
          [1, 'transaction.pending', 'pending'],
          [2, 'transaction.approved', 'waiting'],
          [3, 'transaction.reversed', 'waiting'],
        ],
      );
      let claims = await claimAll(store, now);
      assert.deepEqual(
        claims.map((c) => c.seq),
        [1],
      );
      assert.equal(claims[0]!.token, 1);
      assert.match(claims[0]!.body, /transaction\.pending/);
      // Each close makes the next one due, and names its merchant.
      assert.deepEqual(await record(store, claims[0]!, { kind: 'delivered' }, now), { recorded: 1, stale: 0, promoted: [m] });
      claims = await claimAll(store, now);
      assert.deepEqual(
        claims.map((c) => c.seq),
        [2],
      );
      assert.deepEqual(await record(store, claims[0]!, { kind: 'dead', reason: 'gave up' }, now), {
        recorded: 1,
        stale: 0,
        promoted: [m],
      });
      claims = await claimAll(store, now);
      assert.deepEqual(
        claims.map((c) => c.seq),
        [3],
      );
      const after = await store.listTransactionConfirmations(m, 'tx-1');
      assert.deepEqual(
        after.map((c) => c.state),
        ['delivered', 'dead', 'inflight'],
      );
      assert.ok(after[0]!.deliveredAt !== null);
      assert.equal(after[1]!.lastError, 'gave up');
      // A status change while one is open waits; once none is open it is due at once.
      await record(store, claims[0]!, { kind: 'delivered' }, now);
      await store.ingest([create(m, { id: 'tx-2' })], now);
      const [c2] = await claimAll(store, now);
      await record(store, c2!, { kind: 'delivered' }, now);
      await store.ingest([status('tx-2', 'approved')], now);
      assert.deepEqual(
        (await store.listTransactionConfirmations(m, 'tx-2')).map((c) => c.state),
        ['delivered', 'pending'],
      );
    });

    test('ids per merchant: two merchants with the same transaction id live side by side, each with its own confirmations and order', async (store) => {
      const [a, b] = await twoMerchants(store);
      const now = Date.now();
      const created = await store.ingest(
        [create(a, { id: 'same', reference: 'A-1' }), create(b, { id: 'same', reference: 'B-1' })],
        now,
      );
      assert.deepEqual(
        created.map((r) => ok(r).httpStatus),
        [201, 201],
        'another merchant using the id is no conflict',
      );
      assert.equal((await store.getTransaction(a, 'same'))?.reference, 'A-1');
      assert.equal((await store.getTransaction(b, 'same'))?.reference, 'B-1');
      assert.deepEqual(
        (await store.findTransactionsById('same', 10)).map((t) => t.merchantId),
        [a, b],
      );
      assert.deepEqual(await store.findTransactionsById('nope', 10), []);
      // Conflicts are per merchant: A's own id with other content is refused, B's is untouched.
      const [again, clash] = await store.ingest(
        [create(a, { id: 'same', reference: 'A-1' }), create(a, { id: 'same', reference: 'A-2' })],
        now,
      );
      assert.equal(ok(again).httpStatus, 200);
      failed(clash, 'transaction_exists');
      assert.equal((await store.getTransaction(b, 'same'))?.reference, 'B-1');

      // A status change names its merchant; the admin naming none is refused, writing nothing.
      const before = await store.countByState();
      failed((await store.ingest([status('same', 'approved')], now))[0], 'ambiguous_transaction_id');
      assert.deepEqual(await store.countByState(), before);
      const [ofA, ofB, hidden] = await store.ingest(
        [
          status('same', 'approved', { merchantId: a }),
          status('same', 'rejected', { scope: { kind: 'merchant', merchantId: b } }),
          status('same', 'failed', { scope: { kind: 'merchant', merchantId: a }, merchantId: b }),
        ],
        now,
      );
      assert.deepEqual([ok(ofA).transaction.merchantId, ok(ofA).transaction.status], [a, 'approved']);
      assert.deepEqual([ok(ofB).transaction.merchantId, ok(ofB).transaction.status], [b, 'rejected']);
      failed(hidden, 'transaction_not_found');
      const states = async (m: string): Promise<Array<[number, string, string]>> =>
        (await store.listTransactionConfirmations(m, 'same')).map((c) => [c.seq, c.type, c.state]);
      assert.deepEqual(await states(a), [
        [1, 'transaction.pending', 'pending'],
        [2, 'transaction.approved', 'waiting'],
      ]);
      assert.deepEqual(await states(b), [
        [1, 'transaction.pending', 'pending'],
        [2, 'transaction.rejected', 'waiting'],
      ]);

      // Order is per (merchant, transaction): B's first delivered makes B's second due, whatever A's does.
      const first = new Map((await claimAll(store, now)).map((c) => [c.merchantId, c]));
      assert.deepEqual(
        [...first.values()].map((c) => [c.transactionId, c.seq]),
        [
          ['same', 1],
          ['same', 1],
        ],
      );
      assert.deepEqual((await record(store, first.get(b)!, { kind: 'delivered' }, now)).promoted, [b]);
      assert.deepEqual(await states(a), [
        [1, 'transaction.pending', 'inflight'],
        [2, 'transaction.approved', 'waiting'],
      ]);
      assert.deepEqual(
        (await claimAll(store, now)).map((c) => [c.merchantId, c.seq]),
        [[b, 2]],
      );
      assert.deepEqual((await record(store, first.get(a)!, { kind: 'dead', reason: 'gave up' }, now)).promoted, [a]);
      assert.deepEqual(
        (await claimAll(store, now)).map((c) => [c.merchantId, c.seq]),
        [[a, 2]],
      );
      assert.equal((await store.getTransaction(b, 'same'))?.status, 'rejected');
      assert.equal((await store.getTransaction(a, 'same'))?.status, 'approved');
    });

    test('ids per merchant: the admin naming an id alone resolves it in the commit, new ones of the batch included', async (store) => {
      const [a, b] = await twoMerchants(store);
      const now = Date.now();
      const [solo, approved, twin, ambiguous, named] = await store.ingest(
        [
          create(a, { id: 'solo' }),
          status('solo', 'approved'), // the one merchant that has it, created just before
          create(b, { id: 'twin' }),
          create(a, { id: 'twin' }),
          status('twin', 'approved'), // now two merchants have it
        ],
        now,
      );
      ok(solo);
      assert.equal(ok(approved).transaction.merchantId, a);
      ok(twin);
      ok(ambiguous);
      failed(named, 'ambiguous_transaction_id');
      assert.equal((await store.listTransactionConfirmations(a, 'twin')).length, 1, 'the refused change left no trace');
      assert.equal((await store.listTransactionConfirmations(b, 'twin')).length, 1);
      failed((await store.ingest([status('none', 'approved')], now))[0], 'transaction_not_found');
      failed((await store.ingest([status('solo', 'reversed', { merchantId: b })], now))[0], 'transaction_not_found');
    });

    test("ids per merchant: retention of one merchant's transaction leaves the other's of the same id", async (store) => {
      const [a, b] = await twoMerchants(store);
      const now = Date.now();
      const day = 86_400_000;
      await store.ingest(
        [create(a, { id: 'kept' }), create(b, { id: 'kept' }), create(a, { id: 'both' }), create(b, { id: 'both' })],
        now,
      );
      for (const c of await claimAll(store, now)) {
        const dead = c.merchantId === b && c.transactionId === 'kept';
        await record(store, c, dead ? { kind: 'dead', reason: 'gave up' } : { kind: 'delivered' }, now);
      }
      assert.equal(await store.purgeHistory(now + 60_000, 100), 3);
      // One row per call: the cursor moves past each (created_at, id, merchant) in turn.
      let removed = 0;
      let after: PurgeCursor | undefined;
      for (let i = 0; i < 10; i++) {
        const batch = await store.purgeTransactions(now + 5 * day, 1, after);
        removed += batch.removed;
        if (batch.next === undefined) break;
        after = batch.next;
      }
      assert.equal(removed, 3);
      assert.equal(await store.getTransaction(a, 'kept'), undefined, "A's went: none of its confirmations is left");
      assert.equal((await store.getTransaction(b, 'kept'))?.id, 'kept', "B's stays: its dead confirmation is kept");
      assert.deepEqual(await store.findTransactionsById('both', 10), []);
    });

    test('fencing: after the lease lapses and another claim, the stale token records nothing', async (store) => {
      const m = await merchant(store);
      const t0 = Date.now();
      await store.ingest([create(m, { id: 'tx-f' })], t0);
      const [old] = await claimAll(store, t0, 1_000);
      assert.ok(old);
      assert.deepEqual(await claimAll(store, t0 + 500), [], 'a live lease is not claimed again');
      const [fresh] = await claimAll(store, t0 + 2_000);
      assert.ok(fresh);
      assert.equal(fresh.id, old.id);
      assert.equal(fresh.token, old.token + 1);
      assert.deepEqual(await record(store, old, { kind: 'delivered' }), { recorded: 0, stale: 1, promoted: [] });
      assert.deepEqual(await store.listAttempts(old.id), []);
      assert.equal((await store.getConfirmation(old.id))?.state, 'inflight');
      await store.releaseClaims([old], Date.now()); // stale: no effect
      assert.equal((await store.getConfirmation(old.id))?.state, 'inflight');
      assert.deepEqual(await record(store, fresh, { kind: 'delivered' }), { recorded: 1, stale: 0, promoted: [] });
      const attempts = await store.listAttempts(old.id);
      assert.equal(attempts.length, 1);
      assert.equal(attempts[0]!.number, 1);
      assert.equal(attempts[0]!.statusCode, 200);
      assert.equal(attempts[0]!.durationMs, 12);
      assert.equal(attempts[0]!.outcome, 'delivered');
      // A delivered row is no longer inflight: recording again (same token) is stale too.
      assert.deepEqual(await record(store, fresh, { kind: 'delivered' }), { recorded: 0, stale: 1, promoted: [] });
    });

    test('retries: due later, counted; release gives a claim back due now; nextDueAt follows', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      assert.equal(await store.nextDueAt(), null);
      await store.ingest([create(m, { id: 'tx-r' })], now);
      assert.equal(await store.nextDueAt(), now);
      const [c1] = await claimAll(store, now);
      await store.recordOutcomes(
        [
          {
            claim: c1!,
            outcome: { kind: 'retry', at: now + 5_000, reason: 'HTTP 500' },
            attempt: { ok: false, statusCode: 500, errorKind: 'http_status', durationMs: 3, startedAt: now },
          },
        ],
        now,
      );
      const conf = await store.getConfirmation(c1!.id);
      assert.equal(conf?.state, 'pending');
      assert.equal(conf?.dueAt, now + 5_000);
      assert.equal(conf?.attempts, 1);
      assert.equal(conf?.lastError, 'HTTP 500');
      assert.equal(await store.nextDueAt(), now + 5_000);
      assert.deepEqual(await claimAll(store, now + 1_000), []);
      const [c2] = await claimAll(store, now + 5_000);
      assert.equal(c2?.tries, 1);
      await store.releaseClaims([c2], now + 6_000);
      const released = await store.getConfirmation(c2.id);
      assert.equal(released?.state, 'pending');
      assert.equal(released?.dueAt, now + 6_000);
      const attempts = await store.listAttempts(c1!.id);
      assert.deepEqual(
        attempts.map((a) => [a.number, a.outcome, a.errorKind]),
        [[1, 'retry', 'http_status']],
      );
    });

    test('claims: capacity per merchant, exclusions, limits, per-merchant claims', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      const now = Date.now();
      await store.ingest([...Array.from({ length: 5 }, () => create(a)), ...Array.from({ length: 5 }, () => create(b))], now);
      const capped = await store.claimDue({
        now,
        limit: 100,
        leaseMs: 10_000,
        exclude: [b],
        capacity: new Map([[a, 2]]),
        defaultCapacity: 100,
      });
      assert.equal(capped.length, 2);
      assert.ok(capped.every((c) => c.merchantId === a));
      const limited = await store.claimDue({
        now,
        limit: 3,
        leaseMs: 10_000,
        exclude: [],
        capacity: new Map(),
        defaultCapacity: 100,
      });
      assert.equal(limited.length, 3);
      const perMerchant = await store.claimForMerchants(
        [
          { merchantId: a, limit: 10 },
          { merchantId: b, limit: 1 },
        ],
        now,
        10_000,
      );
      const byMerchant = (id: string): number => perMerchant.filter((c) => c.merchantId === id).length;
      assert.equal(byMerchant(a) + byMerchant(b), perMerchant.length);
      assert.equal(byMerchant(b), 1);
      assert.equal((await store.countByState()).inflight, 2 + 3 + perMerchant.length);
      assert.deepEqual(await store.claimForMerchants([], now, 10_000), []);
    });

    test('claims for a probe: first attempts before retries, oldest due first, beside plain claims', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      const t = Date.now();
      // Two rows of a that failed once and are due again (the retries of a merchant that was down)…
      const [r1, r2] = (await store.ingest([create(a, { id: 'retry-1' }), create(a, { id: 'retry-2' })], t - 10_000)).map(ok);
      const tried = await store.claimForMerchants([{ merchantId: a, limit: 10 }], t - 10_000, 60_000);
      assert.deepEqual(tried.map((c) => c.transactionId).sort(), ['retry-1', 'retry-2']);
      for (const c of tried) {
        await record(
          store,
          c,
          { kind: 'retry', at: t - (c.transactionId === 'retry-1' ? 9_000 : 8_000), reason: 'http 500' },
          t - 10_000,
        );
      }
      // … then first attempts that arrived later, and one retry not due yet.
      await store.ingest([create(a, { id: 'fresh-1' })], t - 6_000);
      await store.ingest([create(a, { id: 'fresh-2' })], t - 5_000);
      await store.ingest([create(a, { id: 'later' })], t - 4_000);
      const [later] = await store.claimForMerchants([{ merchantId: a, limit: 1, preferFirstAttempts: true }], t - 4_000, 60_000);
      assert.equal(later?.transactionId, 'fresh-1', 'the oldest first attempt, not the older retries');
      await store.releaseClaims([later], t - 6_000);
      assert.ok(r1 && r2);
      const [laterRow] = await store.claimForMerchants([{ merchantId: a, limit: 1 }], t - 4_000, 60_000);
      assert.equal(laterRow?.transactionId, 'retry-1', 'without the preference: oldest due first');
      assert.equal(laterRow?.tries, 1);
      await record(store, laterRow, { kind: 'retry', at: t + 60_000, reason: 'http 500' }, t - 4_000);
      await store.ingest([create(b, { id: 'b-1' }), create(b, { id: 'b-2' })], t - 3_000);

      // One call, a probe for a and a plain claim for b.
      const claims = await store.claimForMerchants(
        [
          { merchantId: a, limit: 1, preferFirstAttempts: true },
          { merchantId: b, limit: 5 },
        ],
        t,
        60_000,
      );
      const ofA = claims.filter((c) => c.merchantId === a);
      assert.deepEqual(
        ofA.map((c) => [c.transactionId, c.tries]),
        [['fresh-1', 0]],
      );
      assert.ok(ofA[0]!.body.includes('fresh-1'), 'with its body');
      assert.deepEqual(
        claims
          .filter((c) => c.merchantId === b)
          .map((c) => c.transactionId)
          .sort(),
        ['b-1', 'b-2'],
      );
      // The rest of a: first attempts, then the due retry; retry-1 is not due until t + 60 s.
      const rest = await store.claimForMerchants([{ merchantId: a, limit: 10, preferFirstAttempts: true }], t, 60_000);
      assert.deepEqual(
        rest.map((c) => [c.transactionId, c.tries]),
        [
          ['fresh-2', 0],
          ['later', 0],
          ['retry-2', 1],
        ],
      );
      // Nothing due left: nothing claimed, and a probe with only retries due takes the oldest retry.
      assert.deepEqual(await store.claimForMerchants([{ merchantId: a, limit: 1, preferFirstAttempts: true }], t, 60_000), []);
      const [oldest] = await store.claimForMerchants(
        [{ merchantId: a, limit: 1, preferFirstAttempts: true }],
        t + 61_000,
        60_000,
      );
      assert.equal(oldest?.transactionId, 'retry-1');
    });

    test('claim at insert: the commit hands due rows to the node, the rest stay for claims', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      const now = Date.now();
      let budgetA = 2;
      const claimer = { leaseMs: 10_000, take: (id: string) => id === a && budgetA-- > 0 };
      const results = await store.ingest(
        [
          create(a, { id: 'ci-1' }),
          create(a, { id: 'ci-2' }),
          create(a, { id: 'ci-3' }),
          create(b, { id: 'ci-4' }),
          status('ci-1', 'approved'),
        ],
        now,
        claimer,
      );
      const claims = results.flatMap((r) => (r.ok && r.claim !== undefined ? [r.claim] : []));
      assert.deepEqual(
        claims.map((c) => [c.transactionId, c.seq, c.token, c.tries]),
        [
          ['ci-1', 1, 1, 0],
          ['ci-2', 1, 1, 0],
        ],
      );
      assert.match(claims[0]!.body, /"reference"/);
      // A status change behind an open confirmation waits, and is never taken.
      assert.deepEqual(await store.countByState(), { waiting: 1, pending: 2, inflight: 2, delivered: 0, dead: 0, parked: 0 });
      // Taken rows are leased: claims find only the others until the lease lapses.
      const others = await claimAll(store, now);
      assert.deepEqual(others.map((c) => c.transactionId).sort(), ['ci-3', 'ci-4']);
      await record(store, claims[1]!, { kind: 'delivered' }, now + 1);
      assert.equal((await store.getConfirmation(claims[1]!.id))?.state, 'delivered');
      const lapsed = await claimAll(store, now + 10_001);
      assert.deepEqual(
        lapsed.map((c) => [c.id, c.token]),
        [[claims[0]!.id, 2]],
      );
      // The first holder's outcome is fenced off; the new holder's counts and promotes the next one.
      assert.deepEqual(
        await store.recordOutcomes([{ claim: claims[0]!, outcome: { kind: 'delivered' }, attempt: attempt(now) }], now + 10_002),
        { recorded: 0, stale: 1, promoted: [] },
      );
      // Closing ci-1's first confirmation makes its second due: the merchant is named so its lane claims it.
      assert.deepEqual((await record(store, lapsed[0]!, { kind: 'delivered' }, now + 10_003)).promoted, [a]);
      const next = await claimAll(store, now + 10_004);
      assert.deepEqual(
        next.map((c) => [c.transactionId, c.seq]),
        [['ci-1', 2]],
      );
    });

    test('claim at insert: a status change is taken too, without asking up to `unasked`, never after a refusal', async (store) => {
      const a = await merchant(store);
      const now = Date.now();
      await store.ingest([create(a, { id: 'su-1' }), create(a, { id: 'su-2' }), create(a, { id: 'su-3' })], now);
      for (const c of await claimAll(store, now)) await record(store, c, { kind: 'delivered' }, now);
      const claimsOf = (rs: IngestResult[]) => rs.flatMap((r) => (r.ok && r.claim !== undefined ? [r.claim] : []));
      // The approval makes its second confirmation due at once: the node takes it.
      const taken = claimsOf(
        await store.ingest([status('su-1', 'approved')], now + 1, { leaseMs: 10_000, take: () => true, unasked: 1 }),
      );
      assert.deepEqual(
        taken.map((c) => [c.transactionId, c.seq, c.token, c.tries]),
        [['su-1', 2, 1, 0]],
      );
      assert.match(taken[0]!.body, /"status":"approved"/);
      // Not taken when the claimer says no and allows nothing unasked.
      assert.deepEqual(
        claimsOf(await store.ingest([status('su-2', 'approved')], now + 2, { leaseMs: 10_000, take: () => false, unasked: 0 })),
        [],
      );
      // Nor when the batch asked about the merchant (for its new transaction) and was refused.
      const refused = await store.ingest([create(a, { id: 'su-4' }), status('su-3', 'approved')], now + 3, {
        leaseMs: 10_000,
        take: () => false,
        unasked: 5,
      });
      assert.deepEqual(claimsOf(refused), []);
      assert.deepEqual(await store.countByState(), { waiting: 0, pending: 3, inflight: 1, delivered: 3, dead: 0, parked: 0 });
    });

    test('countOpen counts every state but delivered, as countByState does, per merchant too', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      const now = Date.now();
      await store.ingest(
        [create(a, { id: 'co-1' }), create(a, { id: 'co-2' }), create(b, { id: 'co-3' }), create(b, { id: 'co-4' })],
        now,
      );
      await store.ingest([status('co-1', 'approved')], now); // waiting behind co-1's first
      const claims = await claimAll(store, now);
      const by = (tx: string) => claims.find((c) => c.transactionId === tx)!;
      await record(store, by('co-2'), { kind: 'delivered' }, now);
      await record(store, by('co-3'), { kind: 'dead', reason: 'gave up' }, now);
      await store.updateMerchant(b, { enabled: false }, now); // co-4 was claimed: it stays inflight
      await store.ingest([create(b, { id: 'co-5' })], now); // arrives parked
      const all = await store.countByState();
      assert.deepEqual(all, { waiting: 1, pending: 0, inflight: 2, delivered: 1, dead: 1, parked: 1 });
      const { delivered: _, ...open } = all;
      assert.deepEqual(await store.countOpen(), open);
    });

    test('parking: disabling parks, new ones arrive parked, a 410 disables, enabling unparks', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      await store.ingest([create(m, { id: 'p-1' }), create(m, { id: 'p-2' })], now);
      await store.updateMerchant(m, { enabled: false }, now);
      assert.ok((await store.getMerchant(m))?.disabledAt !== null);
      assert.equal((await store.countByState()).parked, 2);
      await store.ingest([create(m, { id: 'p-3' })], now);
      assert.equal((await store.countByState()).parked, 3);
      assert.deepEqual(await claimAll(store, now), []);
      await store.updateMerchant(m, { enabled: true }, now + 1);
      assert.equal((await store.countByState()).pending, 3);
      const claims = await claimAll(store, now + 1);
      assert.equal(claims.length, 3);
      // One attempt answers 410: the merchant is disabled, the others' later retries park.
      await store.recordOutcomes(
        [{ claim: claims[0]!, outcome: { kind: 'disable', reason: 'HTTP 410' }, attempt: attempt(now) }],
        now + 2,
      );
      assert.equal((await store.getMerchant(m))?.disabledReason, 'HTTP 410');
      await store.recordOutcomes(
        [{ claim: claims[1]!, outcome: { kind: 'retry', at: now + 10, reason: 'x' }, attempt: attempt(now) }],
        now + 3,
      );
      await store.releaseClaims([claims[2]!], now + 4);
      assert.deepEqual(await store.countByState(), { waiting: 0, pending: 0, inflight: 0, delivered: 0, dead: 0, parked: 3 });
    });

    test('dead letters: redeliver one, replay all, refuse while in flight', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      await store.ingest([create(m), create(m), create(m)], now);
      const claims = await claimAll(store, now);
      for (const c of claims.slice(0, 2)) await record(store, c, { kind: 'dead', reason: 'gave up' }, now);
      assert.equal(await store.redeliver(claims[2]!.id, now), 'in_flight');
      assert.equal(await store.redeliver('msg_nope', now), 'not_found');
      assert.equal(await store.redeliver(claims[0]!.id, now + 1), 'queued');
      const requeued = await store.getConfirmation(claims[0]!.id);
      assert.equal(requeued?.state, 'pending');
      assert.equal(requeued?.lastError, null);
      assert.equal(await store.replayDead(m, now + 2), 1);
      assert.equal(await store.replayDead(m, now + 2), 0);
      const again = await claimAll(store, now + 2);
      assert.equal(again.length, 2);
      assert.ok(again.every((c) => c.tries === 0));
      // Attempt numbers continue across replays.
      await record(store, again[0]!, { kind: 'delivered' }, now + 3);
      assert.deepEqual(
        (await store.listAttempts(again[0]!.id)).map((a) => a.number),
        [1, 2],
      );
    });

    test('reads: confirmations by merchant and state, in cursor pages', async (store) => {
      const a = await merchant(store);
      const b = await merchant(store);
      await store.ingest([create(a), create(a), create(a), create(b)], Date.now());
      const page1 = await store.listConfirmations({ merchantId: a, limit: 2 });
      assert.equal(page1.length, 2);
      const page2 = await store.listConfirmations({ merchantId: a, limit: 2, after: page1[1]!.id });
      assert.equal(page2.length, 1);
      assert.ok(page2[0]!.id > page1[1]!.id);
      assert.equal((await store.listConfirmations({ state: 'pending', limit: 10 })).length, 4);
      assert.equal((await store.listConfirmations({ state: 'dead', limit: 10 })).length, 0);
      assert.equal(await store.getConfirmation('msg_nope'), undefined);
      assert.equal(await store.getTransaction(a, 'tx_nope'), undefined);
      await store.ping();
    });

    test('retention: removes old delivered confirmations and their attempts, never open or dead ones', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      await store.ingest(
        [create(m, { id: 'r-1' }), create(m, { id: 'r-2' }), create(m, { id: 'r-3' }), create(m, { id: 'r-4' })],
        now,
      );
      await store.ingest([status('r-4', 'approved')], now);
      const claims = await claimAll(store, now);
      const byTx = new Map(claims.map((c) => [c.transactionId, c]));
      await record(store, byTx.get('r-1')!, { kind: 'delivered' }, now);
      await record(store, byTx.get('r-2')!, { kind: 'dead', reason: 'gave up' }, now);
      await record(store, byTx.get('r-4')!, { kind: 'retry', at: now + 60_000, reason: 'HTTP 500' }, now);
      // Nothing is older than a cut-off in the past.
      assert.equal(await store.purgeHistory(now - 86_400_000, 100), 0);
      // A cut-off in the future makes everything old: only the delivered one goes.
      assert.equal(await store.purgeHistory(now + 60_000, 100), 1);
      assert.equal(await store.getConfirmation(byTx.get('r-1')!.id), undefined);
      assert.deepEqual(await store.listAttempts(byTx.get('r-1')!.id), []);
      const left = await store.countByState();
      assert.deepEqual(left, { waiting: 1, pending: 1, inflight: 1, delivered: 0, dead: 1, parked: 0 });
      assert.equal((await store.getTransaction(m, 'r-1'))?.id, 'r-1', 'transactions are kept');
      // Batches: limit bounds each call.
      const more = await claimAll(store, now + 120_000);
      for (const c of more) await record(store, c, { kind: 'delivered' }, now);
      assert.equal(await store.purgeHistory(now + 60_000, 1), 1);
      assert.ok((await store.purgeHistory(now + 60_000, 100)) >= 1);
    });

    test('retention: a transaction goes once none of its confirmations is left and it was last changed before the cut-off', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      const day = 86_400_000;
      await store.ingest(
        [
          create(m, { id: 't-done', status: 'approved' }),
          create(m, { id: 't-dead', status: 'approved' }),
          create(m, { id: 't-open' }),
          create(m, { id: 't-late' }),
        ],
        now,
      );
      await store.ingest([status('t-open', 'approved')], now); // waits behind its first confirmation
      const first = new Map((await claimAll(store, now)).map((c) => [c.transactionId, c]));
      await record(store, first.get('t-done')!, { kind: 'delivered' }, now);
      await record(store, first.get('t-dead')!, { kind: 'dead', reason: 'gave up' }, now);
      await record(store, first.get('t-open')!, { kind: 'delivered' }, now); // its approval is now pending
      await record(store, first.get('t-late')!, { kind: 'delivered' }, now);
      // t-late changes ten days on; its second confirmation is delivered too.
      await store.ingest([status('t-late', 'approved')], now + 10 * day);
      const second = (await claimAll(store, now + 10 * day)).find((c) => c.transactionId === 't-late')!;
      await record(store, second, { kind: 'delivered' }, now + 10 * day);

      // Nothing is old yet; and while their delivered confirmations are kept, transactions stay.
      assert.deepEqual(await store.purgeTransactions(now - day, 100), { removed: 0, next: undefined });
      assert.equal((await store.purgeTransactions(now + 5 * day, 100)).removed, 0);
      assert.ok((await store.purgeHistory(now + 60_000, 100)) >= 3);

      // A cut-off five days on: t-done goes; t-dead (a dead confirmation), t-open (its approval is
      // still pending) and t-late (changed after the cut-off) stay.
      assert.equal((await store.purgeTransactions(now + 5 * day, 100)).removed, 1);
      assert.equal(await store.getTransaction(m, 't-done'), undefined);
      for (const id of ['t-dead', 't-open', 't-late']) assert.equal((await store.getTransaction(m, id))?.id, id);
      failed((await store.ingest([status('t-done', 'reversed')], now + 5 * day))[0], 'transaction_not_found');
      assert.equal((await store.countByState()).dead, 1, 'the dead confirmation is untouched');

      // Past its change, t-late goes as well; a scan of one row at a time resumes from its cursor.
      const seen: string[] = [];
      let after: PurgeCursor | undefined;
      let removed = 0;
      for (let i = 0; i < 10; i++) {
        const batch = await store.purgeTransactions(now + 11 * day, 1, after);
        removed += batch.removed;
        if (batch.next === undefined) break;
        seen.push(batch.next.id);
        after = batch.next;
      }
      assert.equal(removed, 1);
      assert.equal(new Set(seen).size, seen.length, 'each call moves past the last one');
      assert.equal(await store.getTransaction(m, 't-late'), undefined);
      assert.equal((await store.getTransaction(m, 't-dead'))?.id, 't-dead');
      assert.equal((await store.getTransaction(m, 't-open'))?.id, 't-open');
    });

    test('retention: idempotency keys older than the cut-off go; the key is then free for a new request', async (store) => {
      const m = await merchant(store);
      const now = Date.now();
      const idempotency = { scope: 'key_1', key: 'k-old', requestHash: 'h1' };
      const firstAnswer = ok((await store.ingest([{ ...create(m), idempotency } as IngestOp], now))[0]);
      const younger = ok(
        (await store.ingest([{ ...create(m), idempotency: { ...idempotency, key: 'k-new' } } as IngestOp], now + 60_000))[0],
      );
      assert.equal(await store.purgeIdempotencyKeys(now - 1_000, 100), 0);
      assert.equal(await store.purgeIdempotencyKeys(now + 1, 100), 1);
      assert.equal(await store.purgeIdempotencyKeys(now + 1, 100), 0);
      // The same key with another body: a conflict before, a new transaction now.
      const again = ok(
        (await store.ingest([{ ...create(m), idempotency: { ...idempotency, requestHash: 'h2' } } as IngestOp], now + 2))[0],
      );
      assert.equal(again.httpStatus, 201);
      assert.notEqual(again.transaction.id, firstAnswer.transaction.id);
      // The younger key still replays its first answer.
      const replay = ok(
        (await store.ingest([{ ...create(m), idempotency: { ...idempotency, key: 'k-new' } } as IngestOp], now + 3))[0],
      );
      assert.equal(replay.transaction.id, younger.transaction.id);
    });

    if (adapter.name === 'sqlite') {
      test('sqlite: subscribeDue never calls back (one process: its own commits wake it)', async (store) => {
        const m = await merchant(store);
        let heard = 0;
        const unsubscribe = await store.subscribeDue(() => heard++);
        await store.ingest([create(m)], Date.now());
        await new Promise((r) => setTimeout(r, 50));
        await unsubscribe();
        assert.equal(heard, 0);
      });
    }

    if (adapter.name === 'postgres') {
      test('postgres: two stores claiming at once never claim the same row', async (store) => {
        const m = await merchant(store);
        const now = Date.now();
        await store.ingest(
          Array.from({ length: 300 }, () => create(m)),
          now,
        );
        const other = new PostgresStore({
          url: PG_URL,
          schema: (store as unknown as PostgresStore).channel.replace('confirma_due_', ''),
          poolSize: 4,
        });
        try {
          const opts = { now, limit: 40, leaseMs: 10_000, exclude: [], capacity: new Map(), defaultCapacity: 1_000 };
          const rounds = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store : other).claimDue(opts)));
          const ids = rounds.flat().map((c) => c.id);
          assert.equal(new Set(ids).size, ids.length, 'no row claimed twice');
          assert.ok(ids.length > 0);
        } finally {
          await other.close();
        }
      });

      test('postgres: retention drops a whole week holding only delivered rows, keeps a week with a dead one', async (store) => {
        const m = await merchant(store);
        const now = Date.now();
        const schema = (store as unknown as PostgresStore).channel.replace('confirma_due_', '');
        const sql = async (text: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> => {
          const db = new pg.Client({ connectionString: PG_URL });
          await db.connect();
          try {
            return (await db.query(text, params)).rows;
          } finally {
            await db.end();
          }
        };
        const weeks = async (table = 'confirmations'): Promise<string[]> =>
          (
            await sql(
              `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relkind = 'r' AND relname LIKE $2 ORDER BY 1`,
              [schema, `${table.replace(/_/g, '\\_')}\\_w%`],
            )
          ).map((r) => String(r.relname).slice(table.length));
        const bodies = async (id: string): Promise<number> =>
          Number((await sql(`SELECT count(*) AS n FROM ${schema}.confirmation_bodies WHERE id = $1`, [id]))[0]?.n);
        const before = await weeks();
        assert.equal(before.length, 3, `this week and two ahead: ${before.join(', ')}`);
        // Bodies and attempts are partitioned by the same weeks.
        assert.deepEqual(await weeks('confirmation_bodies'), before);
        assert.deepEqual(await weeks('attempts'), before);
        await store.ingest([create(m, { id: 'w-1' }), create(m, { id: 'w-2' })], now);
        const claims = await claimAll(store, now);
        await record(store, claims[0]!, { kind: 'delivered' }, now);
        await record(store, claims[1]!, { kind: 'dead', reason: 'gave up' }, now);
        // A cut-off five weeks ahead makes this week old; it holds a dead row, so it stays.
        const later = now + 5 * 7 * 86_400_000;
        assert.equal(await store.purgeHistory(later, 100), 1, 'the delivered row goes by a batched delete');
        assert.equal(await bodies(claims[0]!.id), 0, 'and its body with it');
        assert.equal(await bodies(claims[1]!.id), 1);
        assert.ok((await weeks()).includes(before[0]!));
        assert.equal((await store.getConfirmation(claims[1]!.id))?.state, 'dead');
        // Once the dead one is delivered too, the whole week is dropped.
        await store.redeliver(claims[1]!.id, now);
        const [again] = await claimAll(store, now);
        await record(store, again!, { kind: 'delivered' }, now);
        await store.purgeHistory(later, 100);
        assert.ok(!(await weeks()).includes(before[0]!), 'the week was dropped');
        assert.ok(!(await weeks('confirmation_bodies')).includes(before[0]!), 'with its bodies');
        assert.ok(!(await weeks('attempts')).includes(before[0]!), 'and its attempts');
        assert.equal(await store.getConfirmation(claims[1]!.id), undefined);
        assert.deepEqual(await store.listAttempts(claims[1]!.id), []);
        assert.equal((await store.getTransaction(m, 'w-2'))?.id, 'w-2');
        // New confirmations still find a partition.
        await store.ingest([create(m)], Date.now());
        assert.equal((await store.countByState()).pending, 1);
      });

      test('postgres: a committed ingest batch wakes listeners once, naming its merchants', async (store) => {
        const a = await merchant(store);
        const b = await merchant(store);
        const heard: Array<string[] | undefined> = [];
        const unsubscribe = await store.subscribeDue((ids) => heard.push(ids));
        try {
          await store.ingest([create(a), create(a), create(b), create('mer_nope')], Date.now());
          const end = Date.now() + 5_000;
          while (heard.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(heard.length, 1);
          assert.deepEqual([...heard[0]!].sort(), [a, b].sort());
          // Work put back on the queue by an API node wakes the workers too.
          const [claim] = await claimAll(store);
          await record(store, claim!, { kind: 'dead', reason: 'gave up' });
          assert.equal(await store.replayDead(claim!.merchantId, Date.now()), 1);
          const until = Date.now() + 5_000;
          while (heard.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          assert.deepEqual(heard[1], [claim!.merchantId]);
        } finally {
          await unsubscribe();
        }
      });

      it('postgres: an unreachable server is store_unavailable, not a crash', { skip }, async () => {
        const store = new PostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', poolSize: 1 });
        try {
          await assert.rejects(store.ingest([create('mer_x')], Date.now()), (err: unknown) => {
            assert.ok(err instanceof ConfirmaError);
            assert.equal(err.code, 'store_unavailable');
            return true;
          });
          await assert.rejects(
            store.getTransaction('mer_x', 'x'),
            (err: unknown) => err instanceof ConfirmaError && err.code === 'store_unavailable',
          );
        } finally {
          await store.close();
        }
      });
    }
  });
}
