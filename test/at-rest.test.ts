import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { destination } from 'pino';
import { createApp, type App } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { newId } from '../src/domain/ids.js';
import { createLogger } from '../src/observe/logger.js';
import { Keyring } from '../src/signing/keyring.js';
import { sealSigningSecret } from '../src/signing/sealed-secrets.js';
import { openStore } from '../src/store/open-store.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import type { Store } from '../src/store/store.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { ADMIN_KEY, tempDir, testLogFile, txBody, waitFor } from './helpers/engine.js';
import { PG_URL, pgSkip, withSchema } from './helpers/pg.js';

/**
 * Issue 13 §6: merchant credentials and the SQLite file at rest. A node started without the
 * master key its store's sealed secrets need (or with keys that open none of them) used to start,
 * warn, and fail every attempt with a signing error until the confirmations went dead, saying
 * nothing at error level; the SQLite file was created 0644.
 */

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const hex = (k: Buffer): string => k.toString('hex');

/** A merchant whose signing secret is stored sealed under `keyring`; returns its id and secret. */
async function sealedMerchant(store: Store, keyring: Keyring, url: string): Promise<{ id: string; secret: string }> {
  const id = newId('mer');
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  await store.createMerchant(
    {
      id,
      name: `m-${id.slice(-6)}`,
      url,
      format: 'standard',
      maxInFlight: null,
      timeoutMs: null,
      retrySchedule: [0, 0, 0],
      epayco: null,
    },
    sealSigningSecret(keyring, id, secret),
    { id: newId('key'), hash: randomBytes(16).toString('hex'), prefix: 'cfm_mk_t' },
  );
  return { id, secret };
}

/** A node on `env` (SQLite at `db`, or PostgreSQL per env) logging into a file the test reads back. */
async function node(env: Record<string, string>, db?: string): Promise<{ app: App; logFile: string }> {
  const config = loadConfig({
    CONFIRMA_ADMIN_KEY: ADMIN_KEY,
    CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
    CONFIRMA_PORT: '0',
    CONFIRMA_POLL_MS: '100',
    ...(db === undefined ? {} : { CONFIRMA_DB_PATH: db }),
    ...env,
  });
  const logFile = testLogFile('at-rest');
  const app = await createApp(config, createLogger('debug', destination({ dest: logFile, sync: true })));
  return { app, logFile };
}

async function refused(env: Record<string, string>, db?: string): Promise<string> {
  try {
    const { app } = await node(env, db);
    await app.stop();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`a node started with ${JSON.stringify(Object.keys(env))}`);
}

function logLines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const ERROR = 50; // pino's level number for error

