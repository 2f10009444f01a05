import type { Command } from 'commander';
import path from 'node:path';
import { PROFILES, isProfileName } from '../sim/profiles.js';
import { runScenario, type ScenarioResult, type Tick } from '../sim/scenario.js';
import { intOption } from './options.js';

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values, scaled to their max. */
export function sparkline(values: readonly number[], width = 40): string {
  const v = values.slice(-width);
  const max = Math.max(...v, 1);
  return v.map((x) => BARS[Math.min(Math.floor((x / max) * (BARS.length - 1) + 0.5), BARS.length - 1)]).join('');
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number): string => (Number.isFinite(n) ? `${fmt(n)} ms` : '–');

function view(t: Tick, series: number[], header: string): string[] {
  const l = t.load;
  const lat = t.fleet.latency;
  return [
    header,
    `  ${t.phase === 'load' ? 'sending ' : 'draining'} ${t.elapsedSec.toFixed(0).padStart(4)} s   ingested ${fmt(l.acknowledged).padStart(9)}   confirmed ${fmt(t.fleet.accepted).padStart(9)}   ${fmt(t.confirmedPerSec).padStart(6)}/s`,
    `  latency commit→receipt   p50 ${ms(lat.p50)}   p99 ${ms(lat.p99)}   max ${ms(lat.max)}`,
    `  backlog ${fmt(t.backlog)}   queued in engine ${fmt(t.queued)}   retries scheduled ${fmt(t.retries)}   dead ${fmt(t.dead)}` +
      (t.engine === undefined ? '' : `   engine RSS ${fmt(t.engine.rssBytes / 1048576)} MB`),
    `  confirmed/s ${sparkline(series)}`,
    `  dashboard ${t.engineUrl}/`,
  ];
}

function summary(r: ScenarioResult): string {
  const v = r.verdict;
  const lat = r.fleet.latency;
  const first = r.fleet.firstArrival;
  const lines = [
    '',
    'Summary (checked against the fleet’s ledger)',
    `  transactions acknowledged   ${fmt(r.load.acknowledged)}   (refused ${fmt(r.load.refused)}, request errors ${fmt(r.load.errors)})`,
    `  confirmations expected      ${fmt(v.expected)}`,
    `  delivered (in the ledger)   ${fmt(v.delivered)}`,
    `  retrying (merchant down)    ${fmt(v.retryingMerchantDown)}`,
    `  retrying (next try later)   ${fmt(v.retryingHealthy)}`,
    `  dead-lettered / parked      ${fmt(v.dead)} / ${fmt(v.parked)}`,
    `  lost                        ${fmt(v.lost)}${v.lost > 0 ? `   e.g. ${v.lostSamples.join(', ')}` : ''}`,
    `  duplicates received         ${fmt(r.fleet.duplicates)}   bad signatures ${fmt(r.fleet.badSignatures)}`,
    `  commit→receipt latency      p50 ${ms(lat.p50)}   p99 ${ms(lat.p99)}   p99.9 ${ms(lat.p999)}   max ${ms(lat.max)}   (retries included)`,
    `  engine delay (first tries)  p50 ${ms(first.p50)}   p99 ${ms(first.p99)}   p99.9 ${ms(first.p999)}   (sendable → first attempt's arrival, after warm-up)`,
    `  sendable→merchant's answer  p50 ${ms(r.fleet.answered.p50)}   p99 ${ms(r.fleet.answered.p99)}   against the merchants' own p99 ${ms(r.fleet.ownLatency.p99)}   (first tries answered 2xx)`,
    `                              (sendable: committed, and the transaction's previous confirmation answered)`,
    `  sustained while sending     ${fmt(r.sustainedPerSec)} confirmations/s (after warm-up)`,
    `  throughput                  ${fmt(r.confirmedPerSec)} confirmations/s over ${r.wallSec.toFixed(1)} s, drain included` +
      (r.drained ? '' : '   (drain timed out: some healthy confirmations were still retrying)'),
  ];
  if (r.engine !== undefined) {
    lines.push(
      `  engine process              CPU ${r.engine.cpuSec.toFixed(1)} s   peak RSS ${fmt(r.engine.peakRssBytes / 1048576)} MB`,
    );
  }
  if (r.errorSamples.length > 0) lines.push(`  first errors: ${r.errorSamples.join(' | ')}`);
  lines.push(
    `  ${v.lost === 0 ? 'OK: every acknowledged confirmation was delivered or is still queued in the engine.' : 'FAILED: confirmations were lost.'}`,
  );
  return lines.join('\n') + '\n';
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Confirma end to end in one command: a node on a fresh SQLite file under ./data/demo-<time>/ (its own\n' +
        'process), a simulated merchant fleet and fake transactions at a rate, a live view, then a summary\n' +
        "verified against the fleet's ledger. Exit code 0 when no acknowledged confirmation was lost.",
    )
    .option('-r, --rate <n>', 'transactions per second', intOption('--rate', 1, 1_000_000), 2000)
    .option('-d, --duration <sec>', 'seconds of load', intOption('--duration', 1, 86_400), 60)
    .option('-m, --merchants <n>', 'merchants in the fleet', intOption('--merchants', 1, 100_000), 50)
    .option('--profile <name>', `merchant behaviour: ${PROFILES.join(', ')}`, 'realistic')
    .option('--drain <sec>', 'longest wait for the backlog after the load', intOption('--drain', 0, 3_600), 30)
    .option('--data <dir>', 'parent folder of the run folder', './data')
    .option('--json', 'print the result as JSON on stdout instead of the summary')
    .action(
      async (opts: {
        rate: number;
        duration: number;
        merchants: number;
        profile: string;
        drain: number;
        data: string;
        json?: boolean;
      }) => {
        if (!isProfileName(opts.profile)) {
          process.stderr.write(`confirma demo: --profile must be one of ${PROFILES.join(', ')}\n`);
          process.exit(2);
        }
        const dir = path.resolve(opts.data, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        const header = `Confirma demo · ${opts.profile} fleet of ${opts.merchants} merchants · ${fmt(opts.rate)} transactions/s for ${opts.duration} s · ${dir}`;
        const tty = process.stderr.isTTY === true;
        const series: number[] = [];
        let drawn = 0;
        const result = await runScenario({
          dir,
          profile: opts.profile,
          rate: opts.rate,
          durationSec: opts.duration,
          merchants: opts.merchants,
          drainTimeoutMs: opts.drain * 1000,
          onTick: (t) => {
            series.push(t.confirmedPerSec);
            const lines = view(t, series, header);
            if (tty) {
              process.stderr.write((drawn > 0 ? `\x1b[${drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
              drawn = lines.length;
            } else if (series.length === 1) {
              process.stderr.write(`dashboard ${t.engineUrl}/\n`);
            } else if (Math.round(t.elapsedSec) % 5 === 0) {
              process.stderr.write(`${lines[1]?.trim()} · p99 ${ms(t.fleet.latency.p99)} · backlog ${fmt(t.backlog)}\n`);
            }
          },
        });
        if (opts.json) process.stdout.write(JSON.stringify({ ...result, ticks: undefined, dir }) + '\n');
        else process.stdout.write(summary(result) + `  run folder (database, engine log): ${dir}\n`);
        process.exit(result.verdict.lost === 0 ? 0 : 1);
      },
    );
}
