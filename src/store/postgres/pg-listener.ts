import pg from 'pg';

/** What a listener hears: merchant ids named by a commit, or undefined for "scan everything". */
export type DueListener = (merchantIds: string[] | undefined) => void;

/**
 * A dedicated connection that LISTENs on the wake-up channel. Pooled connections cannot listen
 * (they are handed to other queries), so this one is separate. When the connection drops it
 * reconnects with a capped backoff and reports `undefined` once back: notifications sent meanwhile
 * are lost, so the worker scans the whole queue instead.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private delayMs = 250;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly channel: string,
    private readonly onDue: DueListener,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Connects and listens; resolves once listening (or after the first failure, retrying behind). */
  async start(): Promise<void> {
    await this.connect(false);
  }

  private async connect(reconnected: boolean): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.clientConfig);
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      if (this.client === client) this.client = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.onError(err);
      this.timer = setTimeout(() => void this.connect(true), this.delayMs);
      this.timer.unref();
      this.delayMs = Math.min(this.delayMs * 2, 5_000);
    };
    client.on('error', fail); // stays attached: a dead client may report more than once
    client.on('end', () => fail(new Error('listener connection ended')));
    client.on('notification', (n) => {
      if (n.channel !== this.channel) return;
      this.onDue(n.payload === undefined || n.payload === '' ? undefined : n.payload.split(','));
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      fail(err);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delayMs = 250;
    if (reconnected) this.onDue(undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  }
}
