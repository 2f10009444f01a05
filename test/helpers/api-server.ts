import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { loadConfig, type Config } from '../../src/config.js';
import { GroupCommit } from '../../src/ingest/group-commit.js';
import { destination } from 'pino';
import { createLogger } from '../../src/observe/logger.js';
import { testLogFile } from './engine.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { IngestOp, IngestResult } from '../../src/store/store.js';

export const ADMIN = 'x'.repeat(32);

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: any;
}

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly store: SqliteStore;
  readonly config: Config;
  /** The batcher the API submits to; `batches` counts commits. */
  readonly ingest: GroupCommit<IngestOp, IngestResult>;
  readonly url: string;
  /** Routes as registered, collected with an onRoute hook (HEAD twins included). */
  readonly routes: RouteOptions[];
  /** Calls of onMerchantChanged and onQueued, in order. */
  readonly events: string[];
  ready: boolean;
  /** JSON call; `body` is serialized unless it is a string (sent raw). */
  call(
    method: string,
    route: string,
    opts?: { body?: unknown; key?: string | null; headers?: Record<string, string> },
  ): Promise<Reply>;
  /** Creates a merchant with the admin key; returns its id, secret and API key. */
  merchant(name?: string): Promise<{ id: string; secret: string; apiKey: string }>;
  close(): Promise<void>;
}

/**
 * The API on a real SQLite file and a loopback port, the way the process builds it, but without
 * the dispatcher: what it stores is checked through the store itself.
 */
export async function startApi(env: Record<string, string> = {}): Promise<ApiServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'confirma-api-'));
  const store = new SqliteStore({ file: path.join(dir, 'confirma.db') });
  await store.migrate();
  const config = loadConfig({ CONFIRMA_ADMIN_KEY: ADMIN, CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback', ...env });
  const ingest = new GroupCommit<IngestOp, IngestResult>((ops) => store.ingest(ops, Date.now()), {
    maxBatch: 1000,
    maxWaitMs: 0,
  });
  const events: string[] = [];
  const routes: RouteOptions[] = [];
  const server = {
    ready: true,
  } as ApiServer;
  const app = buildServer({
    config,
    store,
    ingest,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'debug', destination({ dest: testLogFile('api'), sync: true })),
    ready: () => server.ready,
    onMerchantChanged: (id) => events.push(`changed:${id}`),
    onQueued: () => events.push('queued'),
  });
  // Route plugins load at listen(), so this hook sees every route the API registers.
  // A copy: Fastify goes on changing the options it passes (a prefixed route's url gains its slash twin).
  app.addHook('onRoute', (r) => {
    routes.push({ ...r });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  async function call(
    method: string,
    route: string,
    opts: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const key = opts.key === undefined ? ADMIN : opts.key;
    const headers: Record<string, string> = {};
    if (key !== null) headers.authorization = `Bearer ${key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, opts.headers ?? {});
    const res = await fetch(url + route, {
      method,
      headers,
      body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: res.headers, text, body };
  }

  return Object.assign(server, {
    app,
    store,
    config,
    ingest,
    url,
    routes,
    events,
    call,
    async merchant(name = 'Shop') {
      const r = await call('POST', '/v1/merchants', { body: { name, url: 'http://127.0.0.1:9/confirm' } });
      if (r.status !== 201) throw new Error(`create merchant answered ${r.status}: ${r.text}`);
      return { id: r.body.id as string, secret: r.body.secret as string, apiKey: r.body.apiKey as string };
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A valid transaction body for `merchantId`, with overrides. */
export function txBody(merchantId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { merchantId, reference: 'order-1', amount: '125000.50', currency: 'COP', status: 'pending', ...over };
}
