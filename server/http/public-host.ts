import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Resolves a host name to every address it has (like `dns.lookup(host, { all: true })`). */
export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const defaultLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The host of `url` as the resolver wants it (an IPv6 literal without its brackets). */
export function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * The first step of the SSRF check shared by every outbound request a user can aim (https training
 * outputs, webhooks): the addresses the host of `url` stands for right now (an IP literal is its own),
 * for the caller to refuse if any is not public (`isPrivateAddress`, server/ingest/sources/address-ranges.ts).
 * Resolved right before each request, never cached. A failed lookup throws the resolver's error (its `code`,
 * e.g. ENOTFOUND, tells a name that does not exist from a resolver that is down); an empty list is the
 * caller's to refuse.
 */
export async function hostAddresses(url: URL, lookup: LookupAll = defaultLookup): Promise<string[]> {
  const host = bareHost(url);
  return isIP(host) ? [host] : (await lookup(host)).map((entry) => entry.address);
}
