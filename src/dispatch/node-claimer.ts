import type { Claim } from '../domain/confirmation.js';
import type { Logger } from '../observe/logger.js';
import type { IngestClaimer } from '../store/store.js';
import type { ClaimHost } from './claim-host.js';
import type { Lane } from './lane.js';

/** An ingest claimer that reserves lane slots until the commit's claims are handed over. */
export interface NodeClaimer extends IngestClaimer {
  /** Call once with what the commit claimed (nothing if it failed): sends them, gives back the rest. */
  settle(claims: readonly Claim[]): void;
}

/** What a node claimer needs of its dispatcher, besides what the claim strategies do. */
export interface NodeClaimerHost extends ClaimHost {
  readonly log: Logger;
  /** Counts `n` of the node's slots as reserved for a commit still running (negative: gives them back). */
  reserve(n: number): void;
  /** Asks for claims for these merchants' lanes. */
  wake(merchantIds: Iterable<string>): void;
}

/**
 * A claimer for one ingest commit: it takes a new due confirmation while its merchant's lane and
 * the node have free slots, reserving each slot until `settle` (the commit may run on another
 * thread or server meanwhile), so the commit writes the row `inflight` for this node.
 */
export function nodeClaimer(host: NodeClaimerHost): NodeClaimer {
  const now = Date.now();
  const held = new Map<Lane, number>();
  let settled = false;
  return {
    leaseMs: host.config.leaseMs,
    unasked: Math.max(host.nodeFree(), 0),
    take: (merchantId) => {
      if (settled || host.nodeFree() <= 0) return false;
      // Only merchants this node already delivers for: an op naming an unknown merchant (it will
      // be refused) must not create a lane. A merchant's first rows go through the claim loop.
      const lane = host.lanes.get(merchantId);
      // A lane still working through a backlog keeps its order of work: the claim loop feeds it.
      if (lane === undefined || lane.backlogged || lane.free(now) <= 0) return false;
      lane.reserved++;
      host.reserve(1);
      held.set(lane, (held.get(lane) ?? 0) + 1);
      return true;
    },
    settle: (claims) => {
      if (settled) return;
      settled = true;
      const at = Date.now();
      const unasked: Claim[] = [];
      for (const claim of claims) {
        const lane = host.lanes.get(claim.merchantId);
        const n = lane === undefined ? 0 : (held.get(lane) ?? 0);
        if (lane === undefined || n <= 0) {
          unasked.push(claim);
          continue;
        }
        held.set(lane, n - 1);
        lane.reserved--;
        host.reserve(-1);
        // The commit wrote the lease from its own start, which is no earlier than `now`.
        host.launch(claim, now);
      }
      for (const [lane, n] of held) {
        lane.reserved -= n;
        host.reserve(-n);
      }
      if (unasked.length > 0) settleUnasked(host, unasked, now, at);
    },
  };
}

/**
 * Rows an ingest commit took without a reservation (see `IngestClaimer.unasked`): each goes out
 * if its lane and the node have a free slot now; the others are handed back to the queue and
 * their lanes asked to claim them as usual.
 */
function settleUnasked(host: NodeClaimerHost, claims: readonly Claim[], claimedAt: number, now: number): void {
  const back: Claim[] = [];
  for (const claim of claims) {
    const lane = host.lane(claim.merchantId);
    if (lane.free(now) > 0 && host.nodeFree() > 0) host.launch(claim, claimedAt);
    else back.push(claim);
  }
  if (back.length === 0) return;
  host.store.releaseClaims(back, now).then(
    () => host.wake(new Set(back.map((c) => c.merchantId))),
    (err: unknown) => host.log.error({ err }, 'handing back claims failed'),
  );
}
