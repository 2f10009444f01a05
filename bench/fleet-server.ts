/**
 * The merchant fleet on its own, for `harness-floor.ts`: an `instant` fleet of `merchants` whose
 * secrets are all `secret`. Prints its port on stdout, then on SIGTERM what its ledger holds.
 * Usage: fleet-server.js <merchants> <secret>
 */
import { Fleet } from '../src/sim/fleet.js';

const [merchantsArg, secret] = process.argv.slice(2);
const fleet = new Fleet({ merchants: Number(merchantsArg ?? 50), profile: 'instant' });
for (let i = 0; i < fleet.size; i++) fleet.setSecret(i, secret as string);
await fleet.listen();
process.stdout.write(`${JSON.stringify({ port: fleet.port })}\n`);
process.on('SIGTERM', () => {
  const s = fleet.stats();
  process.stdout.write(`${JSON.stringify({ accepted: s.accepted, duplicates: s.duplicates, badSignatures: s.badSignatures })}\n`);
  process.exit(0);
});
