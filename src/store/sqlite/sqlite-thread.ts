import { parentPort, workerData } from 'node:worker_threads';
import type { IngestClaimer, IngestOp } from '../store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { toWireError, toWireResults, type WireCall, type WireClaimer, type WireReply } from './wire.js';

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

async function run(call: WireCall): Promise<unknown> {
  if (call.method === 'ingest') {
    const [ops, now, claimer] = call.args as [IngestOp[], number, WireClaimer | undefined];
    return toWireResults(await store.ingest(ops, now, claimerFrom(claimer)));
  }
  const fn = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.method];
  if (typeof fn !== 'function') throw new Error(`unknown store method ${call.method}`);
  return fn.apply(store, call.args as unknown[]);
}

port.on('message', (call: WireCall) => {
  run(call).then(
    (value) => port.postMessage({ id: call.id, ok: true, value } satisfies WireReply),
    (err: unknown) => port.postMessage({ id: call.id, ok: false, error: toWireError(err) } satisfies WireReply),
  );
});
