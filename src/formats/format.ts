import type { DeliveryTarget, Format } from '../domain/merchant.js';
import type { Transaction } from '../domain/transaction.js';
import type { Keyring } from '../signing/keyring.js';

/**
 * A payload format: how a confirmation looks on the wire. Split in two on purpose:
 *
 *  - `buildBody` runs once, at ingest, inside the commit that writes the confirmation. Its bytes
 *    are stored and never rebuilt, so a merchant sees the same content on every retry. It needs
 *    no credentials, so the store never holds a decrypted secret.
 *  - `request` runs per attempt: it turns the stored bytes into the exact bytes sent and the
 *    headers (signatures, timestamp). For a given stored body and credentials it is a pure
 *    function, so retries carry identical bytes unless the merchant changed its credentials.
 */
export interface PayloadFormat {
  readonly name: Format;
  /** `content-type` of the request. */
  readonly contentType: string;
  /** The stored body of one confirmation. */
  buildBody(input: BodyInput): string;
  /** The request of one attempt; throws {@link FormatError} when it cannot be signed. */
  request(input: AttemptInput): OutgoingRequest;
}

/** What a body is built from, at ingest. */
export interface BodyInput {
  /** Confirmation id (the `webhook-id`). */
  readonly msgId: string;
  readonly seq: number;
  /** `transaction.<status>` */
  readonly type: string;
  /** The transaction as it is after this change. */
  readonly tx: Transaction;
  /** When the confirmation was made, epoch ms. */
  readonly at: number;
}

/** What one attempt is built from. */
export interface AttemptInput {
  readonly msgId: string;
  /** The stored body, exactly as built at ingest. */
  readonly body: string;
  readonly timestampSec: number;
  readonly target: DeliveryTarget;
  /** Opens sealed merchant credentials; undefined when the node has no master key. */
  readonly keyring: Keyring | undefined;
}

/** The exact bytes and headers of one attempt. */
export interface OutgoingRequest {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** The request cannot be built (credentials missing or unreadable): the attempt fails and is retried. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}
