import type { Config } from '../config.js';
import type { Claim } from '../domain/confirmation.js';
import type { Store } from '../store/store.js';
import type { Lane } from './lane.js';

/** What the claim strategies (`lane-claims.ts`, `queue-scan.ts`) need of their dispatcher. */
export interface ClaimHost {
  readonly store: Store;
  readonly config: Config;
  /** The lanes this node delivers for. */
  readonly lanes: ReadonlyMap<string, Lane>;
  /** A merchant's lane, made on first use. */
  lane(merchantId: string): Lane;
  /** Requests the node may still start: its in-flight bound less what is in flight or reserved. */
  nodeFree(): number;
  /** Starts one attempt for a claim whose lease was written from `claimedAt` (or later). */
  launch(claim: Claim, claimedAt: number): void;
  /** Wakes the pump at `at` (epoch ms), sooner than the slow poll would. */
  wakeAt(at: number): void;
  /** Whether the dispatcher is stopping (or stopped): no more claims. */
  stopping(): boolean;
}
