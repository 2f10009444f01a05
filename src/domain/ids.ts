import { randomFillSync } from 'node:crypto';

/** What an id names: transaction, message (confirmation), merchant, API key, signing secret. */
export type IdPrefix = 'tx' | 'msg' | 'mer' | 'key' | 'sec';

/** Crockford's base32: no I, L, O or U, so ids survive being read aloud or retyped. */
const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10; // 48 bits of milliseconds
const RANDOM_CHARS = 16; // 80 bits of randomness
const MAX_TIME = 2 ** 48 - 1;

/** Random bytes are drawn in bulk: one getrandom() call per POOL_SIZE bytes, not one per id. */
const POOL_SIZE = 16 * 1024;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolPos = POOL_SIZE;

/** Millisecond of the last id made, its encoding, and the random part as 16 base32 digits. */
let lastTime = -1;
let timePart = '';
const randomDigits = new Uint8Array(RANDOM_CHARS);

/**
 * A new id: `${prefix}_` followed by 26 Crockford base32 characters, ULID-like — 48 bits of
 * Unix time in milliseconds, then 80 random bits. Ids sort (as strings) by creation time.
 *
 * Within one process they are strictly increasing: an id made in the same millisecond as the one
 * before (or after the clock stepped back) keeps that millisecond and adds a random step of 1 to
 * 2^32 to the random part, so neighbours stay sorted yet cannot be guessed by counting. In the
 * unreachable case that the random part overflows, the time part moves one millisecond ahead.
 * Across processes ids are unique by their 80 random bits but only sorted to the millisecond.
 *
 * Ids are identifiers, not secrets: never use one as a key or a signing secret.
 */
export function newId(prefix: IdPrefix): string {
  const now = Date.now();
  if (now > lastTime) {
    startMillisecond(now);
  } else if (!addToRandom(randomUint32() + 1)) {
    startMillisecond(lastTime + 1);
  }
  let id = `${prefix}_${timePart}`;
  for (let i = 0; i < RANDOM_CHARS; i++) id += ENCODING[randomDigits[i]!];
  return id;
}

/** Ids a client may choose for its own transactions: 1 to 64 of `A-Z a-z 0-9 _ . : -`. */
export const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Whether `s` is acceptable as a client-supplied transaction id (a string of 1–64 `[A-Za-z0-9_.:-]`). */
export function isValidClientId(s: unknown): boolean {
  return typeof s === 'string' && CLIENT_ID.test(s);
}

/** Moves to millisecond `t` with a fresh random part. */
function startMillisecond(t: number): void {
  if (t > MAX_TIME) throw new Error(`clock reads ${t} ms, beyond the 48-bit id time range`);
  lastTime = t;
  let rest = t;
  let encoded = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    encoded = ENCODING[rest % 32]! + encoded;
    rest = Math.floor(rest / 32);
  }
  timePart = encoded;
  const at = take(RANDOM_CHARS);
  // 256 is a multiple of 32, so the low 5 bits of a uniform byte are a uniform base32 digit.
  for (let i = 0; i < RANDOM_CHARS; i++) randomDigits[i] = pool[at + i]! & 31;
}

/**
 * Adds `step` to the random part in place. Returns false if the sum overflows 80 bits; the part is
 * then garbage, which is fine because the caller replaces it with a fresh one.
 */
function addToRandom(step: number): boolean {
  let carry = step;
  for (let i = RANDOM_CHARS - 1; i >= 0 && carry > 0; i--) {
    const sum = randomDigits[i]! + carry;
    randomDigits[i] = sum % 32;
    carry = Math.floor(sum / 32);
  }
  return carry === 0;
}

/** A uniform random integer in [0, 2^32). */
function randomUint32(): number {
  return pool.readUInt32LE(take(4));
}

/** Reserves `n` bytes of the pool and returns where they start, refilling the pool when it runs out. */
function take(n: number): number {
  if (poolPos + n > POOL_SIZE) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const at = poolPos;
  poolPos += n;
  return at;
}

/**
 * The lowest possible id made at `ms` or later: every id with this prefix made before `ms` sorts
 * below it, so `id < idFloor(prefix, t)` selects by creation time through an index on id.
 */
export function idFloor(prefix: IdPrefix, ms: number): string {
  let rest = Math.max(0, Math.min(Math.floor(ms), MAX_TIME));
  let encoded = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    encoded = ENCODING[rest % 32]! + encoded;
    rest = Math.floor(rest / 32);
  }
  return `${prefix}_${encoded}`;
}
