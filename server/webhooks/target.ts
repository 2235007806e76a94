import { bareHost, hostAddresses } from '../http/public-host.ts';
import { isPrivateAddress } from '../ingest/sources/address-ranges.ts';

/**
 * Why a webhook may not be sent to `url` now, or null when it may: the SSRF guard of https training outputs
 * (server/http/public-host.ts), asked at create and update and again before every delivery, since a name
 * may point elsewhere later. Plain http and non-public addresses only with WEBHOOK_ALLOW_PRIVATE_HOSTS.
 */
export async function targetRefusal(url: URL, allowPrivateHosts: boolean): Promise<string | null> {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivateHosts)) {
    return url.protocol === 'http:'
      ? 'must be https:// (plain http:// is allowed only when the server sets WEBHOOK_ALLOW_PRIVATE_HOSTS, for local receivers)'
      : 'must be an https:// URL';
  }
  if (allowPrivateHosts) return null;
  const host = bareHost(url);
  let addresses: string[];
  try {
    addresses = await hostAddresses(url);
  } catch (error) {
    return `${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  if (addresses.length === 0) return `${host} does not resolve to any address`;
  const blocked = addresses.find(isPrivateAddress);
  if (blocked !== undefined) {
    return `${host} resolves to ${blocked}, a private, loopback or link-local address; webhooks reach public hosts only (WEBHOOK_ALLOW_PRIVATE_HOSTS allows local receivers)`;
  }
  return null;
}
