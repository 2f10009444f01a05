/**
 * A round's workload, made once and fed unchanged to every contender of the round: N fake
 * transactions (ids, merchant, reference, amount, currency, status, customer, metadata) spread
 * over M merchants; and the ids and secrets the peers make for themselves.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { fakeTransaction, type FakeTransaction } from '../../src/sim/fake.js';

export interface PeerTransaction extends Omit<FakeTransaction, 'merchantId'> {
  /** The transaction id every contender is given (Confirma takes it as the client's id). */
  readonly id: string;
  /** Index of its merchant, 0 … M−1. */
  readonly merchant: number;
}

export interface Workload {
  readonly merchants: number;
  readonly transactions: readonly PeerTransaction[];
}

/** N transactions over `merchants` merchants; none pending, so each makes one confirmation. */
export function makeWorkload(n: number, merchants: number, round: number): Workload {
  const run = `${Date.now().toString(36)}-${round}`;
  const transactions: PeerTransaction[] = [];
  for (let i = 0; i < n; i++) {
    const merchant = i % merchants;
    const { merchantId: _, ...t } = fakeTransaction('', `ord-${run}-${i}`, 0);
    transactions.push({ ...t, id: `tx-${run}-${i}`, merchant });
  }
  return { merchants, transactions };
}

/** A fresh Standard Webhooks secret, for contenders that keep their merchants' secrets themselves. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A fresh `webhook-id` for a peer's job: fixed at enqueue, as Confirma fixes its own at ingest. */
export function newMessageId(): string {
  return `msg_${randomUUID()}`;
}
