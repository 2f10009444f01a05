import { ConfigError, type Config } from '../config.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { secureDatabaseFiles } from './sqlite/file-modes.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './sqlite/threaded-store.js';
import type { Store } from './store.js';

/** What the opener of a store may want to hear about. */
export interface StoreEvents {
  /** Connection errors the PostgreSQL store recovers from by itself. */
  readonly onError?: (err: unknown) => void;
  /** SQLite files that were readable by others and are now the owner's only (see `file-modes.ts`). */
  readonly onTightened?: (paths: readonly string[]) => void;
}

/** Opens the store the configuration names: PostgreSQL for a `postgres://` DATABASE_URL, else SQLite. */
export function openStore(config: Config, events: StoreEvents = {}): Store {
  const url = config.databaseUrl;
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
    return new PostgresStore({
      url,
      schema: config.pgSchema,
      poolSize: config.pgPoolSize,
      ...(events.onError === undefined ? {} : { onError: events.onError }),
    });
  }
  if (url !== undefined && !url.startsWith('sqlite:')) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or sqlite: (or be unset for the default SQLite file)');
  }
  const file = url === undefined ? config.dbPath : url.replace(/^sqlite:(\/\/)?/, '');
  // Here rather than only in the store, so the caller hears of it (the store may run on its own thread).
  const tightened = secureDatabaseFiles(file);
  if (tightened.length > 0) events.onTightened?.(tightened);
  // By default the connection lives on its own thread, so commits never stall the event loop.
  return config.dbThread ? new ThreadedSqliteStore({ file }) : new SqliteStore({ file });
}
