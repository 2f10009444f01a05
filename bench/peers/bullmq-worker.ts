/**
 * The BullMQ contender's worker process: one `Worker` at concurrency 256 whose processor is the
 * shared task body (bench/peers/task.ts). Settings follow BullMQ's "Going to production" and
 * "Connections" guides: the worker's ioredis connection has `maxRetriesPerRequest: null` (BullMQ
 * sets it for workers; a worker must wait out a Redis outage, not throw), an `error` listener,
 * and a graceful `close()` on stop so no job is left stalled.
 *
 * Driven over the IPC channel of `fork()`: → `{type:'start', redisPort, queue, concurrency,
 * merchants}`, ← `{type:'ready'}`; → `{type:'stop'}` closes the worker and exits.
 */
import { Worker } from 'bullmq';
import { makeDeliver, type DeliveryJob, type MerchantTarget } from './task.js';

interface Start {
  readonly type: 'start';
  readonly redisPort: number;
  readonly queue: string;
  readonly concurrency: number;
  readonly merchants: readonly MerchantTarget[];
}

let worker: Worker<DeliveryJob> | undefined;

process.on('message', (msg: Start | { type: 'stop' }) => {
  if (msg.type === 'start') {
    const deliver = makeDeliver(msg.merchants);
    worker = new Worker<DeliveryJob>(msg.queue, async (job) => deliver(job.data), {
      connection: { host: '127.0.0.1', port: msg.redisPort, maxRetriesPerRequest: null },
      concurrency: msg.concurrency,
    });
    worker.on('error', (err) => process.stderr.write(`bullmq worker: ${err.message}\n`));
    void worker.waitUntilReady().then(() => process.send?.({ type: 'ready' }));
  } else if (msg.type === 'stop') {
    void (worker?.close() ?? Promise.resolve()).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
