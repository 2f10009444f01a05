import type { FastifyInstance } from 'fastify';
import { buildServer } from './api/server.js';
import type { Config } from './config.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { HttpClient } from './dispatch/http-client.js';
import { parseAllowList } from './dispatch/ssrf.js';
import { GroupCommit } from './ingest/group-commit.js';
import type { Logger } from './observe/logger.js';
import { Metrics } from './observe/metrics.js';
import { openStore } from './store/open-store.js';
import type { IngestOp, IngestResult, Store } from './store/store.js';

/** A running Confirma node: the API, the group-commit ingest, the dispatcher and the store. */
export interface App {
  readonly config: Config;
  readonly store: Store;
  readonly server: FastifyInstance;
  readonly dispatcher: Dispatcher;
  readonly ingest: GroupCommit<IngestOp, IngestResult>;
  readonly metrics: Metrics;
  /** Listens on config.host:config.port and starts dispatching; resolves with the API's base URL. */
  start(): Promise<string>;
  /** Graceful stop: intake first, then in-flight attempts (bounded), leases, the database. */
  stop(): Promise<void>;
}

/** Wires a node together from its configuration. Applies migrations before anything else. */
export async function createApp(config: Config, log: Logger, store: Store = openStore(config)): Promise<App> {
  const applied = await store.migrate();
  if (applied.length > 0) log.info({ applied }, 'applied migrations');
  const metrics = new Metrics();
  const client = new HttpClient({
    connectTimeoutMs: config.connectTimeoutMs,
    // Many merchants may share one origin (a hosted shop platform): bound the sockets we open to
    // it; requests beyond wait in the pool, within their deadline.
    connectionsPerOrigin: config.connectionsPerOrigin,
    retryAfterCapMs: config.retryAfterCapMs,
    allowPrivate: parseAllowList(config.allowPrivateDestinations),
  });
  const dispatcher = new Dispatcher({ store, client, config, log, metrics });
  const ingest = new GroupCommit<IngestOp, IngestResult>(
    async (ops) => {
      const results = await store.ingest(ops, Date.now());
      metrics.commitBatch.observe(ops.length);
      metrics.ingested.inc(undefined, ops.length);
      // The commit is durable: deliver at once, asking only the lanes of the merchants written for.
      const merchants = new Set<string>();
      for (const r of results) if (r.ok) merchants.add(r.transaction.merchantId);
      dispatcher.wake(merchants);
      return results;
    },
    { maxBatch: config.commitMaxBatch, maxWaitMs: config.commitWaitMs },
  );
  let accepting = true;
  let counts: Record<string, number> = {};
  let countsAt = 0;
  const server = buildServer({
    config,
    store,
    ingest,
    log,
    ready: () => accepting,
    onMerchantChanged: (merchantId) => {
      dispatcher.invalidate(merchantId);
      dispatcher.wake();
    },
    onQueued: () => dispatcher.wake(),
    metricsText: async () => {
      // Counting by state scans the table: at most once per 5 s, however often it is scraped.
      if (Date.now() - countsAt > 5_000) {
        counts = await store.countByState();
        countsAt = Date.now();
      }
      const states = Object.entries(counts)
        .map(([state, n]) => `confirma_confirmations{state="${state}"} ${n}`)
        .join('\n');
      return `${metrics.render()}# HELP confirma_confirmations Confirmations by state.\n# TYPE confirma_confirmations gauge\n${states}\n`;
    },
  });
  metrics.gauge('confirma_in_flight', 'Delivery requests in flight on this node.', () => dispatcher.inFlightCount);
  metrics.gauge('confirma_ingest_backlog', 'Writes waiting for a group commit.', () => ingest.backlog);
  let stopped: Promise<void> | undefined;
  return {
    config,
    store,
    server,
    dispatcher,
    ingest,
    metrics,
    async start() {
      const address = await server.listen({ port: config.port, host: config.host });
      dispatcher.start();
      return address;
    },
    stop() {
      stopped ??= (async () => {
        accepting = false;
        await server.close(); // stops intake; requests already inside finish first
        await ingest.drain();
        await dispatcher.stop(config.shutdownGraceMs);
        await client.close();
        await store.close();
      })();
      return stopped;
    },
  };
}