describe('start-up checks the master keys against the sealed credentials', () => {
  it('SQLite: no key, or keys that open nothing, refuse to start naming the variable; the right key as a previous one starts', async () => {
    const { dir, cleanup } = tempDir();
    const db = path.join(dir, 'c.db');
    try {
      const store = new SqliteStore({ file: db });
      await store.migrate();
      await sealedMerchant(store, new Keyring(keyA), 'https://shop.example/c');
      await store.close();

      assert.match(
        await refused({}, db),
        /^CONFIRMA_MASTER_KEY is not set, but the store holds 1 merchant credential\(s\) sealed under master key [0-9a-f]{16}/,
      );
      assert.match(
        await refused({ CONFIRMA_MASTER_KEY: hex(keyB) }, db),
        /CONFIRMA_MASTER_KEY \(key [0-9a-f]{16}\) and CONFIRMA_MASTER_KEY_PREVIOUS open none of the 1/,
      );
      assert.match(await refused({ CONFIRMA_MASTER_KEY: hex(keyB), CONFIRMA_DB_THREAD: 'false' }, db), /open none/);
      const { app } = await node({ CONFIRMA_MASTER_KEY: hex(keyB), CONFIRMA_MASTER_KEY_PREVIOUS: hex(keyA) }, db);
      await app.stop();

      // The command line: exit 2 and the message, as for any configuration error.
      const env: NodeJS.ProcessEnv = { ...process.env, CONFIRMA_LOG_LEVEL: 'silent', CONFIRMA_PORT: '0' };
      for (const v of ['CONFIRMA_MASTER_KEY', 'CONFIRMA_MASTER_KEY_PREVIOUS', 'DATABASE_URL', 'CONFIRMA_ROLE']) delete env[v];
      const r = spawnSync(process.execPath, [MAIN, 'start', '--db', db], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^confirma: CONFIRMA_MASTER_KEY is not set, but the store holds 1 merchant credential/m);
    } finally {
      cleanup();
    }
  });

  it('PostgreSQL, roles api and worker: the same refusals', async (t) => {
    const skip = await pgSkip();
    if (skip !== false) return t.skip(skip);
    await withSchema('atrest', async (schema) => {
      const store = new PostgresStore({ url: PG_URL, schema });
      try {
        await store.migrate();
        await sealedMerchant(store, new Keyring(keyA), 'https://shop.example/c');
      } finally {
        await store.close();
      }
      const base = { DATABASE_URL: PG_URL, CONFIRMA_PG_SCHEMA: schema };
      for (const role of ['api', 'worker']) {
        assert.match(await refused({ ...base, CONFIRMA_ROLE: role }), /^CONFIRMA_MASTER_KEY is not set/);
        assert.match(await refused({ ...base, CONFIRMA_ROLE: role, CONFIRMA_MASTER_KEY: hex(keyB) }), /open none/);
        const { app } = await node({ ...base, CONFIRMA_ROLE: role, CONFIRMA_MASTER_KEY: hex(keyA) });
        await app.stop();
      }
    });
  });

  it('keys that open some values start, and say at error level once which merchant cannot be signed for', async () => {
    const { dir, cleanup } = tempDir();
    const db = path.join(dir, 'c.db');
    const fleet = await new MerchantServer().listen();
    let app: App | undefined;
    try {
      const store = new SqliteStore({ file: db });
      await store.migrate();
      const good = await sealedMerchant(store, new Keyring(keyA), fleet.url('good'));
      const lost = await sealedMerchant(store, new Keyring(keyB), fleet.url('lost')); // the node lacks key B
      await store.close();
      fleet.merchant('good', good.secret);
      fleet.merchant('lost', lost.secret);

      const started = await node({ CONFIRMA_MASTER_KEY: hex(keyA) }, db);
      app = started.app;
      const url = await app.start();
      const atStart = logLines(started.logFile).filter((l) => l.level === ERROR);
      assert.equal(atStart.length, 1, JSON.stringify(atStart));
      assert.deepEqual(atStart[0]?.keyIds, [new Keyring(keyB).keyId]);
      assert.deepEqual(atStart[0]?.merchantIds, [lost.id]);

      for (const merchantId of [good.id, lost.id]) {
        const res = await fetch(`${url}/v1/transactions/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ transactions: [0, 1, 2].map(() => txBody(merchantId)) }),
        });
        assert.equal(res.status, 200);
        assert.ok(((await res.json()) as { results: Array<{ ok: boolean }> }).results.every((r) => r.ok));
      }
      const confirmations = async (merchantId: string, state: string): Promise<number> =>
        (await app!.store.listConfirmations({ merchantId, state: state as never, limit: 100 })).length;
      await waitFor(
        'good delivered, lost dead',
        async () => (await confirmations(good.id, 'delivered')) === 3 && (await confirmations(lost.id, 'dead')) === 3,
      );
      // Nine attempts failed to sign (three confirmations, three attempts each): one line says so.
      const signing = logLines(started.logFile).filter((l) => l.level === ERROR && /cannot sign/.test(String(l.msg)));
      assert.equal(signing.length, 1, JSON.stringify(signing));
      assert.equal(signing[0]?.merchantId, lost.id);
      assert.match(String(signing[0]?.reason), /sealed under master key [0-9a-f]{16}, which this node does not have/);
      assert.equal(fleet.deliveries('lost').length, 0);
    } finally {
      await app?.stop();
      await fleet.close();
      cleanup();
    }
  });
});

describe('the SQLite files are readable by their owner only', () => {
  const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

  for (const [label, open] of [
    ['on its own thread', (file: string): Store => new ThreadedSqliteStore({ file })],
    ['on the event loop', (file: string): Store => new SqliteStore({ file })],
  ] as const) {
    it(`a fresh store ${label}: folder 0700, database, -wal and -shm 0600`, async () => {
      const { dir, cleanup } = tempDir();
      const folder = path.join(dir, 'new', 'data');
      const db = path.join(folder, 'c.db');
      const store = open(db);
      try {
        await store.migrate();
        await store.appendAudit({ at: Date.now(), actor: 'test', action: 'merchant.created', target: 'mer_x', details: null });
        assert.equal(mode(folder), '700');
        assert.equal(mode(path.dirname(folder)), '700', 'every folder Confirma created');
        for (const p of [db, `${db}-wal`, `${db}-shm`]) assert.equal(mode(p), '600', p);
      } finally {
        await store.close();
        cleanup();
      }
    });
  }

  it('an existing database file readable by others is tightened, and the opener hears of it', async () => {
    const { dir, cleanup } = tempDir();
    const db = path.join(dir, 'c.db');
    try {
      const first = new SqliteStore({ file: db });
      await first.migrate();
      await first.close();
      chmodSync(db, 0o644);
      const heard: string[] = [];
      const store = openStore(loadConfig({ CONFIRMA_DB_PATH: db }), { onTightened: (paths) => heard.push(...paths) });
      try {
        await store.migrate();
        assert.deepEqual(heard, [db]);
        assert.equal(mode(db), '600');
      } finally {
        await store.close();
      }
    } finally {
      cleanup();
    }
  });
});
