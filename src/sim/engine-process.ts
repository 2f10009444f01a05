import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { sampleProc, type ProcSample } from './proc-stats.js';

/**
 * A Confirma node run as its own process (`confirma start`), for the demo and the benchmark: its
 * CPU and memory can then be read from /proc, and it does not share an event loop with the fleet
 * or the load generator.
 */
export interface EngineProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  sample(): ProcSample | undefined;
  /** Every sample of `/metrics`, keyed by `name{labels}` as printed. */
  metrics(): Promise<Map<string, number>>;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

export interface EngineProcessOptions {
  readonly dbPath: string;
  /** CONFIRMA_* settings for this node, on top of the environment. */
  readonly env: Record<string, string>;
  /** Where the node's log lines go. */
  readonly logFile: string;
  /** Extra node flags (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
}

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** A free loopback port (there is a small race until the node binds it, fine for local tools). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function startEngineProcess(opts: EngineProcessOptions): Promise<EngineProcess> {
  const port = await freePort();
  const log = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), MAIN, 'start', '--port', String(port), '--db', opts.dbPath], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  const end = Date.now() + 20_000;
  for (;;) {
    if (dead) throw new Error(`the engine exited at start-up; see ${opts.logFile}`);
    try {
      const res = await request(`${url}/readyz`);
      await res.body.text();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`the engine did not become ready in 20 s; see ${opts.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid as number,
    child,
    sample: () => sampleProc(child.pid as number),
    async metrics() {
      const res = await request(`${url}/metrics`);
      const text = await res.body.text();
      const out = new Map<string, number>();
      for (const m of text.matchAll(/^([a-z_]+(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1] as string, Number(m[2]));
      return out;
    },
    async stop(graceMs = 15_000) {
      if (dead) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
