import { isIP } from 'node:net';

/**
 * Which IP addresses an outbound fetch may reach: the SSRF guard of HttpsSource asks `isPrivateAddress`
 * about every address a host resolves to. The rules are tables of CIDR blocks, checked in order:
 *   1. BLOCKED_V4 / BLOCKED_V6: never reachable from here (private, loopback, link-local, multicast, …),
 *      including tunnels whose far end we cannot see (Teredo).
 *   2. EMBEDDING_V6: IPv6 forms that carry an IPv4 address a translator or tunnel will deliver to
 *      (IPv4-mapped, IPv4-compatible, NAT64, 6to4); the embedded IPv4 address decides.
 *   3. Anything else is public.
 */

type V4Block = readonly [base: string, bits: number];

/** IPv4 ranges no training output may live on: private, CGNAT, loopback, link-local, reserved, multicast. */
const BLOCKED_V4: readonly V4Block[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT, also used inside some cloud VPCs
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including the 169.254.169.254 metadata service
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
];

/** IPv6 ranges refused outright, whatever they carry. */
const BLOCKED_V6: ReadonlyArray<readonly [base: string, bits: number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): the operator's own translator, so any IPv4 behind it
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo: a tunnel whose relay can deliver to hosts on the far side's private network
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];

/** The low 32 bits: where IPv4-mapped, IPv4-compatible and NAT64 addresses keep their IPv4 address. */
const low32 = (address: bigint): number => Number(address & 0xffffffffn);

/** IPv6 ranges that embed an IPv4 address, and how to take it out; that address decides. */
const EMBEDDING_V6: ReadonlyArray<readonly [base: string, bits: number, embedded: (address: bigint) => number]> = [
  ['::ffff:0:0', 96, low32], // IPv4-mapped ::ffff:a.b.c.d
  ['::', 96, low32], // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
  ['64:ff9b::', 96, low32], // NAT64 well-known prefix (RFC 6052)
  ['2002::', 16, (address) => Number((address >> 80n) & 0xffffffffn)], // 6to4: 2002:aabb:ccdd::/48
];

/** Dotted-quad text as a 32-bit number, or null when it is not exactly four decimal octets. */
function parseV4(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

/** IPv6 text (zone id allowed, dotted IPv4 tail allowed) as a 128-bit number, or null when it is not IPv6. */
function parseV6(ip: string): bigint | null {
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  // A dotted IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const toGroups = (s: string) => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN)));
  const head = toGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? toGroups(halves[1] ?? '') : [];
  const known = head.length + rest.length + tail.length;
  if (known > 8 || (halves.length === 1 && known !== 8)) return null;
  const groups = [...head, ...Array<number>(8 - known).fill(0), ...rest, ...tail];
  if (groups.some((g) => Number.isNaN(g))) return null;
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** Parses a table's base address; a typo in a table is a bug, so it throws at load rather than failing open. */
function tableV6(base: string): bigint {
  const value = parseV6(base);
  if (value === null) throw new Error(`address-ranges: bad IPv6 table entry ${base}`);
  return value;
}

function tableV4(base: string): number {
  const value = parseV4(base);
  if (value === null) throw new Error(`address-ranges: bad IPv4 table entry ${base}`);
  return value;
}

const blockedV4 = BLOCKED_V4.map(([base, bits]) => ({ start: tableV4(base), size: 2 ** (32 - bits) }));
const blockedV6 = BLOCKED_V6.map(([base, bits]) => ({ base: tableV6(base), shift: BigInt(128 - bits) }));
const embeddingV6 = EMBEDDING_V6.map(([base, bits, embedded]) => ({ base: tableV6(base), shift: BigInt(128 - bits), embedded }));

function v4Blocked(value: number): boolean {
  return blockedV4.some(({ start, size }) => value >= start && value < start + size);
}

function v6Blocked(address: bigint): boolean {
  if (blockedV6.some(({ base, shift }) => address >> shift === base >> shift)) return true;
  const embedding = embeddingV6.find(({ base, shift }) => address >> shift === base >> shift);
  return embedding ? v4Blocked(embedding.embedded(address)) : false;
}

/**
 * True when `ip` (IPv4 or IPv6 text, brackets and zone id allowed) is not a public unicast address:
 * private, CGNAT, loopback, link-local (cloud metadata), unique-local, unspecified, multicast, reserved,
 * a Teredo tunnel, or an IPv6 form that embeds a blocked IPv4 address (IPv4-mapped, IPv4-compatible,
 * NAT64, 6to4). Unparseable text counts as private, so a parser gap fails closed.
 */
export function isPrivateAddress(ip: string): boolean {
  const text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(text.split('%')[0] ?? '');
  if (family === 4) {
    const v4 = parseV4(text);
    return v4 === null || v4Blocked(v4);
  }
  if (family === 6) {
    const v6 = parseV6(text);
    return v6 === null || v6Blocked(v6);
  }
  return true;
}
