import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What a scripted merchant does with one request. */
export type Script =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'hang' } // never answer
  | { kind: 'reset' } // destroy the socket
  | { kind: 'delay'; ms: number; status: number };

export interface Received {
  readonly merchant: string;
  readonly id: string;
  readonly body: string;
  readonly at: number;
  readonly verified: boolean;
}

/**
 * A real merchant fleet on one loopback server: path `/m/<name>` is merchant <name>. Each
 * request is verified with the public `standardwebhooks` package against that merchant's secret,
 * and answered by its script (default 200).
 */
export class MerchantServer {
  readonly server: http.Server;
  readonly received: Received[] = [];
  /** Requests being held open right now, per merchant. */
  readonly open = new Map<string, number>();
  readonly maxOpen = new Map<string, number>();
  private readonly secrets = new Map<string, Webhook>();
  private readonly scripts = new Map<string, (n: number) => Script>();
  private readonly counts = new Map<string, number>();
  private readonly hung = new Set<http.ServerResponse>();
  port = 0;

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', 4096, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(merchant: string): string {
    return `http://127.0.0.1:${this.port}/m/${merchant}`;
  }

  /** Registers the merchant's secret (for verification) and, optionally, its script by request number (0-based). */
  merchant(name: string, secret: string, script?: (n: number) => Script): void {
    this.secrets.set(name, new Webhook(secret));
    if (script !== undefined) this.scripts.set(name, script);
  }

  deliveries(merchant: string): Received[] {
    return this.received.filter((r) => r.merchant === merchant);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const name = (req.url ?? '').replace(/^\/m\//, '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = this.counts.get(name) ?? 0;
      this.counts.set(name, n + 1);
      const script = this.scripts.get(name)?.(n) ?? { kind: 'status', status: 200 };
      const wh = this.secrets.get(name);
      let verified = false;
      try {
        wh?.verify(body, req.headers as Record<string, string>);
        verified = wh !== undefined;
      } catch {
        verified = false;
      }
      const id = String(req.headers['webhook-id'] ?? '');
      const record = (): void => {
        this.received.push({ merchant: name, id, body, at: Date.now(), verified });
      };
      const opened = (this.open.get(name) ?? 0) + 1;
      this.open.set(name, opened);
      this.maxOpen.set(name, Math.max(this.maxOpen.get(name) ?? 0, opened));
      const close = (): void => {
        this.open.set(name, (this.open.get(name) ?? 1) - 1);
      };
      res.on('close', close);
      switch (script.kind) {
        case 'status':
          if (script.status >= 200 && script.status < 300) record();
          res.writeHead(script.status, script.headers ?? {}).end('{}');
          return;
        case 'delay':
          setTimeout(() => {
            if (script.status >= 200 && script.status < 300) record();
            if (!res.destroyed) res.writeHead(script.status).end('{}');
          }, script.ms);
          return;
        case 'hang':
          this.hung.add(res);
          return;
        case 'reset':
          req.socket.destroy();
          return;
      }
    });
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
