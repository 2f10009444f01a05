import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PG = 'postgres://postgres@127.0.0.1:5432/test';

it('roles: all is the default; api and worker need PostgreSQL', () => {
  assert.equal(loadConfig({}).role, 'all');
  assert.equal(loadConfig({ DATABASE_URL: PG, CONFIRMA_ROLE: 'worker' }).role, 'worker');
  assert.equal(loadConfig({ DATABASE_URL: PG }, { role: 'api' }).role, 'api');
  assert.throws(
    () => loadConfig({ CONFIRMA_ROLE: 'api' }),
    (err: unknown) => err instanceof ConfigError && /PostgreSQL/.test(err.message),
  );
  assert.throws(() => loadConfig({ DATABASE_URL: 'sqlite:x.db', CONFIRMA_ROLE: 'worker' }), ConfigError);
  assert.throws(() => loadConfig({ DATABASE_URL: PG, CONFIRMA_ROLE: 'boss' }), /CONFIRMA_ROLE/);
  assert.throws(() => loadConfig({ CONFIRMA_PG_SCHEMA: 'Bad-Name' }), /CONFIRMA_PG_SCHEMA/);
  assert.equal(loadConfig({}).retentionDays, 7);
  assert.throws(() => loadConfig({ CONFIRMA_RETENTION_DAYS: '0' }), /CONFIRMA_RETENTION_DAYS/);
});

it('confirma start --role worker on SQLite exits 2 naming the rule', () => {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.CONFIRMA_ROLE;
  const r = spawnSync(process.execPath, [MAIN, 'start', '--role', 'worker', '--port', '0'], {
    env,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /role "worker" needs a shared PostgreSQL/);
});
