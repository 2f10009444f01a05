import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startEngine, tempDir, txBody, type Engine } from './helpers/engine.js';

describe('API keys and the audit log', () => {
  let engine: Engine;
  before(async () => {
    engine = await startEngine();
  });
  after(() => engine.stop());

  it('an admin key made through the API works, is listed without its secret, and stops at once when revoked', async () => {
    const created = await engine.call('POST', '/v1/keys', { name: 'ops' });
    assert.equal(created.status, 201);
    const key = created.body.key as string;
    assert.match(key, /^cfm_ak_[A-Za-z0-9_-]{43}$/);
    assert.equal((await engine.call('GET', '/v1/merchants', undefined, key)).status, 200);
    const list = await engine.call('GET', '/v1/keys');
    assert.ok(list.body.data.some((k: { id: string }) => k.id === created.body.id));
    assert.equal(JSON.stringify(list.body).includes(key), false);
    assert.equal(JSON.stringify(list.body).includes('hash'), false);
    const revoked = await engine.call('POST', `/v1/keys/${created.body.id}/revoke`);
    assert.equal(revoked.status, 200);
    assert.notEqual(revoked.body.revokedAt, null);
    const after = await engine.call('GET', '/v1/merchants', undefined, key);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'unauthorized');
  });

  it('a merchant key is scoped to its merchant, and the merchant-created key can be revoked', async () => {
    const a = await engine.call('POST', '/v1/merchants', { name: 'A', url: 'http://127.0.0.1:9/a' });
    const b = await engine.call('POST', '/v1/merchants', { name: 'B', url: 'http://127.0.0.1:9/b' });
    const extra = await engine.call('POST', '/v1/keys', { merchantId: a.body.id, name: 'a-backend' });
    assert.equal(extra.status, 201);
    assert.match(extra.body.key, /^cfm_mk_/);
    assert.equal((await engine.call('GET', `/v1/merchants/${a.body.id}`, undefined, extra.body.key)).status, 200);
    assert.equal((await engine.call('GET', `/v1/merchants/${b.body.id}`, undefined, extra.body.key)).status, 404);
    assert.equal((await engine.call('GET', '/v1/keys', undefined, extra.body.key)).status, 403);
    assert.equal((await engine.call('GET', '/v1/audit', undefined, extra.body.key)).status, 403);
    // The key returned at merchant creation can be revoked too.
    const keys = await engine.call('GET', '/v1/keys');
    const original = keys.body.data.find(
      (k: { merchantId: string; name: string | null }) => k.merchantId === a.body.id && k.name === null,
    );
    await engine.call('POST', `/v1/keys/${original.id}/revoke`);
    assert.equal((await engine.call('GET', `/v1/merchants/${a.body.id}`, undefined, a.body.apiKey)).status, 401);
    const missing = await engine.call('POST', '/v1/keys', { merchantId: 'mer_nope' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.field, 'merchantId');
  });

  it('records who did what, when, without secrets', async () => {
    const m = await engine.call('POST', '/v1/merchants', { name: 'Audited', url: 'http://127.0.0.1:9/x' });
    await engine.call('PATCH', `/v1/merchants/${m.body.id}`, { timeoutMs: 5000 }, m.body.apiKey);
    await engine.call('POST', `/v1/merchants/${m.body.id}/secret/rotate`);
    await engine.call('POST', `/v1/merchants/${m.body.id}/replay`);
    await engine.call('POST', '/v1/transactions', txBody(m.body.id));
    const page = await engine.call('GET', '/v1/audit?limit=500');
    assert.equal(page.status, 200);
    const mine = page.body.data.filter((e: { target: string }) => e.target === m.body.id);
    assert.deepEqual(
      mine.map((e: { action: string }) => e.action),
      ['merchant.created', 'merchant.updated', 'merchant.secret_rotated', 'merchant.replayed'],
    );
    assert.equal(mine[0].actor, 'admin');
    assert.match(mine[1].actor, /^key_/, 'the merchant key that made the change');
    assert.deepEqual(mine[1].details, { fields: ['timeoutMs'] });
    assert.ok(page.body.data.some((e: { action: string }) => e.action === 'key.revoked'));
    const text = JSON.stringify(page.body);
    assert.equal(text.includes('whsec_'), false);
    assert.equal(text.includes('cfm_'), false);
    const second = await engine.call('GET', `/v1/audit?after=${mine[1].id}&limit=1`);
    assert.equal(second.body.data[0].id > mine[1].id, true);
    assert.equal((await engine.call('GET', '/v1/audit?after=x')).body.error.code, 'invalid_cursor');
  });
});

it('confirma keys create|list|revoke manage keys on the store file', () => {
  const { dir, cleanup } = tempDir();
  try {
    const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
    const db = path.join(dir, 'k.db');
    const run = (...args: string[]): string =>
      execFileSync(process.execPath, [main, 'keys', ...args, '--db', db], {
        encoding: 'utf8',
        env: { ...process.env, CONFIRMA_LOG_LEVEL: 'silent' },
      });
    const created = JSON.parse(run('create', '--name', 'bootstrap')) as { id: string; key: string };
    assert.match(created.key, /^cfm_ak_/);
    const listed = run('list');
    assert.match(listed, new RegExp(`${created.id}\\tcfm_ak_.{5}…\\tadmin\\tbootstrap\\t.*\\tactive`));
    assert.equal(listed.includes(created.key), false);
    assert.match(run('revoke', created.id), /revoked/);
    assert.match(run('list'), /revoked 20/);
  } finally {
    cleanup();
  }
});
