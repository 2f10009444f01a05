/**
 * The SSRF guard. A merchant chooses the URL we POST to, so a hostile or careless one could point
 * us at our own loopback, the cloud metadata service or the private network. We refuse those at
 * two moments:
 *
 * - at registration (`checkUrlDestination`): the URL's scheme, userinfo and IP-literal host;
 * - at connect time (`makeGuardedLookup`, plus the IP-literal check in the HTTP client's
 *   connector): every address a host name resolves to. The socket then dials exactly the address
 *   that was checked, so a DNS answer that changes between check and use (rebinding) cannot slip
 *   through.
 *
 * Addresses are parsed by hand into numbers so that every spelling of one address (IPv4-mapped,
 * IPv4-compatible, zone ids) is judged by the same rules.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIPv4, isIPv6, type LookupFunction } from 'node:net';

/** A parsed address: IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit groups. */
type Ip = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly g: Uint16Array };

/** A CIDR range in parsed form. */
interface Range {
  readonly v: 4 | 6;
  readonly n: number; // IPv4 network (unused for IPv6)
  readonly g: Uint16Array; // IPv6 network (empty for IPv4)
  readonly prefix: number;
}

const NO_GROUPS = new Uint16Array(0);

function parseV4(s: string): number | undefined {
  if (!isIPv4(s)) return undefined;
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return n * 256 + part;
}

function parseV6(input: string): Uint16Array | undefined {
  const pct = input.indexOf('%');
  const s = pct === -1 ? input : input.slice(0, pct); // a zone id does not change which host it is
  if (!isIPv6(s)) return undefined;
  const g = new Uint16Array(8);
  let head = s;
  let tail = '';
  const dc = s.indexOf('::');
  if (dc !== -1) {
    head = s.slice(0, dc);
    tail = s.slice(dc + 2);
  }
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseV4(piece) ?? 0;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const h = toGroups(head);
  const t = toGroups(tail);
  for (let i = 0; i < h.length; i++) g[i] = h[i] ?? 0;
  for (let i = 0; i < t.length; i++) g[8 - t.length + i] = t[i] ?? 0;
  return g;
}

function parseIp(s: string): Ip | undefined {
  const n = parseV4(s);
  if (n !== undefined) return { v: 4, n };
  const g = parseV6(s);
  return g === undefined ? undefined : { v: 6, g };
}

function parseRange(cidr: string): Range {
  const slash = cidr.indexOf('/');
  const addr = slash === -1 ? cidr : cidr.slice(0, slash);
  const ip = parseIp(addr);
  if (ip === undefined) throw new Error(`"${cidr}" is not an IP address or CIDR range`);
  const max = ip.v === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = cidr.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw new Error(`"${cidr}" has an invalid prefix length (0 to ${max})`);
    }
    prefix = Number(p);
  }
  return ip.v === 4 ? { v: 4, n: ip.n, g: NO_GROUPS, prefix } : { v: 6, n: 0, g: ip.g, prefix };
}

function v4In(n: number, r: Range): boolean {
  if (r.prefix === 0) return true;
  const mask = (0xffffffff << (32 - r.prefix)) >>> 0;
  return (n & mask) >>> 0 === (r.n & mask) >>> 0;
}

function v6In(g: Uint16Array, r: Range): boolean {
  let bits = r.prefix;
  for (let i = 0; i < 8 && bits > 0; i++) {
    const take = bits >= 16 ? 16 : bits;
    const mask = (0xffff << (16 - take)) & 0xffff;
    if (((g[i] ?? 0) & mask) !== ((r.g[i] ?? 0) & mask)) return false;
    bits -= take;
  }
  return true;
}

function inRange(ip: Ip, r: Range): boolean {
  if (ip.v !== r.v) return false;
  return ip.v === 4 ? v4In(ip.n, r) : v6In(ip.g, r);
}

/** The IPv4 address an IPv6 address carries (mapped, SIIT-translated or compatible), if any. */
function embeddedV4(g: Uint16Array): number | undefined {
  if (g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0) return undefined;
  const g4 = g[4] ?? 0;
  const g5 = g[5] ?? 0;
  const mapped = g4 === 0 && g5 === 0xffff; // ::ffff:a.b.c.d
  const translated = g4 === 0xffff && g5 === 0; // ::ffff:0:a.b.c.d (SIIT)
  const compatible = g4 === 0 && g5 === 0; // ::a.b.c.d (deprecated; includes :: and ::1)
  if (!mapped && !translated && !compatible) return undefined;
  return ((g[6] ?? 0) * 65536 + (g[7] ?? 0)) >>> 0;
}

const BLOCKED_V4 = [
  '0.0.0.0/8', // "this" network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, incl. the cloud metadata service 169.254.169.254
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // 6to4 relay anycast (deprecated)
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, incl. broadcast 255.255.255.255
].map(parseRange);

const BLOCKED_V6 = [
  '::/128', // unspecified
  '::1/128', // loopback
  '64:ff9b::/96', // NAT64: would reach IPv4 through a translator we cannot see through
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard-only
  '2001::/32', // Teredo
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated)
  'ff00::/8', // multicast
].map(parseRange);

function v4Blocked(n: number): boolean {
  for (const r of BLOCKED_V4) if (v4In(n, r)) return true;
  return false;
}

/**
 * Whether we must never connect to `ip`. Anything that does not parse as an address counts as
 * blocked: the guard fails closed.
 */
export function isBlockedAddress(ip: string): boolean {
  const p = parseIp(ip);
  if (p === undefined) return true;
  if (p.v === 4) return v4Blocked(p.n);
  const v4 = embeddedV4(p.g);
  if (v4 !== undefined && v4Blocked(v4)) return true;
  for (const r of BLOCKED_V6) if (v6In(p.g, r)) return true;
  return false;
}

