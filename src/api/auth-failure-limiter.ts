import { isIPv4, isIPv6 } from 'node:net';

/**
 * Failed authentications per client address: a token bucket per address, filled at `ratePerSec`
 * up to `burst`, one token taken by each request that answers 401. While an address's bucket is
 * empty its requests answer 429 before their key is looked up, so guessing keys (hopeless
 * against 256-bit keys anyway) or hammering with a revoked one costs no store lookups.
 *
 * Addresses: IPv4 as they are (an IPv4-mapped IPv6 address counts as its IPv4); IPv6 by its /64,
 * the block one subscriber is usually given, so one client cannot spread its failures across
 * the 2^64 addresses it owns. Only addresses that failed are kept, least recently failed evicted
 * first past `maxAddresses`, so memory stays bounded whoever sprays requests.
 *
 * One node's view only, like the per-key limit. Behind a proxy every client has the proxy's
 * address unless CONFIRMA_TRUST_PROXY names it (docs/security.md).
 */
export class AuthFailureLimiter {
  /** Map order is least recently failed first: a failure re-inserts its address. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Addresses tracked now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private tokens(b: { tokens: number; at: number }, now: number): number {
    return Math.min(this.burst, b.tokens + ((now - b.at) * this.ratePerSec) / 1000);
  }

  /** Ms until `address` may try again; 0 when it may now. Takes nothing. */
  wait(address: string, now: number): number {
    if (this.ratePerSec <= 0) return 0; // 0 disables the limit
    const b = this.buckets.get(addressKey(address));
    if (b === undefined) return 0;
    const tokens = this.tokens(b, now);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.ratePerSec);
  }

  /** Records one failed authentication from `address`. */
  fail(address: string, now: number): void {
    if (this.ratePerSec <= 0) return;
    const key = addressKey(address);
    const b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxAddresses) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      this.buckets.set(key, { tokens: this.burst - 1, at: now });
      return;
    }
    // Requests that passed wait() together may overdraw by a token or two; never below zero.
    const tokens = Math.max(0, this.tokens(b, now) - 1);
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
  }
}

/** The bucket an address counts against: its IPv4, or its IPv6 /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null && isIPv4(mapped[1]!)) return mapped[1]!;
  const ip = address.split('%')[0] ?? address; // a zone id (fe80::1%eth0) is not part of the address
  if (!isIPv6(ip)) return address;
  const [head = '', tail] = ip.split('::');
  const groupsOf = (part: string): string[] =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const h = groupsOf(head);
  const t = tail === undefined ? [] : groupsOf(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
