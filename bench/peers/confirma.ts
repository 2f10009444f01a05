/**
 * Confirma as a contender: a `confirma start` node as its own process on a fresh store (a new
 * SQLite file, `synchronous=FULL` as by default; or a fresh PostgreSQL schema), its merchants
 * created through the API with URLs at the receiver (their secrets, shown once, handed to the
 * receiver), the transactions sent through `POST /v1/transactions/batch`, 1,000 per request and
 * 4 requests in flight. Every default is kept but what a local benchmark needs: loopback
 * destinations allowed, the load's key allowed 20,000 requests/s, and the breaker kept closed as
 * in bench/run.ts's maximum-rate runs (the node queues tens of thousands at once; the peers have
 * no breaker at all).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Pool } from 'undici';
import { startEngineProcess } from '../../src/sim/engine-process.js';
import { inChunks, measure, result, type Contender, type RunContext } from './contender.js';
import { dropSchema, pgUnavailable } from './pg.js';
import { reapOnExit, withApplicationName } from './processes.js';
import type { PeerTransaction } from './workload.js';

const APP = 'peers-confirma';

export function confirma(store: 'sqlite' | 'pg'): Contender {
  return {
    name: store === 'sqlite' ? 'confirma-sqlite' : 'confirma-pg',
    description:
      store === 'sqlite'
        ? 'Confirma, one `confirma start` node, SQLite (WAL, synchronous=FULL), batch API'
        : 'Confirma, one `confirma start` node, PostgreSQL (synchronous_commit=on), batch API',
    unavailable: async ({ pgUrl }) => (store === 'pg' ? pgUnavailable(pgUrl) : undefined),
    async run(ctx: RunContext) {
      const adminKey = randomBytes(24).toString('hex');
      const schema = `peers_cf_${Date.now().toString(36)}`;
      const engine = await startEngineProcess({
        dbPath: path.join(ctx.dir, 'confirma.db'),
        logFile: path.join(ctx.dir, 'engine.log'),
        env: {
          CONFIRMA_ADMIN_KEY: adminKey,
          CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
          CONFIRMA_LOG_LEVEL: 'warn',
          CONFIRMA_RATE_LIMIT: '20000',
          CONFIRMA_BREAKER_MIN_ATTEMPTS: '1000000',
          CONFIRMA_SHUTDOWN_GRACE_MS: '2000',
          ...(store === 'pg' ? { DATABASE_URL: withApplicationName(ctx.pgUrl, APP), CONFIRMA_PG_SCHEMA: schema } : {}),
        },
      });
      reapOnExit(engine.child);
      const api = new Pool(engine.url, { connections: 8 });
      const auth = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
      try {
        const ids: string[] = [];
        const secrets: string[] = [];
        for (let i = 0; i < ctx.workload.merchants; i++) {
          const res = await api.request({
            path: '/v1/merchants',
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ name: `Tienda ${i + 1}`, url: ctx.receiver.url(i) }),
          });
          const body = (await res.body.json()) as { id?: string; secret?: string };
          if (res.statusCode !== 201 || body.id === undefined || body.secret === undefined)
            throw new Error(`creating merchant ${i}: ${res.statusCode}`);
          ids.push(body.id);
          secrets.push(body.secret);
        }
        await ctx.receiver.expect(this.name, secrets, ctx.workload);
        const post = async (chunk: readonly PeerTransaction[]): Promise<void> => {
          const transactions = chunk.map(({ merchant, ...t }) => ({ ...t, merchantId: ids[merchant] }));
          const res = await api.request({
            path: '/v1/transactions/batch',
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ transactions }),
          });
          const body = (await res.body.json()) as { results?: Array<{ ok: boolean; error?: unknown }> };
          const refused = body.results?.filter((r) => !r.ok) ?? [];
          if (res.statusCode !== 200 || refused.length > 0) {
            throw new Error(
              `batch answered ${res.statusCode}, ${refused.length} refused: ${JSON.stringify(refused[0]?.error ?? body).slice(0, 300)}`,
            );
          }
        };
        const m = await measure(ctx, {
          pids: { node: engine.pid },
          pg: store === 'pg' ? { url: ctx.pgUrl, applicationNames: [APP] } : undefined,
          load: () => inChunks(ctx.workload.transactions, post),
        });
        await engine.stop();
        return result(
          m,
          await ctx.receiver.counts(),
          store === 'sqlite'
            ? 'the node process (SQLite runs on its thread)'
            : `the node process and its PostgreSQL backends (application_name ${APP})`,
        );
      } finally {
        await api.close();
        await engine.stop();
        if (store === 'pg') await dropSchema(ctx.pgUrl, schema);
      }
    },
  };
}
