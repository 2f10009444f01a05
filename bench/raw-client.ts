/**
 * The raw ceiling's client: undici POSTs of a given size to the raw server, `concurrency` at a time
 * over a keep-alive pool, for a duration. Prints `{requests, seconds, perSec}` on stdout, counted
 * after a warm-up (JIT, first connections) of a quarter of the duration, at most 1 s.
 * Usage: raw-client.js <url> <bodyBytes> <seconds> <concurrency>
 */
import { Pool } from 'undici';

const [url, bytesArg, secondsArg, concurrencyArg] = process.argv.slice(2);
const body = Buffer.alloc(Number(bytesArg ?? 500), 'a');
const seconds = Number(secondsArg ?? 5);
const concurrency = Number(concurrencyArg ?? 128);
const pool = new Pool(url as string, { connections: Math.min(concurrency, 256) });
const headers = {
  'content-type': 'application/json',
  'webhook-id': 'msg_2Ytbq3ZyB2mAbTAt5fmyXfmrTnc',
  'webhook-timestamp': '1764392400',
  'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
};
let requests = 0;
let errors = 0;
const started = Date.now();
const end = started + seconds * 1000;
const counting = started + Math.min(1_000, (seconds * 1000) / 4);
async function worker(): Promise<void> {
  while (Date.now() < end) {
    try {
      const res = await pool.request({ path: '/', method: 'POST', headers, body });
      await res.body.dump();
      if (Date.now() < counting) continue;
      if (res.statusCode === 200) requests++;
      else errors++;
    } catch {
      errors++;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = (Date.now() - counting) / 1000;
process.stdout.write(JSON.stringify({ requests, errors, seconds: elapsed, perSec: requests / elapsed }) + '\n');
await pool.close();
