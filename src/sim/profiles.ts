/**
 * Latency and fault profiles of the simulated merchant fleet. Pure: a profile, a random source and
 * a merchant's index decide what one request gets, so tests can check the statistics on a sample.
 */

export const PROFILES = ['instant', 'realistic', 'chaos'] as const;
export type ProfileName = (typeof PROFILES)[number];

/** How a whole merchant behaves, decided once per merchant. */
export type MerchantMode =
  | 'up'
  /** Its URL points at a closed port: connections are refused. */
  | 'refused'
  /** Accepts connections, never answers. */
  | 'hang'
  /** Answers every request 410 Gone (the engine disables its endpoint). */
  | 'gone';

/** What one request to an `up` merchant gets. */
export type Answer =
  | { kind: 'ok'; delayMs: number }
  | { kind: 'error'; delayMs: number; status: number }
  /** Never answered: the engine's deadline cuts it. */
  | { kind: 'hang' }
  /** 200 with the body written a few bytes at a time over `durationMs`. */
  | { kind: 'drip'; durationMs: number }
  /** The socket is destroyed before any answer. */
  | { kind: 'reset'; delayMs: number }
  | { kind: 'throttle'; delayMs: number; retryAfterSec: number };

export interface Profile {
  readonly name: ProfileName;
  /** Median and p99 of the log-normal answer latency, ms (0 = answer at once). */
  readonly medianMs: number;
  readonly p99Ms: number;
  /** Shares of requests (0..1). */
  readonly error5xx: number;
  readonly hang: number;
  readonly drip: number;
  readonly reset: number;
  readonly throttle: number;
  /** Shares of merchants (0..1). */
  readonly down: number;
  readonly gone: number;
}

const PROFILE_TABLE: Record<ProfileName, Profile> = {
  instant: { name: 'instant', medianMs: 0, p99Ms: 0, error5xx: 0, hang: 0, drip: 0, reset: 0, throttle: 0, down: 0, gone: 0 },
  realistic: {
    name: 'realistic',
    medianMs: 80,
    p99Ms: 800,
    error5xx: 0.02,
    hang: 0.01,
    drip: 0,
    reset: 0,
    throttle: 0,
    down: 0.02,
    gone: 0,
  },
  chaos: {
    name: 'chaos',
    medianMs: 80,
    p99Ms: 800,
    error5xx: 0.03,
    hang: 0.01,
    drip: 0.02,
    reset: 0.01,
    throttle: 0.02,
    down: 0.02,
    gone: 0.02,
  },
};

export function profile(name: ProfileName): Profile {
  return PROFILE_TABLE[name];
}

export function isProfileName(s: string): s is ProfileName {
  return (PROFILES as readonly string[]).includes(s);
}

/** z of the 99th percentile of the standard normal. */
const Z99 = 2.3263478740408408;

/** A standard normal draw (Box–Muller). */
function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1]
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A log-normal latency with the profile's median and p99, capped at 30 s. */
export function latencyMs(p: Profile, random: () => number): number {
  if (p.medianMs <= 0) return 0;
  const sigma = Math.log(p.p99Ms / p.medianMs) / Z99;
  return Math.min(Math.exp(Math.log(p.medianMs) + sigma * normal(random)), 30_000);
}

/**
 * The mode of merchant number `index` out of `count`: the first `down` share (rounded, at least one
 * when the share is > 0 and there are 10+ merchants) is down, alternating refused and hang; the
 * next `gone` share answers 410. Spread by a fixed stride so small fleets still get a mix.
 */
export function merchantMode(p: Profile, index: number, count: number): MerchantMode {
  const nDown = shareOf(p.down, count);
  const nGone = shareOf(p.gone, count);
  // Positions counted from the end, so merchant 0 (the first one created) is always up.
  const pos = count - 1 - index;
  if (pos < nDown) return pos % 2 === 0 ? 'refused' : 'hang';
  if (pos < nDown + nGone) return 'gone';
  return 'up';
}

function shareOf(share: number, count: number): number {
  if (share <= 0) return 0;
  const n = Math.round(share * count);
  return n === 0 && count >= 10 ? 1 : n;
}

/** What one request to an `up` merchant gets. */
export function answer(p: Profile, random: () => number): Answer {
  const r = random();
  let edge = p.error5xx;
  if (r < edge) return { kind: 'error', delayMs: latencyMs(p, random), status: random() < 0.5 ? 500 : 503 };
  if (r < (edge += p.hang)) return { kind: 'hang' };
  if (r < (edge += p.drip)) return { kind: 'drip', durationMs: 200 + random() * 1_800 };
  if (r < (edge += p.reset)) return { kind: 'reset', delayMs: latencyMs(p, random) };
  if (r < (edge += p.throttle)) return { kind: 'throttle', delayMs: latencyMs(p, random) / 4, retryAfterSec: 1 };
  return { kind: 'ok', delayMs: latencyMs(p, random) };
}