/** Ranges an operator lets through the guard anyway (a test fleet on loopback, a private VPC). */
export interface AllowList {
  /** Whether `ip` lies in one of the ranges; an IPv4-mapped IPv6 address matches IPv4 ranges too. */
  allows(ip: string): boolean;
  /** The ranges as given, for logs and `--help`. */
  readonly spec: string;
}

/**
 * Parses the operator's allow list: a comma list of CIDRs or single addresses, and/or the word
 * `loopback` (127.0.0.0/8 and ::1). An empty spec allows nothing. Throws on a malformed entry so a
 * typo fails start-up instead of silently blocking (or allowing) traffic.
 */
export function parseAllowList(spec: string): AllowList {
  const ranges: Range[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (item.toLowerCase() === 'loopback') {
      ranges.push(parseRange('127.0.0.0/8'), parseRange('::1/128'));
      continue;
    }
    ranges.push(parseRange(item));
  }
  return {
    spec,
    allows(ip: string): boolean {
      if (ranges.length === 0) return false;
      const p = parseIp(ip);
      if (p === undefined) return false;
      const v4 = p.v === 6 ? embeddedV4(p.g) : undefined;
      const alt: Ip | undefined = v4 === undefined ? undefined : { v: 4, n: v4 };
      for (const r of ranges) {
        if (inRange(p, r)) return true;
        if (alt !== undefined && inRange(alt, r)) return true;
      }
      return false;
    },
  };
}

/** True when the guard must refuse `ip` under `allow`. */
export function isRefused(ip: string, allow: AllowList): boolean {
  return isBlockedAddress(ip) && !allow.allows(ip);
}

/** The error the guard fails a connection with; the HTTP client maps its code to `blocked_destination`. */
export function blockedDestinationError(address: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`destination ${address} is a private or reserved address`);
  err.code = 'ERR_BLOCKED_DESTINATION';
  return err;
}

/**
 * A `lookup` for `net.connect` (undici's `connect: { lookup }`) that refuses to connect when any
 * address the name resolves to is blocked. Checking all of them, not only the first, means a name
 * that mixes a public and a private address is refused outright rather than depending on which one
 * the resolver or Happy Eyeballs picks. The checked addresses are what the socket dials.
 */
export function makeGuardedLookup(allow: AllowList, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { family: options.family, hints: options.hints }, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      for (const a of addresses) {
        if (isRefused(a.address, allow)) {
          callback(blockedDestinationError(a.address), '', 0);
          return;
        }
      }
      const first: LookupAddress | undefined = addresses[0];
      if (first === undefined) {
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolved to no address`);
        e.code = 'ENOTFOUND';
        callback(e, '', 0);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

/** The result of a registration-time URL check; `reason` is safe to show to the API caller. */
export type UrlCheck = { ok: true } | { ok: false; reason: string };

/**
 * Checks a merchant URL when it is registered or changed, so obvious mistakes get a clear 400
 * instead of a stream of failed attempts. Only what the URL itself says is checked (scheme,
 * userinfo, IP literals in any spelling the WHATWG parser normalises, `localhost`); names that
 * resolve to private addresses are caught at connect time by the guarded lookup.
 */
/**
 * Resolves a host name to all its addresses. The system resolver by default; tests pass their own
 * to script DNS answers (e.g. a rebinding attack: public first, loopback next).
 */
export type Resolver = (
  hostname: string,
  options: { family?: number | string | undefined; hints?: number | undefined },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** dns.lookup with `all: true`: what the operating system (hosts file, DNS) answers. */
export const systemResolver: Resolver = (hostname, options, callback) => {
  const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family as number | undefined);
  dnsLookup(hostname, { all: true, family: family ?? 0, hints: options.hints }, callback);
};

/**
 * The registration-time check with DNS: `checkUrlDestination`, then, for a host name, every
 * address it resolves to right now must be allowed. A name that does not resolve (yet) is accepted:
 * the connect-time guard checks the address actually dialled on every attempt, so a name that
 * later resolves somewhere private (DNS rebinding) is stopped there.
 */
export async function checkUrlDestinationResolved(
  url: string,
  allow: AllowList,
  resolve: Resolver = systemResolver,
): Promise<UrlCheck> {
  const literal = checkUrlDestination(url, allow);
  if (!literal.ok) return literal;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIPv4(host) || isIPv6(host)) return literal;
  const addresses = await new Promise<LookupAddress[]>((done) => {
    resolve(host, {}, (err, found) => done(err === null ? found : []));
  });
  const refused = addresses.find((a) => isRefused(a.address, allow));
  return refused === undefined
    ? { ok: true }
    : { ok: false, reason: `${host} resolves to ${refused.address}, a private, loopback or reserved address` };
}

export function checkUrlDestination(url: string, allow: AllowList): UrlCheck {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return { ok: false, reason: `scheme ${u.protocol} is not allowed; use http or https` };
  }
  if (u.username !== '' || u.password !== '') {
    return { ok: false, reason: 'credentials in the URL (user@host) are not allowed' };
  }
  let host = u.hostname.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return { ok: false, reason: 'the URL has no host' };
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return allow.allows('127.0.0.1') ? { ok: true } : { ok: false, reason: `${host} is a loopback name` };
  }
  // The parser has already turned 2130706433, 0x7f.1, 017700000001 … into dotted-quad form.
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIPv4(literal) || isIPv6(literal)) {
    if (isRefused(literal, allow)) {
      return { ok: false, reason: `${literal} is a private, loopback or reserved address` };
    }
  }
  return { ok: true };
}
