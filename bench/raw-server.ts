/**
 * The raw ceiling's server: the least a node:http endpoint can do per request (read the body,
 * answer 200 with a small JSON). Prints its port on stdout, then runs until killed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

let requests = 0;
const server = http.createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', 4096, () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ requests }) + '\n');
  process.exit(0);
});
