import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ADMIN_KEY } from './engine.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A `confirma start` child process. */
export interface NodeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly role: string;
  /** Everything it printed on stdout (JSON log lines). */
  output(): string;
  /** SIGTERM and wait for the exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<void>;
}

/** Starts `node dist/src/cli/main.js start --role <role>` and resolves once it listens. */
export async function startNode(role: 'api' | 'worker' | 'all', env: Record<string, string>): Promise<NodeProcess> {
  const child = spawn(process.execPath, [MAIN, 'start', '--port', '0', '--role', role], {
    env: {
      ...process.env,
      CONFIRMA_ADMIN_KEY: ADMIN_KEY,
      CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
      CONFIRMA_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`confirma start --role ${role} exited with ${code}: ${out}`)));
  });
  return {
    child,
    url,
    role,
    output: () => out,
    async stop(ms = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Calls a node's API with the admin key. */
export async function call(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}
