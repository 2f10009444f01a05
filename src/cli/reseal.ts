import type { Command } from 'commander';
import { keyringOf } from '../signing/keyring.js';
import { resealCredentials } from '../signing/reseal.js';
import { openStore } from '../store/open-store.js';
import { configFromFlags } from './start.js';

/**
 * `confirma reseal`: puts every stored merchant credential under CONFIRMA_MASTER_KEY (see
 * `resealCredentials`). Prints the counts as one JSON line; exit 1 when a value could not be
 * opened (named by kind and merchant, never shown), 2 without a master key.
 */
export function registerReseal(program: Command): void {
  program
    .command('reseal')
    .description(
      'Seal every stored merchant credential under CONFIRMA_MASTER_KEY, then exit.\n' +
        'Seals signing secrets stored before a master key was set, and moves values\n' +
        'sealed under a key in CONFIRMA_MASTER_KEY_PREVIOUS to the current key (that\n' +
        'previous key can then be removed). Safe while nodes run, and to run again.\n' +
        'Use the same CONFIRMA_MASTER_KEY (and DATABASE_URL) as the nodes.',
    )
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .action(async (opts: { db?: string }) => {
      const config = configFromFlags(opts.db === undefined ? {} : { dbPath: opts.db });
      const keyring = keyringOf(config);
      if (keyring === undefined) {
        process.stderr.write('confirma reseal: CONFIRMA_MASTER_KEY is not set: there is no key to seal with\n');
        process.exit(2);
      }
      const store = openStore(config);
      try {
        await store.migrate();
        const report = await resealCredentials(store, keyring);
        await store.appendAudit({
          at: Date.now(),
          actor: 'cli',
          action: 'credentials.resealed',
          target: keyring.keyId,
          details: { sealed: report.sealed, resealed: report.resealed, current: report.current, failed: report.failed.length },
        });
        process.stdout.write(`${JSON.stringify({ keyId: keyring.keyId, ...report })}\n`);
        if (report.failed.length > 0) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
