import Fastify, { type FastifyInstance } from 'fastify';
import { sendError, transportOptions } from './api/http-transport.js';
import { buildServer } from './api/server.js';
import { ConfirmaError } from './errors.js';
import type { Config } from './config.js';
import type { Claim } from './domain/confirmation.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { HttpClient } from './dispatch/http-client.js';
import { parseAllowList } from './dispatch/ssrf.js';
import { GroupCommit } from './ingest/group-commit.js';
import type { Logger } from './observe/logger.js';
import { LoopDelay } from './observe/loop-delay.js';
import { Metrics } from './observe/metrics.js';
import { registerStoreCounts, StoreCounts } from './observe/store-counts.js';
import { traced } from './observe/tracing.js';
import { checkCredentialKeys } from './signing/credential-check.js';
import { keyringOf } from './signing/keyring.js';
import { openStore } from './store/open-store.js';
import { retentionPass } from './store/retention.js';
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

/** How often the node removes history past its retention ages, and how many rows per database transaction. */
const RETENTION_EVERY_MS = 10 * 60_000;
const RETENTION_BATCH = 5_000;

/**
 * Wires a node together from its configuration. Applies migrations before anything else, then
 * checks that this node's master keys open the stored merchant credentials (a ConfigError if they
 * open none, see `signing/credential-check.ts`).
 *
 * Roles (config.role): `all` runs the API and the dispatcher; `api` serves the API and ingests
 * (its commits wake workers through the store's notifications) but never dispatches; `worker`
 * dispatches, listens for other nodes' commits and runs retention, and serves only /healthz,
 * /readyz and /metrics.
 */
