import type pg from 'pg';
import { idFloor } from '../../domain/ids.js';
import { OPEN_STATES_SQL } from '../rows.js';

/**
 * Weekly partitions of `confirmations`, `confirmation_bodies` and `attempts`, by confirmation id
 * (ids begin with their creation time, so an id range is a time range). Weeks start on Monday
 * 00:00 UTC.
 *
 * Creating: the weeks from `now - behindWeeks` to `now + 2 weeks` must exist, so inserts never
 * fall into the default partition. Dropping: a week whose end is older than the retention cut-off
 * goes as a whole (all three tables, one short ACCESS EXCLUSIVE lock, bounded by lock_timeout) only
 * when it holds nothing but delivered confirmations; otherwise it stays, and retention deletes its
 * delivered rows in batches like any other, leaving the open and dead ones where they are.
 */
const WEEK_MS = 7 * 86_400_000;
/** 1970-01-05 was a Monday. */
const MONDAY_MS = 4 * 86_400_000;

export function weekStart(ms: number): number {
  return Math.floor((ms - MONDAY_MS) / WEEK_MS) * WEEK_MS + MONDAY_MS;
}

function suffix(weekMs: number): string {
  return new Date(weekMs).toISOString().slice(0, 10).replace(/-/g, '');
}

/** Serializes maintenance across nodes: two workers creating the same partition would collide. */
async function lock(c: pg.PoolClient, schema: string): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('confirma_partitions_' || $1::text))`, [schema]);
}

async function existing(c: pg.PoolClient, schema: string): Promise<Set<string>> {
  const { rows } = await c.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind = 'r'
       AND (c.relname LIKE 'confirmations\\_w%' OR c.relname LIKE 'confirmation\\_bodies\\_w%' OR c.relname LIKE 'attempts\\_w%')`,
    [schema],
  );
  return new Set(rows.map((r) => r.relname));
}

/** Creates the missing weekly partitions around `now`; returns the names created. Run in a transaction. */
export async function ensurePartitions(c: pg.PoolClient, schema: string, now: number, behindWeeks: number): Promise<string[]> {
  await lock(c, schema);
  const have = await existing(c, schema);
  const created: string[] = [];
  for (let w = weekStart(now) - behindWeeks * WEEK_MS; w <= weekStart(now) + 2 * WEEK_MS; w += WEEK_MS) {
    const from = idFloor('msg', w);
    const to = idFloor('msg', w + WEEK_MS);
    const conf = `confirmations_w${suffix(w)}`;
    const bodies = `confirmation_bodies_w${suffix(w)}`;
    const att = `attempts_w${suffix(w)}`;
    if (!have.has(conf)) {
      await c.query(
        `CREATE TABLE ${conf} PARTITION OF confirmations FOR VALUES FROM ('${from}') TO ('${to}') WITH (fillfactor = 80)`,
      );
      created.push(conf);
    }
    if (!have.has(bodies)) {
      await c.query(`CREATE TABLE ${bodies} PARTITION OF confirmation_bodies FOR VALUES FROM ('${from}') TO ('${to}')`);
      created.push(bodies);
    }
    if (!have.has(att)) {
      await c.query(`CREATE TABLE ${att} PARTITION OF attempts FOR VALUES FROM ('${from}') TO ('${to}')`);
      created.push(att);
    }
  }
  return created;
}

/**
 * Drops the weeks that end before `before` and hold only delivered confirmations; returns the
 * weeks dropped. Run in a transaction; waits at most `lockTimeoutMs` for the table locks (a busy
 * moment just postpones the drop to the next pass).
 */
export async function dropOldPartitions(
  c: pg.PoolClient,
  schema: string,
  before: number,
  lockTimeoutMs = 2_000,
): Promise<string[]> {
  await lock(c, schema);
  await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
  const dropped: string[] = [];
  for (const name of [...(await existing(c, schema))].filter((n) => n.startsWith('confirmations_w')).sort()) {
    const y = name.slice('confirmations_w'.length);
    const start = Date.UTC(Number(y.slice(0, 4)), Number(y.slice(4, 6)) - 1, Number(y.slice(6, 8)));
    if (start + WEEK_MS > before) continue;
    // IN (…) rather than <> so the (state, id) index answers without reading the week.
    const { rowCount } = await c.query(`SELECT 1 FROM ${name} WHERE state IN (${OPEN_STATES_SQL}) LIMIT 1`);
    if (rowCount !== 0) continue; // open or dead rows: keep the week; batched deletes take its delivered rows
    await c.query(`DROP TABLE IF EXISTS attempts_w${y}`);
    await c.query(`DROP TABLE IF EXISTS confirmation_bodies_w${y}`);
    await c.query(`DROP TABLE ${name}`);
    dropped.push(y);
  }
  return dropped;
}
