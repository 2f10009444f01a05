import type { Command } from 'commander';
import { Load, progressLine, remoteFleet } from '../sim/load.js';
import { intOption } from './options.js';

export function registerLoad(program: Command): void {
  program
    .command('load')
    .description(
      'Send fake transactions (customers, phones, COP and USD amounts; a share pending, approved later)\n' +
        'to a running node through POST /v1/transactions/batch at a target rate. Creates --merchants\n' +
        'merchants pointing at a `confirma fleet` and registers their secrets there. Shows a live line\n' +
        '(sent, acknowledged, confirmed/s, backlog) on a terminal; prints a JSON summary at the end.',
    )
    .option('--url <url>', 'the Confirma node', 'http://127.0.0.1:8080')
    .option('--admin-key <key>', 'admin API key (default env CONFIRMA_ADMIN_KEY)')
    .option('--fleet-url <url>', 'the `confirma fleet` to point merchants at', 'http://127.0.0.1:9100')
    .option('-r, --rate <n>', 'transactions per second', intOption('--rate', 1, 1_000_000), 2000)
    .option('-d, --duration <sec>', 'seconds to send for', intOption('--duration', 1, 86_400), 60)
    .option('-m, --merchants <n>', 'merchants to create', intOption('--merchants', 1, 100_000), 50)
    .option(
      '--pending-share <percent>',
      'percent of transactions created pending, approved later',
      intOption('--pending-share', 0, 100),
      20,
    )
    .action(
      async (opts: {
        url: string;
        adminKey?: string;
        fleetUrl: string;
        rate: number;
        duration: number;
        merchants: number;
        pendingShare: number;
      }) => {
        const adminKey = opts.adminKey ?? process.env.CONFIRMA_ADMIN_KEY;
        if (adminKey === undefined || adminKey === '') {
          process.stderr.write('confirma load: --admin-key or CONFIRMA_ADMIN_KEY is needed to create merchants\n');
          process.exit(2);
        }
        const fleet = await remoteFleet(opts.fleetUrl);
        const load = new Load({
          url: opts.url,
          adminKey,
          rate: opts.rate,
          durationSec: opts.duration,
          merchants: opts.merchants,
          fleet,
          pendingShare: opts.pendingShare / 100,
        });
        await load.setup();
        let lastAccepted = (await fleet.stats()).accepted;
        const tty = process.stderr.isTTY === true;
        const timer = setInterval(() => {
          void fleet.stats().then(
            (s) => {
              const line = progressLine(load.progress(), s, s.accepted - lastAccepted);
              lastAccepted = s.accepted;
              process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
            },
            () => undefined,
          );
        }, 1_000);
        const done = await load.run();
        clearInterval(timer);
        await load.close();
        if (tty) process.stderr.write('\n');
        const fleetStats = await fleet.stats();
        process.stdout.write(JSON.stringify({ ...done, fleet: fleetStats, errorSamples: load.errorSamples }) + '\n');
        process.exit(done.errors > 0 ? 1 : 0);
      },
    );
}
