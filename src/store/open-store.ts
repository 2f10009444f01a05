import { ConfigError, type Config } from '../config.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/** Opens the store the configuration names: PostgreSQL for a `postgres://` DATABASE_URL, else SQLite. */
export function openStore(config: Config): Store {
  const url = config.databaseUrl;
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('DATABASE_URL names PostgreSQL, which this build does not support yet; unset it to use SQLite');
  }
  if (url !== undefined && !url.startsWith('sqlite:')) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or sqlite: (or be unset for the default SQLite file)');
  }
  const file = url === undefined ? config.dbPath : url.replace(/^sqlite:(\/\/)?/, '');
  return new SqliteStore({ file });
}
