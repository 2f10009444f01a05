/**
 * The processes a peer run starts and measures: children driven over `fork()`'s IPC channel,
 * redis-server instances of its own, and the CPU of a contender's processes read from /proc,
 * PostgreSQL backends included when they carry the contender's `application_name`.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { freePort } from '../../src/sim/engine-process.js';
import { sampleProc } from '../../src/sim/proc-stats.js';

/**
 * Children this process started and has not seen exit: killed if it exits first (a crash
 * included), so no node or redis-server of a run outlives the benchmark. Forked children also
 * exit by themselves when their IPC channel closes.
 */
const living = new Set<ChildProcess>();

/** Registers `child` to be killed should this process exit before it. */
export function reapOnExit(child: ChildProcess): void {
  living.add(child);
  child.once('exit', () => living.delete(child));
}

process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // Without a handler these signals end the process without its 'exit' event.
  process.once(signal, () => process.exit(130));
}

/** The redis-server the bench starts (REDIS_SERVER overrides). */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A child process spoken to over IPC. */
export class Child {
  private readonly exited: Promise<number | null>;
  private dead = false;

  private constructor(
    readonly process: ChildProcess,
    readonly name: string,
  ) {
    this.exited = new Promise((resolve) =>
      process.once('exit', (code) => {
        this.dead = true;
        resolve(code);
      }),
    );
  }

  /** Forks `script` (a compiled .js file) with an IPC channel; its stderr goes to ours. */
  static fork(script: string, name: string, env: Record<string, string> = {}): Child {
    const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    reapOnExit(child);
    return new Child(child, name);
  }

  get pid(): number {
    return this.process.pid as number;
  }

  send(msg: unknown): void {
    this.process.send(msg as object);
  }

  /** The next message of type `type` (rejects if the child exits first or `timeoutMs` passes). */
  next<T>(type: string, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onMessage = (msg: { type?: string }): void => {
        if (msg?.type !== type) return;
        done();
        resolve(msg as T);
      };
      const onExit = (code: number | null): void => {
        done();
        reject(new Error(`${this.name} exited (${code}) before sending '${type}'`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} sent no '${type}' in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.process.off('message', onMessage);
        this.process.off('exit', onExit);
      };
      this.process.on('message', onMessage);
      this.process.once('exit', onExit);
    });
  }

  /** Asks it to stop with `msg` (or SIGTERM), waits for the exit, SIGKILL after `graceMs`. */
  async stop(msg?: unknown, graceMs = 15_000): Promise<number | null> {
    if (this.dead) return this.exited;
    if (msg !== undefined && this.process.connected) this.send(msg);
    else this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** A redis-server of the bench's own on a free port, with the given persistence flags. */
export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startRedis(dir: string, persistence: readonly string[]): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
      // BullMQ's guides require it: an evicted key breaks a queue.
      '--maxmemory-policy',
      'noeviction',
      // No RDB snapshots (a fork mid-run); durability, when wanted, comes from the AOF flags.
      '--save',
      '',
      ...persistence,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  reapOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server was not ready in 10 s')), 10_000);
    lines.on('line', (line) => {
      if (/Ready to accept connections/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => reject(new Error('redis-server exited at start-up')));
  });
  return {
    port,
    pid: child.pid as number,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `url` with `application_name` set, so the backends it opens can be told apart. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

/**
 * CPU time of a contender's processes over a window: fixed pids (node processes, redis-server)
 * and PostgreSQL backends named by `application_name`, which come and go with their pools: they
 * are looked up every half second, each counted from its first sighting (from 0 when it started
 * within the window) to its last. A backend's last half second before it exits is missed.
 */
export class CpuMeter {
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly fixed: ReadonlyMap<number, string>;
  private timer: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private started = false;
  /** Why backends stopped being looked up, if they did. */
  private lookupError: string | undefined;

  /** `pids`: process id → what it is (the key of its share in `stop()`'s `byProcess`). */
  constructor(
    pids: Readonly<Record<string, number>>,
    private readonly pg?: { readonly url: string; readonly applicationNames: readonly string[] },
  ) {
    this.fixed = new Map(Object.entries(pids).map(([label, pid]) => [pid, label]));
  }

  async start(): Promise<void> {
    if (this.pg !== undefined) {
      this.client = new pg.Client({ connectionString: this.pg.url });
      // A server restart (another user of this PostgreSQL) must not crash the benchmark: the
      // backends are then no longer looked up, and `stop()` says so.
      this.client.on('error', (err) => {
        this.lookupError = err.message;
        this.client = undefined;
      });
      await this.client.connect();
    }
    for (const pid of [...this.fixed.keys(), ...(await this.backends())]) this.see(pid, false);
    this.started = true;
    this.timer = setInterval(() => void this.poll(), 500);
  }

  /**
   * Seconds of CPU used since `start()`: in all, by process (PostgreSQL backends together, as
   * `postgres backends`), and how many backends were counted.
   */
  async stop(): Promise<{
    cpuSec: number;
    byProcess: Record<string, number>;
    backends: number;
    lookupError: string | undefined;
  }> {
    clearInterval(this.timer);
    await this.poll();
    await this.client?.end().catch(() => undefined);
    let cpu = 0;
    const byProcess: Record<string, number> = {};
    for (const [pid, last] of this.last) {
      const used = last - (this.base.get(pid) ?? 0);
      const label = this.fixed.get(pid) ?? 'postgres backends';
      byProcess[label] = (byProcess[label] ?? 0) + used;
      cpu += used;
    }
    return {
      cpuSec: cpu,
      byProcess,
      backends: [...this.last.keys()].filter((pid) => !this.fixed.has(pid)).length,
      lookupError: this.lookupError,
    };
  }

  private async poll(): Promise<void> {
    for (const pid of this.last.keys()) this.see(pid, true);
    for (const pid of await this.backends().catch(() => [])) this.see(pid, true);
  }

  private see(pid: number, late: boolean): void {
    const s = sampleProc(pid);
    if (s === undefined) return;
    if (!this.base.has(pid)) this.base.set(pid, late && this.started ? 0 : s.cpuSec);
    this.last.set(pid, s.cpuSec);
  }

  private async backends(): Promise<number[]> {
    if (this.client === undefined || this.pg === undefined) return [];
    const r = await this.client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[]) AND pid <> pg_backend_pid()',
      [this.pg.applicationNames],
    );
    return r.rows.map((row) => row.pid);
  }
}
