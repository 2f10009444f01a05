import type { Transaction } from './transaction.js';

/**
 * Builds the `standard` JSON body of a confirmation, once, at ingest. The bytes are stored and sent
 * unchanged on every attempt, so a merchant sees the same body and `webhook-id` on each retry.
 * Shape follows Standard Webhooks: `{ type, timestamp, data }`.
 */
export function standardBody(msgId: string, seq: number, type: string, tx: Transaction, at: number): string {
  return JSON.stringify({
    id: msgId,
    type,
    timestamp: new Date(at).toISOString(),
    data: {
      id: tx.id,
      merchantId: tx.merchantId,
      reference: tx.reference,
      amount: tx.amount,
      currency: tx.currency,
      status: tx.status,
      seq,
      ...(tx.customer === null ? {} : { customer: tx.customer }),
      ...(tx.metadata === null ? {} : { metadata: tx.metadata }),
      createdAt: new Date(tx.createdAt).toISOString(),
      updatedAt: new Date(tx.updatedAt).toISOString(),
    },
  });
}
