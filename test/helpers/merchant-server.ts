import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { verifyEpaycoSignature } from '../../src/formats/epayco.js';

/** What a scripted merchant does with one request. */
export type Script =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'hang' } // never answer
  | { kind: 'reset' } // destroy the socket
  | { kind: 'delay'; ms: number; status: number };

/** What a script knows about the request it answers, beyond the merchant's request number. */
export interface ScriptRequest {
  /** The `webhook-id`: the confirmation being delivered. */
  readonly id: string;
  /** How many requests with this id the merchant saw before this one (0 on the first attempt). */
  readonly seen: number;
  /** How many distinct ids the merchant saw before this id first arrived (its arrival order, 0-based). */
  readonly ordinal: number;
}

export interface Received {
  readonly merchant: string;
  readonly id: string;
  readonly body: string;
  readonly at: number;
  readonly verified: boolean;
  /**
   * For merchants registered with ePayco credentials: whether the form's `x_signature` matches the
   * one recomputed from custId and pKey (as merchant plugins check it); undefined otherwise.
   */
  readonly xSignatureOk?: boolean;
  readonly contentType: string;
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
  private readonly epayco = new Map<string, { custId: string; pKey: string }>();
  private readonly scripts = new Map<string, (n: number, req: ScriptRequest) => Script>();
  private readonly counts = new Map<string, number>();
  /** Per merchant: each webhook-id's arrival order and how often it came. */
  private readonly ids = new Map<string, Map<string, { ordinal: number; seen: number }>>();
  private readonly hung = new Set<http.ServerResponse>();
  port = 0;

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  /** Listens on 127.0.0.1, on a free port unless given one. */
  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', 4096, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(merchant: string): string {
    return `http://127.0.0.1:${this.port}/m/${merchant}`;
  }

  /** Registers the merchant's secret (for verification) and, optionally, its script by request number (0-based). */
  merchant(
    name: string,
    secret: string,
    script?: (n: number, req: ScriptRequest) => Script,
    epayco?: { custId: string; pKey: string },
  ): void {
    this.secrets.set(name, new Webhook(secret));
    if (script !== undefined) this.scripts.set(name, script);
    if (epayco !== undefined) this.epayco.set(name, epayco);
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
      const id = String(req.headers['webhook-id'] ?? '');
      let ids = this.ids.get(name);
      if (ids === undefined) this.ids.set(name, (ids = new Map()));
      let known = ids.get(id);
      if (known === undefined) ids.set(id, (known = { ordinal: ids.size, seen: 0 }));
      const script = this.scripts.get(name)?.(n, { id, seen: known.seen, ordinal: known.ordinal }) ?? {
        kind: 'status',
        status: 200,
      };
      known.seen++;
      const wh = this.secrets.get(name);
      let verified = false;
      try {
        if (wh !== undefined && isForm(req.headers['content-type'])) {
          // verify() also JSON.parses the payload, which a form body is not: check the
          // signature with the package's own sign() over the exact bytes instead.
          const ts = Number(req.headers['webhook-timestamp']);
          const expected = wh.sign(String(req.headers['webhook-id']), new Date(ts * 1000), body);
          verified =
            Math.abs(Date.now() / 1000 - ts) < 300 && String(req.headers['webhook-signature']).split(' ').includes(expected);
        } else {
          wh?.verify(body, req.headers as Record<string, string>);
          verified = wh !== undefined;
        }
      } catch {
        verified = false;
      }
      const creds = this.epayco.get(name);
      const xSignatureOk = creds === undefined ? undefined : verifyEpaycoSignature(creds.custId, creds.pKey, body);
      const contentType = String(req.headers['content-type'] ?? '');
      const record = (): void => {
        this.received.push({
          merchant: name,
          id,
          body,
          at: Date.now(),
          verified,
          contentType,
          ...(xSignatureOk === undefined ? {} : { xSignatureOk }),
        });
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

function isForm(contentType: string | undefined): boolean {
  return contentType?.split(';')[0]?.trim() === 'application/x-www-form-urlencoded';
}
