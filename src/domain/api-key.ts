/** An API key as stored: never the key itself, only its SHA-256 hash and a readable prefix. */
export interface ApiKeyRecord {
  readonly id: string;
  /** The merchant the key acts for; null for an admin key. */
  readonly merchantId: string | null;
  /** First characters of the key (`cfm_mk_Ab3x`), to recognise it in a list. */
  readonly prefix: string;
  readonly name: string | null;
  readonly createdAt: number;
  /** When it was revoked; a revoked key answers 401 from that moment. */
  readonly revokedAt: number | null;
}

/** A key to store: the record plus the hash the key is looked up by. */
export interface NewApiKey {
  readonly id: string;
  readonly merchantId: string | null;
  readonly prefix: string;
  readonly hash: string;
  readonly name: string | null;
}
