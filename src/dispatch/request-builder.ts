import type { Claim } from '../domain/confirmation.js';
import type { DeliveryTarget } from '../domain/merchant.js';
import { formatOf, FormatError, type OutgoingRequest } from '../formats/index.js';
import type { Logger } from '../observe/logger.js';
import { KeyringError, type Keyring } from '../signing/keyring.js';
import { openSigningSecret } from '../signing/sealed-secrets.js';
import type { AttemptResult } from './outcome.js';

/** Most opened signing secrets kept; past it the cache starts again empty. */
const OPENED_MAX = 10_000;

/**
 * The request of one attempt: the stored body through its format module (bytes and headers),
 * signed with the merchant's secrets, opened from their sealed form once each and kept.
 */
export class RequestBuilder {
  /** Sealed signing secrets already opened: AES-GCM once per secret, not once per attempt. */
  private readonly opened = new Map<string, string>();
  /** Merchants whose confirmations could not be signed, already reported at error level. */
  private readonly reported = new Set<string>();

  /** `keyring` opens sealed credentials; undefined without CONFIRMA_MASTER_KEY. */
  constructor(
    private readonly keyring: Keyring | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * The request, or a failed attempt when it cannot be signed (then it is retried on the normal
   * schedule). A merchant whose confirmations cannot be signed is reported at error level once
   * (again after it changes, see `forget`).
   */
  build(claim: Claim, target: DeliveryTarget): OutgoingRequest | AttemptResult {
    const merchantId = target.merchant.id;
    try {
      const secrets = target.secrets.map((stored) => this.openSecret(merchantId, stored));
      const request = formatOf(claim.format).request({
        msgId: claim.id,
        body: claim.body,
        timestampSec: Math.floor(Date.now() / 1000),
        target: { ...target, secrets },
        keyring: this.keyring,
      });
      if (this.reported.size > 0) this.reported.delete(merchantId);
      return request;
    } catch (err) {
      if (!(err instanceof FormatError) && !(err instanceof KeyringError)) throw err;
      if (!this.reported.has(merchantId)) {
        this.reported.add(merchantId);
        this.log.error(
          { merchantId, reason: err.message },
          "cannot sign this merchant's confirmations: they are retried on its schedule and go dead unless its credentials or this node's master keys are fixed",
        );
      }
      return { ok: false, errorKind: 'signing', errorMessage: err.message, durationMs: 0, startedAt: Date.now() };
    }
  }

  /** After a merchant changed (PATCH, rotation): a signing failure is news again. */
  forget(merchantId: string): void {
    this.reported.delete(merchantId);
  }

  /** A signing secret from its stored form (sealed under the master key or not), opened once and kept. */
  private openSecret(merchantId: string, stored: string): string {
    const key = `${merchantId}\0${stored}`; // a sealed value opens only for its own merchant
    let plain = this.opened.get(key);
    if (plain === undefined) {
      plain = openSigningSecret(this.keyring, merchantId, stored);
      if (this.opened.size >= OPENED_MAX) this.opened.clear();
      this.opened.set(key, plain);
    }
    return plain;
  }
}
