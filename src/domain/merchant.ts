/**
 * Payload formats a merchant can receive (one module each in `src/formats/`). `standard` is JSON
 * with Standard Webhooks headers; `epayco` is the form POST of the region's payment gateways.
 */
export const FORMATS = ['standard', 'epayco'] as const;
export type Format = (typeof FORMATS)[number];

/**
 * A merchant's ePayco credentials: `p_cust_id_cliente` in clear (it is an account id, sent in every
 * confirmation) and `p_key` sealed with the master key (see `signing/keyring.ts`), never returned.
 */
export interface EpaycoCredentials {
  readonly custId: string;
  /** `Keyring.seal(pKey, pKeyOwner(merchantId))`. */
  readonly sealedPKey: string;
}

/** A merchant: who receives confirmations, where, and how its lane behaves. */
export interface Merchant {
  readonly id: string;
  readonly name: string;
  /** The confirmation URL: every confirmation is POSTed here. */
  readonly url: string;
  readonly format: Format;
  /** Max requests in flight to this merchant; null means the global default. */
  readonly maxInFlight: number | null;
  /** Absolute deadline per attempt in ms; null means the global default. */
  readonly timeoutMs: number | null;
  /** Delays in seconds before attempts 1..n; null means the global schedule. */
  readonly retrySchedule: readonly number[] | null;
  /** Credentials of the `epayco` format; null when never given. */
  readonly epayco: EpaycoCredentials | null;
  /** Epoch ms when the endpoint was disabled (e.g. after a 410), or null while enabled. */
  readonly disabledAt: number | null;
  readonly disabledReason: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Fields a merchant is created with. */
export interface NewMerchant {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly format: Format;
  readonly maxInFlight: number | null;
  readonly timeoutMs: number | null;
  readonly retrySchedule: readonly number[] | null;
  readonly epayco: EpaycoCredentials | null;
}

/** Fields PATCH may change; `enabled: true` re-enables a disabled endpoint and unparks its confirmations. */
export interface MerchantPatch {
  readonly name?: string;
  readonly url?: string;
  readonly format?: Format;
  readonly maxInFlight?: number | null;
  readonly timeoutMs?: number | null;
  readonly retrySchedule?: readonly number[] | null;
  readonly enabled?: boolean;
  /** Replaces the ePayco credentials (both together); null removes them (a switch to `standard`). */
  readonly epayco?: EpaycoCredentials | null;
}

/** What the dispatcher needs to deliver to a merchant. */
export interface DeliveryTarget {
  readonly merchant: Merchant;
  /** Secrets that sign each request: the current one first, then any still in their rotation overlap. */
  readonly secrets: readonly string[];
  /** When the first of those secrets stops signing (its overlap ends), or null: reload by then. */
  readonly validUntil: number | null;
}
