/**
 * graphile-worker (0.17, the last line that runs on Node 20: 0.18 needs Node 22) as a
 * contender, on PostgreSQL in a fresh schema per run (its `schema` option; the runner installs
 * it, the run drops it). The load side adds the jobs with `addJobs` from `makeWorkerUtils`, which
 * is one `graphile_worker.add_jobs(…)` call per chunk of 1,000, 4 calls in flight; the runner
 * process (bench/peers/graphile-runner.ts) runs the shared task body. Jobs get 8 attempts
 * (Confirma's schedule has 8) with graphile-worker's own exponential backoff.
 */
import { fileURLToPath } from 'node:url';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import { ATTEMPTS, deliveryJob, inChunks, measure, result, type Contender, type RunContext } from './contender.js';
import { dropSchema, pgUnavailable } from './pg.js';
import { Child, withApplicationName } from './processes.js';
import { newSecret } from './workload.js';

const RUNNER = fileURLToPath(new URL('./graphile-runner.js', import.meta.url));
const APP = 'peers-graphile';
const LOAD_APP = 'peers-graphile-load';

export interface GraphileSettings {
  /** Jobs run at once by the one runner. */
  readonly concurrency: number;
  /** Jobs fetched (and locked) per query into the local queue. */
  readonly localQueueSize: number;
}

export function graphile(settings: GraphileSettings): Contender {
  return {
    name: 'graphile',
    description: `graphile-worker 0.17, one runner at concurrency ${settings.concurrency}, localQueue ${settings.localQueueSize}, batched completion`,
    unavailable: async ({ pgUrl }) => pgUnavailable(pgUrl),
    async run(ctx: RunContext) {
      const schema = `peers_gw_${Date.now().toString(36)}`;
      let runner: Child | undefined;
      let utils: WorkerUtils | undefined;
      try {
        const secrets = Array.from({ length: ctx.workload.merchants }, newSecret);
        runner = Child.fork(RUNNER, 'graphile-worker runner');
        const ready = runner.next('ready');
        runner.send({
          type: 'start',
          connectionString: withApplicationName(ctx.pgUrl, APP),
          schema,
          concurrency: settings.concurrency,
          localQueueSize: settings.localQueueSize,
          merchants: secrets.map((secret, i) => ({ url: ctx.receiver.url(i), secret })),
        });
        await ready;
        utils = await makeWorkerUtils({ connectionString: withApplicationName(ctx.pgUrl, LOAD_APP), schema });
        await ctx.receiver.expect(this.name, secrets, ctx.workload);
        const u = utils;
        const m = await measure(ctx, {
          pids: { runner: runner.pid },
          pg: { url: ctx.pgUrl, applicationNames: [APP, LOAD_APP] },
          load: () =>
            inChunks(ctx.workload.transactions, async (chunk) => {
              const at = Date.now();
              await u.addJobs(chunk.map((t) => ({ identifier: 'deliver', payload: deliveryJob(t, at), maxAttempts: ATTEMPTS })));
            }),
        });
        await runner.stop({ type: 'stop' });
        return result(
          m,
          await ctx.receiver.counts(),
          `the runner process and the PostgreSQL backends of the runner and of the load's add_jobs calls (application_name ${APP}, ${LOAD_APP})`,
        );
      } finally {
        await Promise.resolve(utils?.release()).catch(() => undefined);
        await runner?.stop({ type: 'stop' });
        await dropSchema(ctx.pgUrl, schema);
      }
    },
  };
}
