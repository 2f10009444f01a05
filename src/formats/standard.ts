import { isoTime } from '../domain/iso-time.js';
import { signedHeaders } from '../signing/standard-webhooks.js';
import type { BodyInput, PayloadFormat } from './format.js';

/**
 * `standard`: a JSON body `{ id, type, timestamp, data }` and the Standard Webhooks headers
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) over the exact body bytes.
 */
export const standardFormat: PayloadFormat = {
  name: 'standard',
  contentType: 'application/json',
  buildBody: standardBody,
  request({ msgId, body, timestampSec, target }) {
    return {
      body,
      headers: { 'content-type': 'application/json', ...signedHeaders(target.secrets, msgId, timestampSec, body) },
    };
  },
};

/** The `standard` JSON body. Shape follows Standard Webhooks: `{ id, type, timestamp, data }`. */
export function standardBody({ msgId, seq, type, tx, at }: BodyInput): string {
  return JSON.stringify({
    id: msgId,
    type,
    timestamp: isoTime(at),
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
      createdAt: isoTime(tx.createdAt),
      updatedAt: isoTime(tx.updatedAt),
    },
  });
}
