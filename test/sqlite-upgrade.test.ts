import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { newId } from '../src/domain/ids.js';
import { loadMigrations } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { tempDir } from './helpers/engine.js';

/**
 * The indexes of `transactions` and `confirmations` (a unique constraint's as its columns) and each
 * table's primary key, for comparing a schema before and after a migration.
 */
function indexesOf(file: string): { indexes: string[]; keys: Record<string, string[]> } {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('transactions', 'confirmations') ORDER BY name`,
      )
      .all() as Array<{ name: string; tbl_name: string; sql: string | null }>;
    const columns = (index: string): string =>
      (db.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(index) as Array<{ name: string }>)
        .map((c) => c.name)
        .join(', ');
    const indexes = rows.map((r) => `${r.tbl_name}: ${r.sql ?? `UNIQUE (${columns(r.name)})`}`).sort();
    const key = (table: string): string[] =>
      (db.prepare(`SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`).all(table) as Array<{ name: string }>).map(
        (c) => c.name,
      );
    return { indexes, keys: { transactions: key('transactions'), confirmations: key('confirmations') } };
  } finally {
    db.close();
  }
}

describe('SQLite upgrade', () => {
  it('0007 keys transactions by (id, merchant): every transaction and confirmation is kept and deliveries go on', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'old.db');
    const now = Date.now();
    const [pending, waiting, delivered] = [newId('msg'), newId('msg'), newId('msg')];
    try {
      // A database as the previous release left it: migrations 0001-0006 and some traffic.
      const old = new Database(file);
      try {
        old.exec('CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
        for (const m of loadMigrations('sqlite').filter((m) => m.name < '0007')) {
          old.exec(m.sql);
          old.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(m.name, now);
        }
        old.exec(`INSERT INTO merchants (id, name, url, created_at, updated_at) VALUES ('mer_a', 'A', 'https://a.example/c', ${now}, ${now}),
                    ('mer_b', 'B', 'https://b.example/c', ${now}, ${now})`);
        const tx =
          old.prepare(`INSERT INTO transactions (id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq,
            created_at, updated_at) VALUES (?, 'mer_a', ?, '10.00', 'COP', ?, '{"name":"Ana"}', NULL, ?, ?, ?)`);
        tx.run('order-1', 'R-1', 'approved', 2, now, now + 1);
        tx.run('order-2', 'R-2', 'approved', 1, now, now);
        const conf =
          old.prepare(`INSERT INTO confirmations (id, transaction_id, merchant_id, seq, type, state, due_at, attempts, delivered_at,
            created_at) VALUES (?, ?, 'mer_a', ?, ?, ?, ?, ?, ?, ?)`);
        conf.run(pending, 'order-1', 1, 'transaction.pending', 'pending', now, 0, null, now);
        conf.run(waiting, 'order-1', 2, 'transaction.approved', 'waiting', null, 0, null, now);
        conf.run(delivered, 'order-2', 1, 'transaction.approved', 'delivered', null, 1, now, now);
        const body = old.prepare('INSERT INTO confirmation_bodies (id, body) VALUES (?, ?)');
        for (const id of [pending, waiting, delivered]) body.run(id, `{"id":"${id}"}`);
        old
          .prepare(
            `INSERT INTO attempts (confirmation_id, number, started_at, duration_ms, status_code, outcome) VALUES (?, 1, ?, 5, 200, 'delivered')`,
          )
          .run(delivered, now);
      } finally {
        old.close();
      }

      const before = indexesOf(file);
      const store = new SqliteStore({ file });
      try {
        assert.deepEqual(await store.migrate(), ['0007_ids_per_merchant']);
        const one = await store.getTransaction('mer_a', 'order-1');
        assert.deepEqual(
          [one?.reference, one?.status, one?.customer, one?.createdAt, one?.updatedAt],
          ['R-1', 'approved', { name: 'Ana' }, now, now + 1],
        );
        assert.equal((await store.getTransaction('mer_a', 'order-2'))?.reference, 'R-2');
        assert.deepEqual(
          (await store.listTransactionConfirmations('mer_a', 'order-1')).map((c) => [c.id, c.seq, c.state]),
          [
            [pending, 1, 'pending'],
            [waiting, 2, 'waiting'],
          ],
        );
        assert.deepEqual(
          (await store.listAttempts(delivered)).map((a) => a.statusCode),
          [200],
        );
        assert.deepEqual(await store.countByState(), { waiting: 1, pending: 1, inflight: 0, delivered: 1, dead: 0, parked: 0 });

        // Deliveries go on: the pending one is claimed with its body, and closing it promotes the next.
        const [claim] = await store.claimDue({
          now,
          limit: 10,
          leaseMs: 10_000,
          exclude: [],
          capacity: new Map(),
          defaultCapacity: 10,
        });
        assert.deepEqual([claim?.id, claim?.body], [pending, `{"id":"${pending}"}`]);
        const attempt = { ok: true, statusCode: 200, durationMs: 3, startedAt: now };
        assert.deepEqual(
          (await store.recordOutcomes([{ claim: claim!, outcome: { kind: 'delivered' }, attempt }], now)).promoted,
          ['mer_a'],
        );
        const [next] = await store.claimForMerchants([{ merchantId: 'mer_a', limit: 10 }], now, 10_000);
        assert.deepEqual([next?.id, next?.seq], [waiting, 2]);

        // And another merchant may now use the same id.
        const tx = {
          id: 'order-1',
          merchantId: 'mer_b',
          reference: 'B-1',
          amount: '5.00',
          currency: 'COP',
          status: 'pending' as const,
          customer: null,
          metadata: null,
        };
        const [created] = await store.ingest([{ kind: 'create', scope: { kind: 'admin' }, tx }], now);
        assert.ok(created?.ok && created.httpStatus === 201, JSON.stringify(created));
        assert.deepEqual(
          (await store.findTransactionsById('order-1', 10)).map((t) => t.merchantId),
          ['mer_a', 'mer_b'],
        );
      } finally {
        await store.close();
      }

      // Every index is kept, partial ones with their predicates; only the keys gain merchant_id.
      const after = indexesOf(file);
      const changed = (ix: string[]) =>
        ix.map((i) => i.replace('UNIQUE (transaction_id, merchant_id, seq)', 'UNIQUE (transaction_id, seq)'));
      assert.deepEqual(changed(after.indexes), before.indexes);
      assert.ok(after.indexes.includes('confirmations: UNIQUE (transaction_id, merchant_id, seq)'), after.indexes.join('\n'));
      assert.equal(after.indexes.length, 6, after.indexes.join('\n'));
      assert.deepEqual(before.keys, { transactions: ['id'], confirmations: ['id'] });
      assert.deepEqual(after.keys, { transactions: ['id', 'merchant_id'], confirmations: ['id'] });
    } finally {
      cleanup();
    }
  });
});
