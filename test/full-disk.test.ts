import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createWriteStream, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ConfirmaError } from '../src/errors.js';
import { translate as translatePg } from '../src/store/postgres/pg-errors.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from '../src/store/sqlite/threaded-store.js';
import type { Store } from '../src/store/store.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { ADMIN_KEY, tempDir, testLogFile, txBody, waitFor } from './helpers/engine.js';

/**
 * Issue 13 §7: a full disk. SQLite's "cannot right now" errors answer `store_unavailable` (503) on
 * every route, as a lost PostgreSQL does; the dispatcher keeps outcomes it could not write and
 * writes them again while their leases hold; the node recovers by itself when space returns.
 */

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

describe('SQLite errors in the one vocabulary', () => {
  for (const [label, open] of [
    ['on its own thread', (file: string): Store => new ThreadedSqliteStore({ file, busyTimeoutMs: 50 })],
    ['on the event loop', (file: string): Store => new SqliteStore({ file, busyTimeoutMs: 50 })],
  ] as const) {
    it(`a lock held by another process past the busy timeout is store_unavailable (${label})`, async () => {
      const { dir, cleanup } = tempDir();
      const file = path.join(dir, 'c.db');
      const store = open(file);
      const other = new Database(file);
      try {
        await store.migrate();
        other.exec('BEGIN IMMEDIATE'); // a backup or a CLI holding the write lock
        await assert.rejects(
          store.appendAudit({ at: Date.now(), actor: 'test', action: 'merchant.created', target: 'mer_x', details: null }),
          (err: unknown) =>
            err instanceof ConfirmaError && err.code === 'store_unavailable' && err.status === 503 && err.retryAfterSec === 1,
        );
        other.exec('ROLLBACK');
        await store.appendAudit({ at: Date.now(), actor: 'test', action: 'merchant.created', target: 'mer_x', details: null });
        assert.equal((await store.listAudit(undefined, 10)).length, 1, 'the failed call stored nothing, the next one works');
      } finally {
        other.close();
        await store.close();
        cleanup();
      }
    });
  }

  it('PostgreSQL out of disk or memory is store_unavailable too; a bad statement is not', () => {
    for (const code of ['53100', '53200', '57P01', '08006']) {
      const err = translatePg(Object.assign(new Error('could not extend file'), { code }));
      assert.ok(err instanceof ConfirmaError && err.code === 'store_unavailable', code);
    }
    assert.ok(!(translatePg(Object.assign(new Error('syntax error'), { code: '42601' })) instanceof ConfirmaError));
  });
});

/** Mounts a tmpfs of `mib` MiB; undefined with the reason when this machine does not allow it. */
function mountTmpfs(mib: number): { dir: string; unmount: () => void } | string {
  if (process.platform !== 'linux') return `tmpfs needs Linux, this is ${process.platform}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'confirma-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    return `cannot mount a tmpfs (root and CAP_SYS_ADMIN needed): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmdirSync(dir);
    },
  };
}

/** Writes a ballast file until the filesystem is full; returns its path. */
function fill(dir: string): string {
  const file = path.join(dir, 'ballast');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

async function startNode(dbPath: string): Promise<{ child: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONFIRMA_ADMIN_KEY: ADMIN_KEY,
    CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
    CONFIRMA_RATE_LIMIT: '0',
    CONFIRMA_LOG_LEVEL: 'info',
  };
  for (const v of ['DATABASE_URL', 'CONFIRMA_ROLE', 'CONFIRMA_MASTER_KEY', 'CONFIRMA_MASTER_KEY_PREVIOUS']) delete env[v];
  const child = spawn(process.execPath, [MAIN, 'start', '--port', '0', '--db', dbPath], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(createWriteStream(testLogFile('full-disk')));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`confirma start exited with ${code}: ${out.slice(-2000)}`)));
  });
  return { child, url };
}

async function call(
  url: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: any; retryAfter: string | null }> {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, retryAfter: res.headers.get('retry-after') };
}

