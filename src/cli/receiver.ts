import { type Command, InvalidArgumentError, Option } from 'commander';
import { startReceiver } from '../receiver/receiver.js';
import { secretKeyBytes } from '../signing/standard-webhooks.js';

const DESCRIPTION = [
  "Run the reference merchant endpoint: what a merchant's confirmation URL should do.",
  '',
  'It answers POST <path> (default /confirmation): it verifies the Standard Webhooks signature ' +
    '(webhook-id, webhook-timestamp, webhook-signature) and a timestamp within 5 minutes, deduplicates ' +
    'on webhook-id, answers 200 {"ok":true}, and logs one line per request, for example:',
  '  2026-11-29T05:00:00.000Z accepted msg_123 transaction.approved tx=tx_abc',
  'A bad signature or stale timestamp gets 401, a body over 1 MiB gets 413, GET /healthz gets 200. ' +
    'Customer data and the secret are never printed.',
  '',
  "The secret is the merchant's whsec_... secret, from --secret or CONFIRMA_RECEIVER_SECRET (prefer the " +
    'variable: command lines show up in process lists). During a rotation give --secret twice, or ' +
    'several secrets separated by spaces or commas in the variable.',
  '',
  'For a merchant on the epayco format, give its p_cust_id_cliente and p_key (--epayco-cust-id and ' +
    'CONFIRMA_RECEIVER_EPAYCO_P_KEY): form bodies must then carry a valid x_signature, checked the way ' +
    'merchant plugins do (sha256 of custId^pKey^x_ref_payco^x_transaction_id^x_amount^x_currency_code).',
  '',
  'Stops cleanly on SIGINT or SIGTERM.',
].join('\n');

interface ReceiverCliOptions {
  port: number;
  host: string;
  path: string;
  secret?: string[];
  ledgerLimit: number;
  epaycoCustId?: string;
  epaycoPKey?: string;
}

/** Registers `confirma receiver`: the reference merchant endpoint, until SIGINT or SIGTERM. */
export function registerReceiver(program: Command): void {
  program
    .command('receiver')
    .summary('run the reference merchant endpoint (verifies, deduplicates, logs)')
    .description(DESCRIPTION)
    .addOption(new Option('-p, --port <n>', 'port to listen on; 0 picks a free one').default(9000).argParser(parsePort))
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--path <path>', 'path that takes confirmations', '/confirmation')
    .addOption(
      new Option('--secret <whsec>', "the merchant's secret (whsec_...); repeat during a rotation")
        .env('CONFIRMA_RECEIVER_SECRET')
        .argParser(collectSecrets),
    )
    .addOption(
      new Option('--ledger-limit <n>', 'most webhook-ids kept for deduplication; the oldest are forgotten past it')
        .default(100_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option('--epayco-cust-id <id>', "the merchant's ePayco p_cust_id_cliente").env('CONFIRMA_RECEIVER_EPAYCO_CUST_ID'),
    )
    .addOption(
      new Option('--epayco-p-key <key>', "the merchant's ePayco p_key (prefer the variable)").env(
        'CONFIRMA_RECEIVER_EPAYCO_P_KEY',
      ),
    )
    .action(async (opts: ReceiverCliOptions, cmd: Command) => {
      const secrets = opts.secret ?? [];
      if (secrets.length === 0) {
        cmd.error('error: a secret is required: pass --secret whsec_... or set CONFIRMA_RECEIVER_SECRET');
      }
      secrets.forEach((secret, i) => {
        try {
          secretKeyBytes(secret);
        } catch {
          // Never echo the value: it may be a real secret with a typo.
          cmd.error(`error: secret #${i + 1} is malformed: expected whsec_ followed by padded base64`);
        }
      });
      if ((opts.epaycoCustId === undefined) !== (opts.epaycoPKey === undefined)) {
        cmd.error('error: give both --epayco-cust-id and --epayco-p-key (or CONFIRMA_RECEIVER_EPAYCO_P_KEY), or neither');
      }
      const receiver = await startReceiver({
        port: opts.port,
        host: opts.host,
        path: opts.path,
        secret: secrets,
        ledgerLimit: opts.ledgerLimit,
        ...(opts.epaycoCustId !== undefined && opts.epaycoPKey !== undefined
          ? { epayco: { custId: opts.epaycoCustId, pKey: opts.epaycoPKey } }
          : {}),
      });
      process.stdout.write(`confirma receiver listening on ${receiver.url}\n`);
      const stop = (): void => {
        receiver.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`receiver: close failed: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return port;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

/** Repeated `--secret`s add up; the variable may hold several separated by spaces or commas. */
function collectSecrets(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(/[\s,]+/).filter((s) => s !== '')];
}
