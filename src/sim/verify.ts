import { Pool } from 'undici';
import { unpackExpected } from './load.js';
import type { MerchantMode } from './profiles.js';

/**
 * Checks what the load generator got acknowledged against what the fleet's ledger received. A
 * confirmation missing from the ledger is looked up in the engine: still queued (its merchant is
 * down, or its next retry is scheduled), dead-lettered, parked (endpoint disabled) — or lost: not
 * delivered and not anywhere in the engine's queue. Lost must be 0.
 */

/** `txId#seq` of every confirmation the ledger holds. */
export function deliveredKeys(entries: Iterable<readonly [string, { tx: string; seq: number }]>): Set<string> {
  const keys = new Set<string>();
  for (const [, e] of entries) keys.add(`${e.tx}#${e.seq}`);
  return keys;
}

export interface Missing {
  readonly tx: string;
  readonly seq: number;
  readonly merchantIndex: number;
}

/** Acknowledged confirmations not in the ledger. */
export function findMissing(expected: ReadonlyMap<string, number>, delivered: ReadonlySet<string>): Missing[] {
  const out: Missing[] = [];
  for (const [tx, v] of expected) {
    const { confirmations, merchantIndex } = unpackExpected(v);
    for (let seq = 1; seq <= confirmations; seq++) if (!delivered.has(`${tx}#${seq}`)) out.push({ tx, seq, merchantIndex });
  }
  return out;
}

export interface Verdict {
  /** Acknowledged confirmations (creates + approvals). */
  readonly expected: number;
  /** Of those, in the fleet's ledger. */
  readonly delivered: number;
  /** Queued in the engine for a merchant that is down. */
  readonly retryingMerchantDown: number;
  /** Queued in the engine for a healthy merchant (a retry not yet due). */
  readonly retryingHealthy: number;
  readonly dead: number;
  readonly parked: number;
  /** Acknowledged, not delivered, not queued: must be 0. */
  readonly lost: number;
  readonly lostSamples: string[];
}

/**
 * Looks up each missing confirmation in the engine (GET /v1/transactions/:id?merchantId=, as ids
 * are unique per merchant) and sorts it.
 */
export async function classify(
  engineUrl: string,
  adminKey: string,
  expectedCount: number,
  missing: readonly Missing[],
  modeOf: (merchantIndex: number) => MerchantMode,
  /** The engine's id of a fleet merchant. */
  merchantIdOf: (merchantIndex: number) => string,
  /** Asked again when the engine says delivered: the ledger may have got it since it was read. */
  isDelivered: (tx: string, seq: number) => boolean,
): Promise<Verdict> {
  const pool = new Pool(engineUrl, { connections: 8 });
  const byTx = new Map<string, Missing[]>();
  for (const m of missing) byTx.set(m.tx, [...(byTx.get(m.tx) ?? []), m]);
  let retryingMerchantDown = 0;
  let retryingHealthy = 0;
  let dead = 0;
  let parked = 0;
  let lost = 0;
  const lostSamples: string[] = [];
  const txs = [...byTx.keys()];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < txs.length) {
      const tx = txs[next++] as string;
      const ms = byTx.get(tx) ?? [];
      const merchantId = merchantIdOf(ms[0]?.merchantIndex ?? 0);
      const path = `/v1/transactions/${tx}?merchantId=${encodeURIComponent(merchantId)}`;
      const res = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${adminKey}` } });
      const body = (await res.body.json()) as { confirmations?: Array<{ seq: number; state: string }> };
      for (const m of ms) {
        const state = body.confirmations?.find((c) => c.seq === m.seq)?.state;
        if (state === 'pending' || state === 'inflight' || state === 'waiting') {
          if (modeOf(m.merchantIndex) === 'up') retryingHealthy++;
          else retryingMerchantDown++;
        } else if (state === 'dead') dead++;
        else if (state === 'parked') parked++;
        else if (state === 'delivered' && isDelivered(tx, m.seq)) continue;
        else {
          lost++;
          if (lostSamples.length < 10) lostSamples.push(`${tx}#${m.seq} (${state ?? `HTTP ${res.statusCode}`})`);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    await pool.close();
  }
  return {
    expected: expectedCount,
    delivered: expectedCount - retryingMerchantDown - retryingHealthy - dead - parked - lost,
    retryingMerchantDown,
    retryingHealthy,
    dead,
    parked,
    lost,
    lostSamples,
  };
}

/** How many confirmations `expected` stands for. */
export function countExpected(expected: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of expected.values()) n += unpackExpected(v).confirmations;
  return n;
}