export async function createApp(
  config: Config,
  log: Logger,
  store: Store = openStore(config, {
    onError: (err) => log.warn({ err }, 'database connection lost; reconnecting'),
    onTightened: (paths) =>
      log.warn({ paths }, 'the database files were readable by other users; they are now readable by their owner only (0600)'),
  }),
): Promise<App> {
  try {
    const applied = await store.migrate();
    if (applied.length > 0) log.info({ applied }, 'applied migrations');
    const unopened = checkCredentialKeys(await store.listStoredCredentials(), keyringOf(config));
    if (unopened !== undefined) {
      log.error(
        unopened,
        "some sealed merchant credentials are under master keys this node does not have: those merchants' confirmations cannot be " +
          'signed until the key they were sealed with is added to CONFIRMA_MASTER_KEY_PREVIOUS',
      );
    }
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  const metrics = new Metrics({
    onCollectError: (metric, err) => log.warn({ err, metric }, 'metrics: a gauge could not be read; serving the rest'),
  });
  const client = new HttpClient({
    connectTimeoutMs: config.connectTimeoutMs,
    // Many merchants may share one origin (a hosted shop platform): bound the sockets we open to
    // it; requests beyond wait in the pool, within their deadline.
    connectionsPerOrigin: config.connectionsPerOrigin,
    retryAfterCapMs: config.retryAfterCapMs,
    allowPrivate: parseAllowList(config.allowPrivateDestinations),
  });
  const dispatcher = new Dispatcher({ store, client, config, log, metrics });
  const dispatches = config.role !== 'api';
  const ingest = new GroupCommit<IngestOp, IngestResult>(
    async (ops) => {
      // A node that dispatches takes what the commit makes due for itself: no claim transaction.
      const claimer = dispatches ? dispatcher.ingestClaimer() : undefined;
      let results: IngestResult[];
      try {
        results = await traced('confirma.ingest.commit', { 'confirma.ops': ops.length }, () =>
          store.ingest(ops, Date.now(), claimer),
        );
      } catch (err) {
        claimer?.settle([]);
        throw err;
      }
      metrics.commitBatch.observe(ops.length);
      metrics.ingested.inc(undefined, ops.length);
      // The commit is durable: deliver at once what it claimed, and ask the lanes of the merchants
      // it wrote other rows for.
      const claims: Claim[] = [];
      const merchants = new Set<string>();
      for (const r of results) {
        if (!r.ok) continue;
        if (r.claim !== undefined) claims.push(r.claim);
        else merchants.add(r.transaction.merchantId);
      }
      claimer?.settle(claims);
      if (merchants.size > 0) dispatcher.wake(merchants);
      return results;
    },
    { maxBatch: config.commitMaxBatch, maxWaitMs: config.commitWaitMs },
  );
  let accepting = true;
  // Only the open states are counted (their cost follows the backlog, not the delivered history
  // retention keeps; deliveries are counted by confirma_attempts_total).
  registerStoreCounts(
    metrics,
    new StoreCounts(() => store.countOpen(), {
      onError: (err) => log.warn({ err }, 'metrics: the store did not count; serving the last counts'),
    }),
  );
  const server =
    config.role === 'worker'
      ? workerServer(config, store, () => accepting, metrics)
      : buildServer({
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
          // Only a node that dispatches has breakers; an `api` node shows none.
          ...(dispatches ? { breakerOf: (merchantId: string) => dispatcher.breakerOf(merchantId) } : {}),
          metrics,
        });
  metrics.gauge('confirma_in_flight', 'Delivery requests in flight on this node.', () => dispatcher.inFlightCount);
  metrics.gauge('confirma_ingest_backlog', 'Writes waiting for a group commit.', () => ingest.backlog);
  metrics.gauge(
    'confirma_breakers',
    'Merchants whose circuit breaker is not closed on this node, by state (open, half_open).',
    () => {
      const counts = dispatcher.breakerCounts();
      return [
        [{ state: 'open' }, counts.open],
        [{ state: 'half_open' }, counts.half_open],
      ];
    },
  );
  const loopDelay = new LoopDelay();
  metrics.gauge(
    'confirma_event_loop_delay_seconds',
    'How late the main event loop ran over the last 10 s (quantile 1 is the maximum).',
    () => {
      const d = loopDelay.read();
      return [
        [{ quantile: '0.5' }, d.p50],
        [{ quantile: '0.99' }, d.p99],
        [{ quantile: '1' }, d.max],
      ];
    },
  );
  let stopped: Promise<void> | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let purging = false;
  /** Removes history past the retention ages in short batches, yielding between them. */
  const purge = async (): Promise<void> => {
    if (purging || stopped !== undefined) return;
    purging = true;
    try {
      const removed = await retentionPass(
        store,
        { historyDays: config.retentionDays, transactionDays: config.transactionRetentionDays },
        Date.now(),
        { batch: RETENTION_BATCH, stopped: () => stopped !== undefined },
      );
      if (removed.confirmations + removed.idempotencyKeys + removed.transactions > 0) {
        log.info(
          { ...removed, retentionDays: config.retentionDays, transactionRetentionDays: config.transactionRetentionDays },
          'removed history past its retention age',
        );
      }
    } catch (err) {
      log.warn({ err }, 'retention pass failed; trying again later');
    } finally {
      purging = false;
    }
  };
  return {
    config,
    store,
    server,
    dispatcher,
    ingest,
    metrics,
    async start() {
      const address = await server.listen({ port: config.port, host: config.host });
      if (dispatches) {
        // Other nodes' commits: wake the lanes they name (or scan, after a reconnect).
        unsubscribe = await store.subscribeDue((merchantIds) => dispatcher.wake(merchantIds));
        dispatcher.start();
        retentionTimer = setInterval(() => void purge(), RETENTION_EVERY_MS);
        retentionTimer.unref();
        setTimeout(() => void purge(), 5_000).unref();
      }
      return address;
    },
    stop() {
      stopped ??= (async () => {
        accepting = false;
        if (retentionTimer !== undefined) clearInterval(retentionTimer);
        await unsubscribe?.();
        await server.close(); // stops intake; requests already inside finish first
        await ingest.drain();
        await dispatcher.stop(config.shutdownGraceMs);
        await client.close();
        await store.close();
        loopDelay.stop();
      })();
      return stopped;
    },
  };
}

/**
 * A worker's only HTTP surface: liveness, readiness (the database answers) and metrics, with the
 * API's timeouts and error shape.
 */
function workerServer(config: Config, store: Store, ready: () => boolean, metrics: Metrics): FastifyInstance {
  const server = Fastify({ logger: false, ...transportOptions(config) }) as unknown as FastifyInstance;
  server.setNotFoundHandler(async (_request, reply) =>
    sendError(reply, new ConfirmaError('not_found', 'a worker node serves only /healthz, /readyz and /metrics')),
  );
  server.setErrorHandler(async (_error, _request, reply) => sendError(reply, new ConfirmaError('internal')));
  server.get('/healthz', async () => ({ ok: true, role: 'worker' }));
  server.get('/readyz', async (_req, reply) => {
    if (!ready()) return reply.code(503).send({ ok: false, reason: 'shutting_down' });
    try {
      await store.ping();
    } catch {
      return reply.code(503).send({ ok: false, reason: 'store_unavailable' });
    }
    return { ok: true };
  });
  // Open to scrapers like /healthz: counts and timings only, no merchant data.
  server.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  return server;
}
