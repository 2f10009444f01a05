import type { Command } from 'commander';
import { generateApiKey } from '../api/auth.js';
import { LIMITS } from '../api/schemas/limits.js';
import { newId } from '../domain/ids.js';
import { containsCardNumber } from '../domain/pan.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { configFromFlags } from './start.js';

async function withStore<T>(db: string | undefined, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(configFromFlags(db === undefined ? {} : { dbPath: db }));
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

function fail(message: string): never {
  process.stderr.write(`confirma keys: ${message}\n`);
  process.exit(2);
}

/**
 * `confirma keys create|list|revoke`: manage API keys straight on the store, e.g. to make the
 * first admin key of a deployment without putting it in the environment. The key is printed once,
 * on stdout; only its hash is stored. Each action is written to the audit log with actor `cli`.
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('Create, list and revoke API keys (stored only as hashes).');
  keys
    .command('create')
    .description('Create a key and print it once: an admin key, or with --merchant a key for that merchant only.')
    .option('--merchant <id>', 'the merchant the key acts for (default: an admin key)')
    .option('--name <name>', 'a label to recognise the key by')
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .action(async (opts: { merchant?: string; name?: string; db?: string }) => {
      // The name is stored and copied into the audit log, under the API's rules for a key's name.
      if (opts.name !== undefined && (opts.name.length < 1 || opts.name.length > LIMITS.nameMax)) {
        fail(`--name must be 1 to ${LIMITS.nameMax} characters`);
      }
      if (opts.name !== undefined && containsCardNumber(opts.name)) fail('--name must not contain a card number');
      await withStore(opts.db, async (store) => {
        const merchantId = opts.merchant ?? null;
        if (merchantId !== null && (await store.getMerchant(merchantId)) === undefined) fail(`no merchant ${merchantId}`);
        const generated = generateApiKey(merchantId === null ? 'admin' : 'merchant');
        const now = Date.now();
        const record = await store.createApiKey(
          { id: newId('key'), merchantId, prefix: generated.prefix, hash: generated.hash, name: opts.name ?? null },
          now,
        );
        await store.appendAudit({
          at: now,
          actor: 'cli',
          action: 'key.created',
          target: record.id,
          details: { merchantId, name: record.name },
        });
        process.stdout.write(`${JSON.stringify({ id: record.id, merchantId, name: record.name, key: generated.key })}\n`);
      });
    });
  keys
    .command('list')
    .description('List keys: id, prefix, merchant, name, created and revoked times (never the keys).')
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .action(async (opts: { db?: string }) => {
      await withStore(opts.db, async (store) => {
        for (const k of await store.listApiKeys()) {
          process.stdout.write(
            `${k.id}\t${k.prefix}…\t${k.merchantId ?? 'admin'}\t${k.name ?? '-'}\t${new Date(k.createdAt).toISOString()}\t${
              k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`
            }\n`,
          );
        }
      });
    });
  keys
    .command('revoke')
    .description('Revoke a key by id: it answers 401 from the next request on.')
    .argument('<id>', 'the key id (key_…)')
    .option('--db <file>', 'SQLite file (env CONFIRMA_DB_PATH, default ./data/confirma.db)')
    .action(async (id: string, opts: { db?: string }) => {
      await withStore(opts.db, async (store) => {
        const now = Date.now();
        const record = await store.revokeApiKey(id, now);
        if (record === undefined) fail(`no key ${id}`);
        await store.appendAudit({
          at: now,
          actor: 'cli',
          action: 'key.revoked',
          target: id,
          details: { merchantId: record.merchantId },
        });
        process.stdout.write(`revoked ${id}\n`);
      });
    });
}
