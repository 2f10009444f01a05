import type { Command } from 'commander';
import { Fleet } from '../sim/fleet.js';
import { PROFILES, isProfileName } from '../sim/profiles.js';
import { intOption } from './options.js';

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description(
      'Run a simulated merchant fleet on 127.0.0.1: merchant i answers at /m/<i> with the chosen\n' +
        `latency and fault profile (${PROFILES.join(', ')}), verifies every signature and keeps a ledger\n` +
        'of accepted webhook-ids. `confirma load --fleet-url` registers merchants here through /_fleet/.\n' +
        'Prints its stats once a second as JSON lines; SIGINT/SIGTERM prints the last and exits.',
    )
    .option('-p, --port <port>', 'port to listen on (0 = any free one)', intOption('--port', 0, 65535), 9100)
    .option('-m, --merchants <n>', 'number of merchants', intOption('--merchants', 1, 100_000), 50)
    .option('--profile <name>', `latency and fault profile: ${PROFILES.join(', ')}`, 'realistic')
    .option('--quiet', 'do not print stats every second')
    .action(async (opts: { port: number; merchants: number; profile: string; quiet?: boolean }) => {
      if (!isProfileName(opts.profile)) {
        process.stderr.write(`confirma fleet: --profile must be one of ${PROFILES.join(', ')}\n`);
        process.exit(2);
      }
      const fleet = await new Fleet({
        merchants: opts.merchants,
        profile: opts.profile,
        port: opts.port,
      }).listen();
      process.stdout.write(JSON.stringify({ fleet: fleet.baseUrl, merchants: fleet.size, profile: opts.profile }) + '\n');
      const timer = opts.quiet ? undefined : setInterval(() => process.stdout.write(JSON.stringify(fleet.stats()) + '\n'), 1_000);
      const stop = (): void => {
        if (timer !== undefined) clearInterval(timer);
        process.stdout.write(JSON.stringify(fleet.stats()) + '\n');
        void fleet.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
