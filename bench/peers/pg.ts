/** The PostgreSQL chores of the peer benchmark: is it there, and dropping a run's schema. */
import pg from 'pg';

async function pgQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  // A server restart mid-query rejects the query; the 'error' event must not crash the process.
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function pgUnavailable(url: string): Promise<string | undefined> {
  try {
    await pgQuery(url, 'SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL is not reachable at ${url} (${err instanceof Error ? err.message : String(err)})`;
  }
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await pgQuery(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((err: unknown) =>
    process.stderr.write(`could not drop PostgreSQL schema ${schema}: ${String(err)}\n`),
  );
}
