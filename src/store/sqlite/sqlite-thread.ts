import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { IngestClaimer, IngestOp } from '../store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { toWireError, toWireResults, type WireCall, type WireClaimer, type WireReply } from './wire.js';

/**
 * The SQLite thread (see `ThreadedSqliteStore`): it owns the database connection and runs the
 * store's methods one call at a time, so each transaction still runs alone, as on the event loop.
 *
 * Order: calls run in the order they arrive, except that an ingest waiting runs before the other
 * calls waiting with it (outcomes, claims, reads). A commit is what a client's request and a new
 * confirmation's first attempt wait for, while outcomes and claims only free rows and slots; an
 * ingest reordered ahead of them changes nothing they guarantee (a status change behind an open
 * confirmation waits for it either way). Ingests keep their order among themselves, as the rest do.
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

/** Calls received and not yet run. */
const waiting: WireCall[] = [];
let draining = false;

/** Takes every call already sent, so an ingest among them can go first. */
function receiveAll(): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) waiting.push(m.message as WireCall);
}

function nextCall(): WireCall | undefined {
  const i = waiting.findIndex((c) => c.method === 'ingest');
  return i > 0 ? waiting.splice(i, 1)[0] : waiting.shift();
}

async function drain(): Promise<void> {
  draining = true;
  try {
    for (;;) {
      receiveAll();
      const call = nextCall();
      if (call === undefined) return;
      try {
        port.postMessage({ id: call.id, ok: true, value: await run(call) } satisfies WireReply);
      } catch (err) {
        port.postMessage({ id: call.id, ok: false, error: toWireError(err) } satisfies WireReply);
      }
    }
  } finally {
    draining = false;
  }
}

port.on('message', (call: WireCall) => {
  waiting.push(call);
  if (!draining) void drain();
});
