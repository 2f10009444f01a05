import { ConfigError, type Config } from '../config.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './sqlite/threaded-store.js';
import type { Store } from './store.js';

/**
 * Opens the store the configuration names: PostgreSQL for a `postgres://` DATABASE_URL, else SQLite.
 * `onError` hears connection errors the PostgreSQL store recovers from by itself.
 */
export function openStore(config: Config, onError?: (err: unknown) => void): Store {
  const url = config.databaseUrl;
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
    return new PostgresStore({
      url,
      schema: config.pgSchema,
      poolSize: config.pgPoolSize,
      ...(onError === undefined ? {} : { onError }),
    });
  }
  if (url !== undefined && !url.startsWith('sqlite:')) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or sqlite: (or be unset for the default SQLite file)');
  }
  const file = url === undefined ? config.dbPath : url.replace(/^sqlite:(\/\/)?/, '');
  // By default the connection lives on its own thread, so commits never stall the event loop.
  return config.dbThread ? new ThreadedSqliteStore({ file }) : new SqliteStore({ file });
}