describe('a full disk under load', () => {
  it('ingest answers 503 store_unavailable and never a 2xx for what was not stored; everything acknowledged is delivered; the node recovers by itself', async (t) => {
    const mounted = mountTmpfs(48);
    if (typeof mounted === 'string') {
      if (inCi) assert.fail(mounted);
      return t.skip(mounted);
    }
    const fleet = await new MerchantServer().listen();
    let node: { child: ChildProcess; url: string } | undefined;
    let ballast: string | undefined;
    let stop = false;
    let clients: Promise<void>[] = [];
    try {
      node = await startNode(path.join(mounted.dir, 'confirma.db'));
      const { url } = node;
      const exited = once(node.child, 'exit').then(([code, signal]) => `the node exited (${String(code)}, ${String(signal)})`);
      const m = await call(url, 'POST', '/v1/merchants', { name: 'full', url: fleet.url('full'), maxInFlight: 8 });
      assert.equal(m.status, 201, JSON.stringify(m.body));
      fleet.merchant('full', m.body.secret, () => ({ kind: 'delay', ms: 5, status: 200 }));
      const merchantId = m.body.id as string;

      // The load: eight clients sending transactions with their own ids, each answer kept.
      const acked = new Set<string>();
      const refused = new Map<string, string>(); // id → what the answer was
      const others: string[] = [];
      let phase: 'before' | 'full' | 'after' = 'before';
      const counts = { before: 0, full503: 0, after: 0 };
      let n = 0;
      const client = async (): Promise<void> => {
        while (!stop) {
          const id = `fd-${++n}`;
          let r: Awaited<ReturnType<typeof call>>;
          try {
            r = await call(url, 'POST', '/v1/transactions', txBody(merchantId, { id }));
          } catch (err) {
            others.push(`no answer: ${String(err)}`);
            return;
          }
          if (r.status === 201) {
            acked.add(id);
            if (phase === 'before') counts.before++;
            if (phase === 'after') counts.after++;
          } else if (r.status === 503 && r.body?.error?.code === 'store_unavailable' && r.retryAfter === '1') {
            refused.set(id, 'store_unavailable');
            if (phase === 'full') counts.full503++;
            await new Promise((resolve) => setTimeout(resolve, 20)); // as a client honouring Retry-After would, briefly
          } else {
            others.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          }
        }
      };
      clients = Array.from({ length: 8 }, () => client());
      await Promise.race([
        waitFor('200 acknowledged before the disk fills', () => counts.before >= 200, 60_000),
        exited.then((e) => assert.fail(e)),
      ]);

      ballast = fill(mounted.dir);
      phase = 'full';
      const receivedAtFull = fleet.received.length;
      const fullAt = Date.now();
      // Full for a few seconds at least: claims and outcome commits fail meanwhile, too.
      const fullEnough = (): boolean => counts.full503 >= 50 && Date.now() - fullAt >= 3_000;
      await Promise.race([
        waitFor('ingest refused while the disk is full', fullEnough, 60_000),
        exited.then((e) => assert.fail(e)),
      ]);
      // Every route answers in the catalog: a merchant create is 503 too, never a 500.
      const creates = await Promise.all(
        [0, 1, 2].map((i) => call(url, 'POST', '/v1/merchants', { name: `late${i}`, url: fleet.url(`late${i}`) })),
      );
      for (const c of creates)
        assert.ok(
          c.status === 201 || (c.status === 503 && c.body.error.code === 'store_unavailable'),
          `${c.status} ${JSON.stringify(c.body)}`,
        );
      assert.ok(
        creates.some((c) => c.status === 503),
        'the disk was full for merchants too',
      );
      const receivedWhileFull = fleet.received.length - receivedAtFull;

      unlinkSync(ballast);
      ballast = undefined;
      phase = 'after';
      await Promise.race([
        waitFor('ingest succeeds again without a restart', () => counts.after >= 100, 60_000),
        exited.then((e) => assert.fail(e)),
      ]);
      stop = true;
      await Promise.all(clients);

      assert.deepEqual(others, [], 'every answer was a 201 or a 503 store_unavailable with Retry-After: 1');
      // Nothing acknowledged is lost, and outcomes that could not be written were written once
      // space returned: nothing stays in flight until its lease (60 s) lapses.
      const delivered = (): Set<string> => new Set(fleet.deliveries('full').map((r) => JSON.parse(r.body).data.id as string));
      await waitFor('every acknowledged transaction delivered', () => [...acked].every((id) => delivered().has(id)), 30_000);
      await waitFor(
        'no confirmation left open',
        async () => {
          for (const state of ['pending', 'inflight', 'waiting']) {
            const open = await call(url, 'GET', `/v1/confirmations?merchantId=${merchantId}&state=${state}&limit=1`);
            if (open.body.data.length > 0) return false;
          }
          return true;
        },
        20_000,
        200,
      );
      // A 503 stored nothing.
      for (const id of [...refused.keys()].slice(0, 200)) {
        assert.equal((await call(url, 'GET', `/v1/transactions/${id}`)).status, 404, `${id} was refused but stored`);
      }
      const ids = fleet.deliveries('full').map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, 'no confirmation was sent twice');
      assert.ok(fleet.deliveries('full').every((r) => r.verified));
      assert.equal(node.child.exitCode, null, 'the node never stopped');
      t.diagnostic(`acknowledged ${acked.size}, refused ${refused.size}, delivered while full ${receivedWhileFull}`);
    } finally {
      stop = true;
      await Promise.all(clients);
      if (node !== undefined && node.child.exitCode === null) {
        const gone = once(node.child, 'exit');
        node.child.kill('SIGTERM');
        const timer = setTimeout(() => node?.child.kill('SIGKILL'), 15_000);
        await gone;
        clearTimeout(timer);
      }
      if (ballast !== undefined) unlinkSync(ballast);
      await fleet.close();
      mounted.unmount();
    }
  });
});
