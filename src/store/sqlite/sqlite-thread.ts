import { parentPort, workerData } from 'node:worker_threads';
import { STORE_METHODS, type IngestClaimer } from '../store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { toWireError, toWireResults, type ThreadStore, type WireCall, type WireClaimer, type WireReply } from './wire.js';

/**
 * The SQLite thread (see `ThreadedSqliteStore`): it owns the database connection and runs the
 * store's methods one call at a time, in the order they arrive, so each transaction still runs
 * alone, as on the event loop.
 */
if (parentPort === null) throw new Error('sqlite-thread.js runs as a worker thread');
const port = parentPort;
const store = new SqliteStore(workerData as SqliteStoreOptions);

/**
 * An ingest claimer from the main thread arrives as a budget of rows per merchant it asked about,
 * plus a number of rows it may take for merchants it did not ask about (status changes).
 */
function claimerFrom(wire: WireClaimer | undefined): IngestClaimer | undefined {
  if (wire === undefined) return undefined;
  const left = new Map(Object.entries(wire.budget));
  let unasked = wire.unasked;
  return {
    leaseMs: wire.leaseMs,
    take(merchantId) {
      const n = left.get(merchantId);
      if (n === undefined) {
        if (unasked <= 0) return false;
        unasked--;
        return true;
      }
      if (n <= 0) return false;
      left.set(merchantId, n - 1);
      return true;
    },
  };
}

/**
 * The names this thread answers: the `Store` methods and nothing else, so a message cannot reach
 * the adapter's own helpers (its transactions, its statements) or anything on its prototype chain.
 */
const SERVED: ReadonlySet<string> = new Set(STORE_METHODS);

async function run(call: WireCall): Promise<unknown> {
  if (!SERVED.has(call.method))
    throw new Error(`the SQLite thread serves Store methods only, not ${JSON.stringify(call.method)}`);
  if (call.method === 'ingest') {
    const [ops, now, claimer] = call.args as Parameters<ThreadStore['ingest']>;
    return toWireResults(await store.ingest(ops, now, claimerFrom(claimer)));
  }
  const fn = (store[call.method] as (...args: readonly unknown[]) => Promise<unknown>).bind(store);
  return fn(...call.args);
}

port.on('message', (call: WireCall) => {
  run(call).then(
    (value) => port.postMessage({ id: call.id, ok: true, value } satisfies WireReply),
    (err: unknown) => port.postMessage({ id: call.id, ok: false, error: toWireError(err) } satisfies WireReply),
  );
});
