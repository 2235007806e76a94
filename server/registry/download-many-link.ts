import { signTuple, validSignature } from '../models/bundle-link.ts';
import { GRANT_PATTERN } from '../storage/fs.ts';
import { MAX_DOWNLOAD_MANY } from './schemas.ts';

/**
 * Signed links for one zip of several models: HMAC-SHA256 (AUTH_SECRET) over the model ids in their
 * order, whom the link is for (`u:<userId>`: only members get one) and the expiry, like the one-model
 * bundle (server/models/bundle-link.ts). Nothing is stored; the route asks again, when the link is used,
 * whether that member may still read every one of the models.
 */
function tuple(modelIds: readonly string[], grant: string, exp: number): readonly unknown[] {
  return ['bundle-many.v1', modelIds, grant, exp];
}

/** The path of the route (mounted under /bundles): a fixed name, so it never matches a model id's `<uuid>.zip`. */
export const MANY_BUNDLE_PATH = '/many.zip';

/** A link valid for `expiresInSeconds` from `nowMs` (the service's clock, `deps.now()`). `modelIds` are lower case. */
export function manyBundleUrl(
  publicUrl: string,
  secret: string,
  modelIds: readonly string[],
  grant: string,
  expiresInSeconds: number,
  nowMs: number,
) {
  const exp = Math.floor(nowMs / 1000) + expiresInSeconds;
  const q = new URLSearchParams({ m: modelIds.join(','), g: grant, exp: String(exp), sig: signTuple(secret, tuple(modelIds, grant, exp)) });
  return { url: `${publicUrl}/bundles${MANY_BUNDLE_PATH}?${q}`, expiresAt: new Date(exp * 1000) };
}

const MODEL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Constant-time check of signature and expiry; returns the model ids and the member (`u:…`) when valid.
 * The ids are parsed as strictly as they are signed (lower case, distinct, at most 50), so nothing odd
 * reaches SQL even under a valid signature.
 */
export function verifyManyBundle(
  secret: string,
  query: { m?: string; g?: string; exp?: string; sig?: string },
  nowMs: number,
): { modelIds: string[]; userId: string } | null {
  const { m, g, exp, sig } = query;
  if (!m || !g || !exp || !sig || !/^\d{1,12}$/.test(exp)) return null;
  if (!GRANT_PATTERN.test(g) || !g.startsWith('u:')) return null;
  const modelIds = m.split(',');
  if (modelIds.length > MAX_DOWNLOAD_MANY || !modelIds.every((id) => MODEL_ID.test(id)) || new Set(modelIds).size !== modelIds.length) return null;
  if (!validSignature(secret, tuple(modelIds, g, Number(exp)), sig, Number(exp), nowMs)) return null;
  return { modelIds, userId: g.slice(2) };
}
