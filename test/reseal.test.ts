import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { newId } from '../src/domain/ids.js';
import { pKeyOwner } from '../src/formats/epayco.js';
import { Keyring } from '../src/signing/keyring.js';
import { openSigningSecret } from '../src/signing/sealed-secrets.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { tempDir } from './helpers/engine.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function reseal(db: string, env: Record<string, string>): { status: number | null; out: any; stdout: string; stderr: string } {
  const base: NodeJS.ProcessEnv = { ...process.env, CONFIRMA_LOG_LEVEL: 'silent' };
  delete base.CONFIRMA_MASTER_KEY;
  delete base.CONFIRMA_MASTER_KEY_PREVIOUS;
  delete base.DATABASE_URL;
  const r = spawnSync(process.execPath, [MAIN, 'reseal', '--db', db], {
    env: { ...base, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout), stdout: r.stdout, stderr: r.stderr };
}

it('confirma reseal seals secrets stored before the master key, moves values to a new key, and names what it cannot open', async () => {
  const { dir, cleanup } = tempDir();
  const db = path.join(dir, 'c.db');
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const a = new Keyring(keyA);
  const plainSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const epaycoSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const pKey = randomBytes(16).toString('hex');
  const plain = newId('mer');
  const epayco = newId('mer');
  try {
    // Before any master key: a merchant whose secret is stored as it is.
    const store = new SqliteStore({ file: db });
    await store.migrate();
    const base = { url: 'https://shop.example/c', maxInFlight: null, timeoutMs: null, retrySchedule: null } as const;
    await store.createMerchant({ ...base, id: plain, name: 'plain', format: 'standard', epayco: null }, plainSecret, {
      id: newId('key'),
      hash: 'h1',
      prefix: 'cfm_mk_x',
    });
    // An epayco merchant made once key A was set: its pKey is sealed, its secret (say) not yet.
    await store.createMerchant(
      {
        ...base,
        id: epayco,
        name: 'epayco',
        format: 'epayco',
        epayco: { custId: '500123', sealedPKey: a.seal(pKey, pKeyOwner(epayco)) },
      },
      epaycoSecret,
      { id: newId('key'), hash: 'h2', prefix: 'cfm_mk_y' },
    );
    await store.close();

    const none = reseal(db, {});
    assert.equal(none.status, 2);
    assert.match(none.stderr, /CONFIRMA_MASTER_KEY is not set/);

    const first = reseal(db, { CONFIRMA_MASTER_KEY: keyA.toString('hex') });
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(
      { sealed: first.out.sealed, resealed: first.out.resealed, current: first.out.current, failed: first.out.failed },
      { sealed: 2, resealed: 0, current: 1, failed: [] },
    );
    assert.equal(first.out.keyId, a.keyId);

    const stored = async (): Promise<Map<string, string>> => {
      const s = new SqliteStore({ file: db });
      try {
        await s.migrate();
        return new Map((await s.listStoredCredentials()).map((c) => [`${c.kind}:${c.merchantId}`, c.stored]));
      } finally {
        await s.close();
      }
    };
    let now = await stored();
    for (const v of now.values()) assert.equal(Keyring.sealedUnder(v), a.keyId);
    assert.equal(openSigningSecret(a, plain, now.get(`signing_secret:${plain}`)!), plainSecret);

    // A master-key rotation: B current, A previous; afterwards B alone opens everything.
    const second = reseal(db, {
      CONFIRMA_MASTER_KEY: keyB.toString('base64'),
      CONFIRMA_MASTER_KEY_PREVIOUS: keyA.toString('hex'),
    });
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual([second.out.sealed, second.out.resealed, second.out.current], [0, 3, 0]);
    const b = new Keyring(keyB);
    now = await stored();
    assert.equal(openSigningSecret(b, plain, now.get(`signing_secret:${plain}`)!), plainSecret);
    assert.equal(openSigningSecret(b, epayco, now.get(`signing_secret:${epayco}`)!), epaycoSecret);
    assert.equal(b.open(now.get(`epayco_p_key:${epayco}`)!, pKeyOwner(epayco)), pKey);

    // Again: nothing to do.
    const third = reseal(db, { CONFIRMA_MASTER_KEY: keyB.toString('hex') });
    assert.deepEqual([third.status, third.out.sealed, third.out.resealed, third.out.current], [0, 0, 0, 3]);

    // A node given the wrong key: every value is named as not opening, none is touched or shown.
    const wrong = reseal(db, { CONFIRMA_MASTER_KEY: randomBytes(32).toString('hex') });
    assert.equal(wrong.status, 1);
    assert.equal(wrong.out.failed.length, 3);
    assert.deepEqual(new Set(wrong.out.failed.map((f: { merchantId: string }) => f.merchantId)), new Set([plain, epayco]));
    for (const secret of [plainSecret, epaycoSecret, pKey])
      assert.ok(!wrong.stdout.includes(secret) && !wrong.stderr.includes(secret));
    assert.deepEqual(await stored(), now);

    const s = new SqliteStore({ file: db });
    try {
      await s.migrate();
      const audit = (await s.listAudit(undefined, 100)).filter((e) => e.action === 'credentials.resealed');
      assert.equal(audit.length, 4);
      assert.deepEqual(audit[0]?.details, { sealed: 2, resealed: 0, current: 1, failed: 0 });
      assert.equal(audit[0]?.actor, 'cli');
    } finally {
      await s.close();
    }
  } finally {
    cleanup();
  }
});
