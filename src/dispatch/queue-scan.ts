import type { ClaimHost } from './claim-host.js';
import type { LaneClaims } from './lane-claims.js';

/**
 * The queue-scan claim strategy: claims due rows of any merchant, oldest due first, skipping
 * lanes that are full or whose circuit is not closed, through the queue index. It finds work
 * nobody told this node about (start-up, another node's commits after a reconnect, retries that
 * came due, leases that lapsed), so it runs when wanted (`wanted`: on start, on the slow poll,
 * when a retry or a probe comes due), not after every attempt.
 */
export class QueueScan {
  /** A scan is wanted: it runs on the next round of the pump. */
  wanted = true;

  constructor(
    private readonly host: ClaimHost,
    private readonly lanes: LaneClaims,
  ) {}

  /**
   * Claims batch after batch while claims come back and the node has room (lanes that filled up
   * are left out of the next batch); with no room left the scan stays wanted, to finish when slots
   * free. Returns whether it put probing lanes in line for a lane claim (the pump then goes round
   * again).
   */
  async claim(): Promise<boolean> {
    const { host } = this;
    const { store, config } = host;
    let queued = false;
    this.wanted = false;
    for (;;) {
      if (host.stopping()) return queued;
      const room = host.nodeFree();
      if (room <= 0) {
        this.wanted = true;
        return queued;
      }
      const now = Date.now();
      const exclude: string[] = [];
      const capacity = new Map<string, number>();
      let nextAt = Number.POSITIVE_INFINITY;
      for (const lane of host.lanes.values()) {
        const free = lane.free(now);
        // A lane held back or waiting for its probe gets a wake-up of its own, so neither waits for the slow poll.
        const waits = lane.waitsUntil;
        if (waits > now && waits < nextAt) nextAt = waits;
        if (lane.probing) {
          // The scan takes oldest due first, which for a merchant that was down is a retry: its
          // probe is claimed for it alone, first attempts first, on the next round of the pump.
          exclude.push(lane.merchantId);
          if (free > 0 && !this.lanes.has(lane)) {
            this.lanes.want(lane);
            queued = true;
          }
        } else if (free === 0) exclude.push(lane.merchantId);
        else capacity.set(lane.merchantId, free);
      }
      if (nextAt !== Number.POSITIVE_INFINITY) host.wakeAt(nextAt);
      const claims = await store.claimDue({
        now,
        limit: Math.min(config.claimBatch, room),
        leaseMs: config.leaseMs,
        exclude,
        capacity,
        defaultCapacity: config.maxInFlightPerMerchant,
      });
      for (const claim of claims) {
        host.launch(claim, now);
        const lane = host.lane(claim.merchantId);
        if (lane.free(now) === 0) lane.backlogged = true; // filled up: it may have more
      }
      if (claims.length === 0) return queued;
    }
  }
}
