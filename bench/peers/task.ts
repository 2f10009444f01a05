/**
 * The task body the peers run for each job, the same in the BullMQ worker and the graphile-worker
 * runner: what a platform team would write on either queue. Build the confirmation body (the
 * shape of Confirma's `standard` format), sign it per Standard Webhooks with node:crypto, POST it
 * with undici over a keep-alive pool and succeed only on 2xx (a throw makes the queue retry).
 * Written here, not imported from src/, as a team building on a queue would write it.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';

/** One confirmation to deliver: the job's data, as the load side enqueues it. */
export interface DeliveryJob {
  /** The `webhook-id`, fixed at enqueue so every retry carries the same one. */
  readonly msgId: string;
  /** Index of the merchant in the worker's merchant table. */
  readonly merchant: number;
  /** Enqueue time (epoch ms): the body's `timestamp`, so retries send the same bytes. */
  readonly at: number;
  readonly tx: {
    readonly id: string;
    readonly merchantId: string;
    readonly reference: string;
    readonly amount: string;
    readonly currency: string;
    readonly status: string;
    readonly customer: unknown;
    readonly metadata: unknown;
  };
}

/** A merchant as the worker holds it: where to POST and the secret to sign with. */
export interface MerchantTarget {
  readonly url: string;
  readonly secret: string;
}

/** Sockets to the receiver's origin: as many as Confirma's default per origin. */
export const CONNECTIONS = 256;

/** The `standard` body: `{ id, type, timestamp, data }`, as Confirma sends it. */
export function confirmationBody(job: DeliveryJob): string {
  const iso = new Date(job.at).toISOString();
  const t = job.tx;
  return JSON.stringify({
    id: job.msgId,
    type: `transaction.${t.status}`,
    timestamp: iso,
    data: {
      id: t.id,
      merchantId: t.merchantId,
      reference: t.reference,
      amount: t.amount,
      currency: t.currency,
      status: t.status,
      seq: 1,
      customer: t.customer,
      metadata: t.metadata,
      createdAt: iso,
      updatedAt: iso,
    },
  });
}

/** A function delivering one job to its merchant; rejects unless the merchant answered 2xx. */
export function makeDeliver(merchants: readonly MerchantTarget[]): (job: DeliveryJob) => Promise<void> {
  const keys = merchants.map((m) => Buffer.from(m.secret.replace(/^whsec_/, ''), 'base64'));
  // Confirma's attempt deadline is 15 s by default; the same bound here.
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000, headersTimeout: 15_000, bodyTimeout: 15_000 });
  return async (job) => {
    const target = merchants[job.merchant];
    const key = keys[job.merchant];
    if (target === undefined || key === undefined) throw new Error(`no merchant ${job.merchant}`);
    const body = confirmationBody(job);
    const ts = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', key).update(`${job.msgId}.${ts}.`).update(body).digest('base64');
    const res = await request(target.url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'webhook-id': job.msgId,
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1,${signature}`,
      },
      body,
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`merchant answered ${res.statusCode}`);
  };
}
