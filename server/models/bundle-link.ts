import { createHmac, timingSafeEqual } from 'node:crypto';
import { beyondMaxLifetime, GRANT_PATTERN } from '../storage/fs.ts';

/**
 * Signed links for the zip bundle of a model: HMAC-SHA256 (AUTH_SECRET) over the artifact id, whom the
 * link is for (`u:<userId>`, a member; `s:<shareId>`, a share link) and the expiry. Nothing is stored;
 * the route asks again, when the link is used, whether that member or share may still read the model.
 */
function signBundle(secret: string, artifactId: string, grant: string, exp: number): string {
  return signTuple(secret, ['bundle.v3', artifactId, grant, exp]);
}

/** HMAC-SHA256 (AUTH_SECRET) over a JSON tuple: no field's content can move across a boundary into the next. */
export function signTuple(secret: string, tuple: readonly unknown[]): string {
  return createHmac('sha256', secret).update(JSON.stringify(tuple)).digest('base64url');
}

/**
 * Whether `sig` is the signature of `tuple` (compared in constant time) and `exp` (seconds) neither past nor
 * further off than a link may live: the check every signed bundle link makes.
 */
export function validSignature(secret: string, tuple: readonly unknown[], sig: string, exp: number, nowMs: number): boolean {
  const expected = Buffer.from(signTuple(secret, tuple));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return false;
  return exp * 1000 >= nowMs && !beyondMaxLifetime(exp, nowMs);
}

/** A link valid for `expiresInSeconds` from `nowMs` (the service's clock, `deps.now()`; tests fix it). */
export function bundleUrl(publicUrl: string, secret: string, artifactId: string, grant: string, expiresInSeconds: number, nowMs: number) {
  const exp = Math.floor(nowMs / 1000) + expiresInSeconds;
  const q = new URLSearchParams({ g: grant, exp: String(exp), sig: signBundle(secret, artifactId, grant, exp) });
  return { url: `${publicUrl}/bundles/${artifactId}.zip?${q}`, expiresAt: new Date(exp * 1000) };
}

/** Constant-time check of signature and expiry; returns whom the link is for (`u:…`, `s:…`) when valid. */
export function verifyBundle(
  secret: string,
  artifactId: string,
  query: { g?: string; u?: string; exp?: string; sig?: string },
  nowMs: number,
): string | null {
  const { g, u, exp, sig } = query;
  if (!exp || !sig || !/^\d{1,12}$/.test(exp)) return null;
  if (g !== undefined) {
    if (!GRANT_PATTERN.test(g)) return null;
    return validSignature(secret, ['bundle.v3', artifactId, g, Number(exp)], sig, Number(exp), nowMs) ? g : null;
  }
  // v2 links (before teams) were signed over the user id alone; they last at most 7 days and mean `u:<id>`.
  if (!u || u.length > 200) return null;
  return validSignature(secret, ['bundle.v2', artifactId, u, Number(exp)], sig, Number(exp), nowMs) ? `u:${u}` : null;
}
