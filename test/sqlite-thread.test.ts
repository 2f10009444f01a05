import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { wireCall, type WireReply } from '../src/store/sqlite/wire.js';

/**
 * The seam between the main thread and the SQLite thread (`ThreadedSqliteStore`): a call crosses
 * by name, so the compiler checks it against `Store` where it is made and the thread refuses any
 * name that is not a `Store` method.
 */
describe('the SQLite thread seam', () => {
  let dir: string;
  let worker: Worker;
  let nextId = 1;

  /** Posts a raw message, as anything holding the worker could, and waits for its answer. */
  function post(method: string, args: readonly unknown[]): Promise<WireReply> {
    const id = nextId++;
    return new Promise((resolve) => {
      const onMessage = (reply: WireReply): void => {
        if (reply.id !== id) return;
        worker.off('message', onMessage);
        resolve(reply);
      };
      worker.on('message', onMessage);
      worker.postMessage({ id, method, args });
    });
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'confirma-thread-'));
    worker = new Worker(new URL('../src/store/sqlite/sqlite-thread.js', import.meta.url), {
      workerData: { file: path.join(dir, 'thread.db') },
    });
    const migrated = await post('migrate', []);
    assert.equal(migrated.ok, true, JSON.stringify(migrated));
  });
  after(async () => {
    await post('close', []);
    await worker.terminate();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a Store method', async () => {
    const reply = await post('findTransactionsById', ['tx_1', 2]);
    assert.deepEqual(reply, { id: reply.id, ok: true, value: [] });
  });

  // Regression: the thread looked any name up on the adapter and ran it, so a message could run
  // SqliteStore's own helpers outside the Store interface (here a claim without its transaction).
  it("refuses the adapter's own methods and anything on its prototype chain", async () => {
    const claimOptions = { now: Date.now(), limit: 10, leaseMs: 60_000, exclude: [], capacity: new Map(), defaultCapacity: 8 };
    for (const [method, args] of [
      ['claimRows', [claimOptions]],
      ['relaxed', []],
      ['prepare', []],
      ['constructor', []],
      ['toString', []],
      ['__proto__', []],
      ['hasOwnProperty', ['migrate']],
    ] as const) {
      const reply = await post(method, args);
      assert.equal(reply.ok, false, `${method} was run: ${JSON.stringify(reply)}`);
      if (!reply.ok) assert.match(reply.error.message, /serves Store methods only/);
    }
  });

  it('builds calls only of Store methods with their parameter types (checked when this file compiles)', () => {
    assert.deepEqual(wireCall(7, 'findTransactionsById', ['tx_1', 2]), {
      id: 7,
      method: 'findTransactionsById',
      args: ['tx_1', 2],
    });
    // The lines below must fail to compile: `tsc` reports an unused @ts-expect-error otherwise.
    // @ts-expect-error the arguments of findTransactionsById(id, limit) swapped
    wireCall(8, 'findTransactionsById', [2, 'tx_1']);
    // @ts-expect-error an argument missing
    wireCall(9, 'listMerchants', [undefined]);
    // @ts-expect-error not a Store method
    wireCall(10, 'claimRows', [{}]);
    // @ts-expect-error `dialect` is a property, not a method the thread serves
    wireCall(11, 'dialect', []);
  });
});
