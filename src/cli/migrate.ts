import type { Command } from 'commander';
import { createLogger } from '../observe/logger.js';
import { openStore } from '../store/open-store.js';
import { configFromFlags } from './start.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'Apply the numbered schema migrations not yet applied to the store, then exit.\n' +
        'DATABASE_URL=postgres://… (and CONFIRMA_PG_SCHEMA) selects PostgreSQL; safe while other nodes start.',
    )
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .action(async (opts: { db?: string }) => {
      const config = configFromFlags(opts.db === undefined ? {} : { dbPath: opts.db });
      const log = createLogger(config.logLevel);
      const store = openStore(config);
      try {
        const applied = await store.migrate();
        log.info({ applied, store: store.dialect }, applied.length > 0 ? 'migrations applied' : 'schema up to date');
      } finally {
        await store.close();
      }
    });
}
