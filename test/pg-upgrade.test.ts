import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { idFloor, newId } from '../src/domain/ids.js';
import { loadMigrations } from '../src/store/migrations.js';
import { ensurePartitions, weekStart } from '../src/store/postgres/pg-partitions.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { PG_URL, pgSkip, withSchema } from './helpers/pg.js';

const skip = await pgSkip();

describe('PostgreSQL upgrade', () => {
  it('0004 moves the bodies of existing confirmations to their own table, week by week', { skip }, async () => {
    await withSchema('upgrade', async (schema) => {
      // A database as the previous release left it: migrations 0001-0003 and this week's partitions.
      const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
      await db.connect();
      const id = newId('msg');
      const now = Date.now();
      try {
        await db.query(`CREATE SCHEMA ${schema}`);
        await db.query('CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
        for (const m of loadMigrations('postgres').filter((m) => m.name < '0004')) {
          await db.query(m.sql);
          await db.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [m.name, now]);
        }
        const week = weekStart(now);
        const suffix = new Date(week).toISOString().slice(0, 10).replace(/-/g, '');
        const bounds = `FOR VALUES FROM ('${idFloor('msg', week)}') TO ('${idFloor('msg', week + 7 * 86_400_000)}')`;
        await db.query(`CREATE TABLE confirmations_w${suffix} PARTITION OF confirmations ${bounds}`);
        await db.query(`CREATE TABLE attempts_w${suffix} PARTITION OF attempts ${bounds}`);
        await db.query(
          `INSERT INTO confirmations (id, transaction_id, merchant_id, seq, type, state, body, due_at, created_at)
           VALUES ($1, 'tx_old', 'mer_old', 1, 'transaction.approved', 'pending', '{"old":true}', $2, $2)`,
          [id, now],
        );
      } finally {
        await db.end();
      }
      const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 });
      try {
        assert.deepEqual(await store.migrate(), [
          '0004_bodies',
          '0005_retention_indexes',
          '0006_index_diet',
          '0007_ids_per_merchant',
        ]);
        // The old row is claimed with its body, read from the new table.
        const claims = await store.claimDue({
          now,
          limit: 10,
          leaseMs: 10_000,
          exclude: [],
          capacity: new Map(),
          defaultCapacity: 10,
        });
        assert.deepEqual(
          claims.map((c) => [c.id, c.body]),
          [[id, '{"old":true}']],
        );
        const check = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
        await check.connect();
        try {
          // It sits in this week's body partition (made by the migration), not in the default one.
          const where = await check.query('SELECT tableoid::regclass::text AS part FROM confirmation_bodies WHERE id = $1', [id]);
          assert.match(String(where.rows[0]?.part), /confirmation_bodies_w\d{8}$/);
          const column = await check.query(
            `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'confirmations' AND column_name = 'body'`,
            [schema],
          );
          assert.equal(column.rowCount, 0, 'the column is gone from confirmations');
        } finally {
          await check.end();
        }
      } finally {
        await store.close();
      }
    });
  });

  it(
    '0007 keys transactions by (id, merchant): nodes starting at once apply it once, nothing is lost, deliveries go on',
    { skip },
    async () => {
      await withSchema('upgrade7', async (schema) => {
        // A database as the previous release left it: migrations 0001-0006, this week's partitions, traffic.
        const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
        await db.connect();
        const now = Date.now();
        const [pending, waiting, delivered] = [newId('msg'), newId('msg'), newId('msg')];
        try {
          await db.query(`CREATE SCHEMA ${schema}`);
          await db.query('CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
          for (const m of loadMigrations('postgres').filter((m) => m.name < '0007')) {
            await db.query(m.sql);
            await db.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [m.name, now]);
          }
          await ensurePartitions(db as unknown as pg.PoolClient, schema, now, 0);
          await db.query(
            `INSERT INTO merchants (id, name, url, created_at, updated_at) VALUES ('mer_a', 'A', 'https://a.example/c', $1, $1),
                          ('mer_b', 'B', 'https://b.example/c', $1, $1)`,
            [now],
          );
          await db.query(
            `INSERT INTO transactions (id, merchant_id, reference, amount, currency, status, customer, last_seq, created_at, updated_at)
           VALUES ('order-1', 'mer_a', 'R-1', '10.00', 'COP', 'approved', '{"name":"Ana"}', 2, $1, $1),
                  ('order-2', 'mer_a', 'R-2', '10.00', 'COP', 'approved', NULL, 1, $1, $1)`,
            [now],
          );
          await db.query(
            `INSERT INTO confirmations (id, transaction_id, merchant_id, seq, type, state, due_at, attempts, delivered_at, created_at)
           VALUES ($1, 'order-1', 'mer_a', 1, 'transaction.pending', 'pending', $4, 0, NULL, $4),
                  ($2, 'order-1', 'mer_a', 2, 'transaction.approved', 'waiting', NULL, 0, NULL, $4),
                  ($3, 'order-2', 'mer_a', 1, 'transaction.approved', 'delivered', NULL, 1, $4, $4)`,
            [pending, waiting, delivered, now],
          );
          await db.query(`INSERT INTO confirmation_bodies (id, body) SELECT unnest($1::text[]), '{"old":true}'`, [
            [pending, waiting, delivered],
          ]);
        } finally {
          await db.end();
        }
        const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 });
        const other = new PostgresStore({ url: PG_URL, schema, poolSize: 2 });
        try {
          // Two nodes starting at once: the advisory lock lets one apply it; the other finds it done.
          const applied = await Promise.all([store.migrate(), other.migrate()]);
          assert.deepEqual(applied.flat(), ['0007_ids_per_merchant']);
          const one = await store.getTransaction('mer_a', 'order-1');
          assert.deepEqual(
            [one?.reference, one?.status, one?.customer, one?.createdAt],
            ['R-1', 'approved', { name: 'Ana' }, now],
          );
          assert.equal((await store.getTransaction('mer_a', 'order-2'))?.reference, 'R-2');
          assert.deepEqual(
            (await store.listTransactionConfirmations('mer_a', 'order-1')).map((c) => [c.id, c.seq, c.state]),
            [
              [pending, 1, 'pending'],
              [waiting, 2, 'waiting'],
            ],
          );
          assert.deepEqual(await store.countByState(), { waiting: 1, pending: 1, inflight: 0, delivered: 1, dead: 0, parked: 0 });
          // Deliveries go on: the pending one is claimed with its body; closing it promotes the next.
          const [claim] = await store.claimDue({
            now,
            limit: 10,
            leaseMs: 10_000,
            exclude: [],
            capacity: new Map(),
            defaultCapacity: 10,
          });
          assert.deepEqual([claim?.id, claim?.body], [pending, '{"old":true}']);
          const attempt = { ok: true, statusCode: 200, durationMs: 3, startedAt: now };
          assert.deepEqual(
            (await other.recordOutcomes([{ claim: claim!, outcome: { kind: 'delivered' }, attempt }], now)).promoted,
            ['mer_a'],
          );
          const [next] = await other.claimForMerchants([{ merchantId: 'mer_a', limit: 10 }], now, 10_000);
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
          await other.close();
        }
      });
    },
  );
});
