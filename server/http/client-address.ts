import { isIP } from 'node:net';
import type { Context } from 'hono';

/** What Bun's server hands Hono as `c.env`: the socket's peer address. */
type SocketEnv = { requestIP?: (req: Request) => { address: string } | null } | undefined;

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) and `1.2.3.4` are one client. */
function normalise(address: string): string {
  const a = address.trim().toLowerCase();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/**
 * The client's address from the socket's peer and an X-Forwarded-For value. The header is believed only
 * for `trustProxy` hops (TRUST_PROXY): with N proxies in front, the client is the Nth entry from the right,
 * the one our outermost proxy wrote; entries further left are whatever the client sent and never used.
 * With fewer entries than hops, the leftmost is taken. An entry that is not an IP address (a misconfigured
 * proxy) falls back to the socket's address rather than keying limits by client-chosen text.
 */
export function resolveClientAddress(socket: string | null, forwardedFor: string | null, trustProxy: number): string | null {
  const peer = socket ? normalise(socket) : null;
  if (trustProxy <= 0 || !forwardedFor) return peer;
  const hops = forwardedFor
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (!hops.length) return peer;
  const entry = normalise(hops[Math.max(0, hops.length - trustProxy)]!);
  return isIP(entry) ? entry : peer;
}

/** The socket's peer address (Bun's `server.requestIP`), or null outside a Bun server (app.request in tests). */
function socketAddress(c: Context): string | null {
  const address = (c.env as SocketEnv)?.requestIP?.(c.req.raw)?.address;
  return address ? normalise(address) : null;
}

/**
 * The one answer to "who is calling", used by rate limits, the tRPC context, download records and /readyz:
 * the socket's address, or the forwarded client address when TRUST_PROXY says proxies stand in front.
 */
export function clientAddress(c: Context, trustProxy: number): string | null {
  return resolveClientAddress(socketAddress(c), c.req.header('x-forwarded-for') ?? null, trustProxy);
}

/**
 * What a per-address limit counts: an IPv4 address as it is, an IPv6 address by its /64 (one subscriber's
 * network: a client given a /64 could otherwise pick a fresh address for every attempt).
 */
export function limitKey(address: string | null): string {
  if (!address) return 'unknown';
  const a = normalise(address);
  if (isIP(a) !== 6) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** 127.0.0.0/8 and ::1. */
export function isLoopback(address: string | null): boolean {
  if (!address) return false;
  const a = normalise(address);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * A caller on this machine: the socket's peer is loopback and, behind trusted proxies, so is the client the
 * proxies saw (a local proxy forwarding an outside client makes the caller remote). Without a socket address
 * (no Bun server) nobody is local.
 */
export function isLocalCaller(c: Context, trustProxy: number): boolean {
  return isLoopback(socketAddress(c)) && isLoopback(clientAddress(c, trustProxy));
}
