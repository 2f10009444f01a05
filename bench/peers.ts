/**
 * The peer benchmark's command line: `node dist/bench/peers.js [options]` (the same as
 * `npm run bench -- --peers [options]`); bench/peers/program.ts says what it measures.
 */
import { parsePeersArgs, runPeers } from './peers/program.js';

const { ok, file, table } = await runPeers(parsePeersArgs(process.argv.slice(2)));
process.stdout.write(`${table}\n\nwrote ${file}\n`);
process.exit(ok ? 0 : 1);
