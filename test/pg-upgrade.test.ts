import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { idFloor, newId } from '../src/domain/ids.js';
import { loadMigrations } from '../src/store/migrations.js';
import { weekStart } from '../src/store/postgres/pg-partitions.js';
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
        assert.deepEqual(await store.migrate(), ['0004_bodies', '0005_retention_indexes', '0006_index_diet']);
        // The old row is claimed with its body, read from the new table.
        const claims = await store.claimDue({ now, limit: 10, leaseMs: 10_000, exclude: [], capacity: new Map(), defaultCapacity: 10 });
        assert.deepEqual(claims.map((c) => [c.id, c.body]), [[id, '{"old":true}']]);
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
});
