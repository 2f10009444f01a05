/**
 * BullMQ as a contender, on a redis-server the bench starts for the run (killed afterwards):
 * `none` without persistence (`--appendonly no`, no snapshots), `aof` durable as Confirma is
 * (`--appendonly yes --appendfsync always`: every write fsync'd before Redis answers). The load
 * side adds the jobs with `queue.addBulk`, 1,000 per call and 4 calls in flight, from a `Queue`
 * whose connection fails fast (`enableOfflineQueue: false`, BullMQ's advice for producers); the
 * worker process (bench/peers/bullmq-worker.ts) runs the shared task body at concurrency 256.
 * Job options: 8 attempts with exponential backoff (Confirma's schedule has 8 attempts), completed
 * jobs removed at once (`removeOnComplete: true`, the cheapest of the guide's auto-removal
 * options: Redis keeps no record of what was delivered), failed ones kept up to 5,000.
 */
import { constants, mkdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { ATTEMPTS, deliveryJob, inChunks, measure, result, type Contender, type RunContext } from './contender.js';
import { Child, REDIS_SERVER, startRedis } from './processes.js';
import type { DeliveryJob } from './task.js';
import { newSecret } from './workload.js';

const WORKER = fileURLToPath(new URL('./bullmq-worker.js', import.meta.url));
const QUEUE = 'confirmations';
export const BULLMQ_CONCURRENCY = 256;

export async function redisUnavailable(): Promise<string | undefined> {
  try {
    await access(REDIS_SERVER, constants.X_OK);
    return undefined;
  } catch {
    return `${REDIS_SERVER} is not installed (set REDIS_SERVER to its path)`;
  }
}

export function bullmq(persistence: 'none' | 'aof'): Contender {
  return {
    name: persistence === 'none' ? 'bullmq-mem' : 'bullmq-aof',
    description:
      persistence === 'none'
        ? `BullMQ 6 + ioredis, Redis without persistence, a worker at concurrency ${BULLMQ_CONCURRENCY}`
        : `BullMQ 6 + ioredis, Redis --appendonly yes --appendfsync always, a worker at concurrency ${BULLMQ_CONCURRENCY}`,
    unavailable: redisUnavailable,
    async run(ctx: RunContext) {
      const dir = path.join(ctx.dir, 'redis');
      mkdirSync(dir, { recursive: true });
      const redis = await startRedis(
        dir,
        persistence === 'none' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always'],
      );
      let worker: Child | undefined;
      let queue: Queue<DeliveryJob> | undefined;
      try {
        const secrets = Array.from({ length: ctx.workload.merchants }, newSecret);
        worker = Child.fork(WORKER, 'bullmq worker');
        const ready = worker.next('ready');
        worker.send({
          type: 'start',
          redisPort: redis.port,
          queue: QUEUE,
          concurrency: BULLMQ_CONCURRENCY,
          merchants: secrets.map((secret, i) => ({ url: ctx.receiver.url(i), secret })),
        });
        await ready;
        queue = new Queue<DeliveryJob>(QUEUE, {
          connection: { host: '127.0.0.1', port: redis.port, enableOfflineQueue: false },
          defaultJobOptions: {
            attempts: ATTEMPTS,
            backoff: { type: 'exponential', delay: 5_000 },
            removeOnComplete: true,
            removeOnFail: 5_000,
          },
        });
        queue.on('error', (err) => ctx.log(`  bullmq queue: ${err.message}`));
        await queue.waitUntilReady();
        await ctx.receiver.expect(this.name, secrets, ctx.workload);
        const q = queue;
        const m = await measure(ctx, {
          pids: { worker: worker.pid, 'redis-server': redis.pid },
          load: () =>
            inChunks(ctx.workload.transactions, async (chunk) => {
              const at = Date.now();
              await q.addBulk(chunk.map((t) => ({ name: 'deliver', data: deliveryJob(t, at) })));
            }),
        });
        await worker.stop({ type: 'stop' });
        return result(m, await ctx.receiver.counts(), 'the worker process and redis-server');
      } finally {
        await queue?.close().catch(() => undefined);
        await worker?.stop({ type: 'stop' });
        await redis.stop();
      }
    },
  };
}
