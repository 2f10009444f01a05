/**
 * The driver's side of the receiver process (bench/peers/receiver.ts): start it, tell it whom to
 * expect, wait until every transaction arrived, read its counts.
 */
import { fileURLToPath } from 'node:url';
import { Child } from './processes.js';
import type { ExpectMessage, ReceiverCounts } from './receiver.js';
import type { Workload } from './workload.js';

const RECEIVER = fileURLToPath(new URL('./receiver.js', import.meta.url));

export class Receiver {
  private constructor(
    private readonly child: Child,
    readonly port: number,
  ) {}

  static async start(): Promise<Receiver> {
    const child = Child.fork(RECEIVER, 'receiver');
    const { port } = await child.next<{ port: number }>('listening');
    return new Receiver(child, port);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Merchant i's URL at this receiver. */
  url(i: number): string {
    return `http://127.0.0.1:${this.port}/m/${i}`;
  }

  /** Fresh counts for `contender`, who signs merchant i's requests with `secrets[i]`. */
  async expect(contender: string, secrets: readonly string[], w: Workload): Promise<void> {
    const msg: ExpectMessage = {
      type: 'expect',
      contender,
      secrets,
      transactions: w.transactions.map((t) => [t.id, t.merchant] as const),
    };
    const ack = this.child.next('expecting');
    this.child.send(msg);
    await ack;
  }

  /**
   * Resolves with the counts once every expected transaction arrived, or once nothing new arrived
   * for `stallMs` (then `transactions` < `expected`: the rest is lost or late).
   */
  waitComplete(stallMs: number, onProgress?: (c: ReceiverCounts) => void): Promise<ReceiverCounts> {
    return new Promise((resolve, reject) => {
      let latest: ReceiverCounts | undefined;
      let stall = setTimeout(() => finish(latest), stallMs);
      const onMessage = (msg: ReceiverCounts & { type?: string }): void => {
        if (msg.type === 'progress') {
          if (latest === undefined || msg.transactions > latest.transactions) {
            clearTimeout(stall);
            stall = setTimeout(() => finish(latest), stallMs);
          }
          latest = msg;
          onProgress?.(msg);
        } else if (msg.type === 'complete') finish(msg);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error('the receiver exited'));
      };
      const cleanup = (): void => {
        clearTimeout(stall);
        this.child.process.off('message', onMessage);
        this.child.process.off('exit', onExit);
      };
      const finish = (c: ReceiverCounts | undefined): void => {
        cleanup();
        if (c === undefined) reject(new Error(`nothing reached the receiver in ${stallMs} ms`));
        else resolve(c);
      };
      this.child.process.on('message', onMessage);
      this.child.process.once('exit', onExit);
    });
  }

  /** The counts now: asked for once a contender stopped, so late duplicates count too. */
  async counts(): Promise<ReceiverCounts> {
    const reply = this.child.next<ReceiverCounts>('counts');
    this.child.send({ type: 'report' });
    return reply;
  }

  async close(): Promise<void> {
    this.child.process.disconnect();
    await this.child.stop(undefined, 5_000);
  }
}
