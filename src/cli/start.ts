import type { Command } from 'commander';
import { createApp, type App } from '../app.js';
import { ConfigError, loadConfig, ROLES, type Config, type Role } from '../config.js';
import { createLogger } from '../observe/logger.js';

/** Flags shared by commands that open the store. */
export interface StoreFlags {
  db?: string;
}

/** Builds the config from the environment and the flags, or exits 2 with a clear message. */
export function configFromFlags(overrides: Partial<Config>): Config {
  try {
    return loadConfig(process.env, overrides);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`confirma: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function portFlag(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0..65535, got ${v}`);
  return n;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description(
      'Run a Confirma node: the HTTP API and the dispatcher on one store.\n' +
        'SQLite file under ./data/ by default; DATABASE_URL=postgres://… selects PostgreSQL.\n' +
        'Roles (PostgreSQL only, besides all): api = API and ingest, no dispatcher; worker = dispatcher,\n' +
        'retention and /healthz, /readyz, /metrics only; all = both (the default).\n' +
        'SIGTERM/SIGINT: stop intake, let in-flight attempts finish (CONFIRMA_SHUTDOWN_GRACE_MS), release leases, close the database.\n' +
        'Exits 2 on a bad setting, master keys that open none of the stored sealed credentials included.',
    )
    .option('-p, --port <port>', 'HTTP port (env CONFIRMA_PORT, default 8080)', portFlag)
    .option('--host <host>', 'address to listen on (env CONFIRMA_HOST, default 127.0.0.1)')
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .option('--role <role>', `what this node does: ${ROLES.join(' | ')} (env CONFIRMA_ROLE, default all)`)
    .action(async (opts: { port?: number; host?: string; db?: string; role?: string }) => {
      const config = configFromFlags({
        ...(opts.role === undefined ? {} : { role: opts.role as Role }),
        ...(opts.port === undefined ? {} : { port: opts.port }),
        ...(opts.host === undefined ? {} : { host: opts.host }),
        ...(opts.db === undefined ? {} : { dbPath: opts.db }),
      });
      const log = createLogger(config.logLevel);
      if (config.adminKey === undefined) {
        log.warn('CONFIRMA_ADMIN_KEY is not set: admin routes (creating merchants) answer 401 until it is');
      }
      if (config.masterKey === undefined) {
        log.warn('CONFIRMA_MASTER_KEY is not set: signing secrets are stored unencrypted and epayco merchants are refused');
      }
      let app: App;
      try {
        app = await createApp(config, log);
      } catch (err) {
        // A setting the store contradicts (master keys that open none of its sealed credentials).
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`confirma: ${err.message}\n`);
        process.exit(2);
      }
      const url = await app.start();
      log.info({ url, store: app.store.dialect, role: config.role }, 'confirma listening');
      let signals = 0;
      const shutdown = (signal: string): void => {
        signals++;
        if (signals > 1) {
          log.warn({ signal }, 'second signal: exiting at once');
          process.exit(1);
        }
        log.info({ signal }, 'shutting down');
        app.stop().then(
          () => {
            log.info('stopped cleanly');
            process.exit(0);
          },
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}
