import pg from 'pg';

/** The test database: trust auth on the development machines and in CI. */
export const PG_URL = process.env.CONFIRMA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | undefined;

/** Whether PostgreSQL answers (asked once per process). */
export function pgReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * `false` when PostgreSQL tests should run, or the reason they are skipped. Outside CI an
 * unreachable server skips them (with the reason shown); with CI set they must run, so they fail.
 */
export async function pgSkip(): Promise<string | false> {
  if (await pgReachable()) return false;
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') return false;
  return `PostgreSQL is not reachable at ${PG_URL} and CI is not set`;
}

let n = 0;
/** A fresh schema name, unique across processes and runs. */
export function schemaName(label: string): string {
  n++;
  return `t_${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}_${process.pid}_${Date.now().toString(36)}_${n}`;
}

/** Runs one statement on its own connection. */
export async function pgExec(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Runs `fn` with a fresh schema; drops it when `fn` succeeds and keeps it for inspection when it
 * fails (pg-boss hooks.ts style), printing its name.
 */
export async function withSchema<T>(label: string, fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = schemaName(label);
  let result: T;
  try {
    result = await fn(schema);
  } catch (err) {
    process.stderr.write(`kept PostgreSQL schema ${schema} for inspection (test failed)\n`);
    throw err;
  }
  await pgExec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  return result;
}
