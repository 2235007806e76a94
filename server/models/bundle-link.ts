import { createHmac, timingSafeEqual } from 'node:crypto';
import { beyondMaxLifetime } from '../storage/fs.ts';

/**
 * Signed links for the zip bundle of a model: HMAC-SHA256 (AUTH_SECRET) over the artifact id, the
 * owner and the expiry. Like file links, nothing is stored; a link works until it expires.
 */
function signBundle(secret: string, artifactId: string, userId: string, exp: number): string {
  // JSON of a tuple: no field's content can move across a boundary into the next.
  return createHmac('sha256', secret)
    .update(JSON.stringify(['bundle.v2', artifactId, userId, exp]))
    .digest('base64url');
}

/** A link valid for `expiresInSeconds` from `nowMs` (the service's clock, `deps.now()`; tests fix it). */
export function bundleUrl(publicUrl: string, secret: string, artifactId: string, userId: string, expiresInSeconds: number, nowMs: number) {
  const exp = Math.floor(nowMs / 1000) + expiresInSeconds;
  const q = new URLSearchParams({ u: userId, exp: String(exp), sig: signBundle(secret, artifactId, userId, exp) });
  return { url: `${publicUrl}/bundles/${artifactId}.zip?${q}`, expiresAt: new Date(exp * 1000) };
}

/** Constant-time check of signature and expiry; returns the owner's id when valid. */
export function verifyBundle(secret: string, artifactId: string, query: { u?: string; exp?: string; sig?: string }, nowMs: number): string | null {
  const { u, exp, sig } = query;
  if (!u || !exp || !sig || !/^\d{1,12}$/.test(exp) || u.length > 200) return null;
  const expected = Buffer.from(signBundle(secret, artifactId, u, Number(exp)));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  if (Number(exp) * 1000 < nowMs || beyondMaxLifetime(Number(exp), nowMs)) return null;
  return u;
}
