import { createHash, randomBytes } from 'node:crypto';

/** Personal API tokens start with `lat_`, per-job worker tokens with `lwt_`; only hashes are stored. */
export const API_TOKEN_PREFIX = 'lat_';
export const WORKER_TOKEN_PREFIX = 'lwt_';

export function generateToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** 256 bits of randomness need no slow hash: SHA-256 is enough and lets us look tokens up by hash. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}
