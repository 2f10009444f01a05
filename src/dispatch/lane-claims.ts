import type { ClaimWant } from '../store/store.js';
import type { ClaimHost } from './claim-host.js';
import type { Lane } from './lane.js';

/**
 * The per-lane claim strategy: lanes that may have due rows and free slots ask for them, and one
 * transaction claims for all of them through the per-merchant index. A lane is wanting when an
 * ingest commit named its merchant, when a slot of a backlogged lane frees, when a transaction's
 * next confirmation was promoted, or when its probe is due; so a slot that frees asks only its own
 * lane's rows, and a deep backlog of a slow merchant is never rescanned.
 */
export class LaneClaims {
  private readonly wanting = new Set<Lane>();

  constructor(private readonly host: ClaimHost) {}

  /** Lanes waiting for the next claim. */
  get size(): number {
    return this.wanting.size;
  }

  has(lane: Lane): boolean {
    return this.wanting.has(lane);
  }

  /** Puts a lane in line for the next claim. */
  want(lane: Lane): void {
    this.wanting.add(lane);
  }

  /**
   * Claims for the wanting lanes, as many as the node has room for (the others wait for the next
   * round), and launches what comes back. A lane that got all it asked for may have more waiting
   * and stays backlogged; one that got less is drained.
   */
  async claim(): Promise<void> {
    const { store, config } = this.host;
    const now = Date.now();
    // Only ids and limits go to the store: a lane holds secrets and, while it reloads its
    // merchant, a promise, and the store may have to copy its arguments to another thread.
    const wants: ClaimWant[] = [];
    const asked: Lane[] = [];
    let room = this.host.nodeFree();
    for (const lane of this.wanting) {
      if (room <= 0) break;
      this.wanting.delete(lane);
      const free = Math.min(lane.free(now), room);
      if (free <= 0) continue;
      // A lane that is probing takes a first attempt if it has one (see ClaimWant).
      wants.push(
        lane.probing
          ? { merchantId: lane.merchantId, limit: free, preferFirstAttempts: true }
          : { merchantId: lane.merchantId, limit: free },
      );
      asked.push(lane);
      room -= free;
    }
    if (wants.length === 0) return;
    const claims = await store.claimForMerchants(wants, now, config.leaseMs);
    const got = new Map<string, number>();
    for (const claim of claims) {
      got.set(claim.merchantId, (got.get(claim.merchantId) ?? 0) + 1);
      this.host.launch(claim, now);
    }
    wants.forEach((w, i) => {
      (asked[i] as Lane).backlogged = (got.get(w.merchantId) ?? 0) >= w.limit;
    });
  }
}
