import { formatOf } from '../formats/index.js';
import type { Format } from './merchant.js';
import type { Transaction } from './transaction.js';

/**
 * Builds the body of a confirmation, once, at ingest, in the merchant's format (see
 * `src/formats/`). The bytes are stored and sent unchanged on every attempt, so a merchant sees the
 * same body and `webhook-id` on each retry. Both store adapters call this inside the ingest commit.
 */
export function confirmationBody(format: Format, msgId: string, seq: number, type: string, tx: Transaction, at: number): string {
  return formatOf(format).buildBody({ msgId, seq, type, tx, at });
}

/** The `standard` JSON body (`{ id, type, timestamp, data }`). */
export function standardBody(msgId: string, seq: number, type: string, tx: Transaction, at: number): string {
  return confirmationBody('standard', msgId, seq, type, tx, at);
}
