/**
 * The graphile-worker contender's runner process: `run()` with one task, `deliver`, whose body is
 * the shared task body (bench/peers/task.ts). Settings follow graphile-worker's "Performance"
 * page for a high-throughput queue: `localQueue` (jobs fetched and locked in batches instead of
 * one query per job), `completeJobBatchDelay`/`failJobBatchDelay: 0` (completions sent together
 * in the next tick's round trip), a pool of `max(10, concurrency + 2)` as its option docs advise,
 * the default `pollInterval` (2 s: it only finds retries and future jobs, new jobs arrive by its
 * LISTEN/NOTIFY on `jobs:insert`), and a logger that keeps warnings and errors (the default logs a
 * line per completed job). Completion batching can leave jobs locked, to run again, if the process
 * dies: a duplicate, never a loss, so the delivery promise holds.
 *
 * Driven over the IPC channel of `fork()`: → `{type:'start', connectionString, schema,
 * concurrency, localQueueSize, merchants}`, ← `{type:'ready'}` once its schema is installed and
 * it listens; → `{type:'stop'}` stops it gracefully and exits.
 */
import { Logger, LogLevel, run, type Runner } from 'graphile-worker';
import { makeDeliver, type DeliveryJob, type MerchantTarget } from './task.js';

interface Start {
  readonly type: 'start';
  readonly connectionString: string;
  readonly schema: string;
  readonly concurrency: number;
  readonly localQueueSize: number;
  readonly merchants: readonly MerchantTarget[];
}

const quiet = new Logger(() => (level, message) => {
  if (level === LogLevel.ERROR || level === LogLevel.WARNING) process.stderr.write(`graphile-worker ${level}: ${message}\n`);
});

let runner: Runner | undefined;

process.on('message', (msg: Start | { type: 'stop' }) => {
  if (msg.type === 'start') {
    const deliver = makeDeliver(msg.merchants);
    void run({
      connectionString: msg.connectionString,
      schema: msg.schema,
      concurrency: msg.concurrency,
      maxPoolSize: Math.max(10, msg.concurrency + 2),
      noHandleSignals: true,
      logger: quiet,
      taskList: { deliver: async (payload) => deliver(payload as DeliveryJob) },
      preset: {
        worker: {
          localQueue: { size: msg.localQueueSize },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
    }).then(
      (r) => {
        runner = r;
        process.send?.({ type: 'ready' });
      },
      (err: unknown) => {
        process.stderr.write(`graphile-worker failed to start: ${String(err)}\n`);
        process.exit(1);
      },
    );
  } else if (msg.type === 'stop') {
    void (runner?.stop() ?? Promise.resolve()).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
