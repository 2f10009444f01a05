import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** One numbered migration file: `NNNN_name.sql`. */
export interface Migration {
  readonly name: string;
  readonly sql: string;
}

/**
 * Reads a dialect's migrations in order. The SQL files live in `src/store/migrations/<dialect>/`;
 * compiled code runs from `dist/src/store/`, so both places are tried.
 */
export function loadMigrations(dialect: 'sqlite' | 'postgres'): Migration[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'migrations', dialect),
    path.join(here, '..', '..', '..', 'src', 'store', 'migrations', dialect),
  ];
  const dir = candidates.find((d) => existsSync(d));
  if (dir === undefined) throw new Error(`migrations for ${dialect} not found (looked in ${candidates.join(', ')})`);
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ name: f.replace(/\.sql$/, ''), sql: readFileSync(path.join(dir, f), 'utf8') }));
}
