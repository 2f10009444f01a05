import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { destination } from 'pino';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observe/logger.js';
import type { Store } from '../../src/store/store.js';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/**
 * Every engine a test starts logs at debug level into this folder; the last test file
 * (zz-log-scan) reads it all and fails if a planted customer name, phone, secret or key shows up.
 */
export const TEST_LOG_DIR = fileURLToPath(new URL('../../test-logs/', import.meta.url));
let engines = 0;

/** A log file in TEST_LOG_DIR for one engine or child process of this test process. */
export function testLogFile(what: string): string {
  mkdirSync(TEST_LOG_DIR, { recursive: true });
  return path.join(TEST_LOG_DIR, `${what}-${process.pid}-${++engines}.log`);
}

/** A temp folder removed by the returned cleanup. */
export function tempDir(prefix = 'confirma-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Engine {
  readonly app: App;
  readonly url: string;
  readonly dbPath: string;
  /** The engine's log (pino JSON lines, debug level unless TEST_LOG_LEVEL says otherwise). */
  readonly logFile: string;
  /** Calls the API with the admin key (or `key`), returning status and parsed JSON. */
  call(
    method: string,
    route: string,
    body?: unknown,
    key?: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * Starts a whole node in this process on a fresh SQLite file and a free loopback port; `makeStore`
 * opens that file some other way than the configured default (a test's instrumented store).
 */
export async function startEngine(env: Record<string, string> = {}, makeStore?: (dbPath: string) => Store): Promise<Engine> {
  const { dir, cleanup } = tempDir();
  const dbPath = path.join(dir, 'confirma.db');
  const config = loadConfig({
    CONFIRMA_ADMIN_KEY: ADMIN_KEY,
    CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
    CONFIRMA_DB_PATH: dbPath,
    CONFIRMA_PORT: '0',
    CONFIRMA_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug',
    CONFIRMA_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const logFile = testLogFile('engine');
  const log = createLogger(config.logLevel, destination({ dest: logFile, sync: true }));
  const app = await (makeStore === undefined ? createApp(config, log) : createApp(config, log, makeStore(dbPath)));
  const url = await app.start();
  return {
    app,
    url,
    dbPath,
    logFile,
    async call(method, route, body, key = ADMIN_KEY, headers = {}) {
      const res = await fetch(url + route, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed };
    },
    async stop() {
      await app.stop();
      cleanup();
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

let seq = 0;
/** A valid transaction body for a merchant. */
export function txBody(merchantId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    merchantId,
    reference: `order-${seq}`,
    amount: '125000.50',
    currency: 'COP',
    status: 'approved',
    customer: { name: 'Ana Gómez', phone: '+57 300 555 0101' },
    ...over,
  };
}
