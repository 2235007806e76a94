import { Hono } from 'hono';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { clientAddress } from '../http/client-address.ts';
import { linkBack, type LinkEnv, linkRefusals } from '../http/link-page.ts';
import { contentDisposition } from '../storage/content-disposition.ts';
import { zipBundle } from '../storage/zip-bundle.ts';
import { zipEntries } from '../models/bundle-route.ts';
import { folderNames, manyBundleName, openManyBundle } from './download-many.ts';
import { MANY_BUNDLE_PATH, verifyManyBundle } from './download-many-link.ts';

/**
 * GET /bundles/many.zip?m=<id>,<id>…&g=u:<userId>&exp&sig — several models as one stored zip (ZIP64 past
 * 4 GB): a folder per model (`family-v3/…`) and one SHA256SUMS at the root listing `folder/path` for every
 * file, streamed from storage one file at a time in constant memory. HEAD announces the size only.
 */
export function downloadManyRoute(deps: Deps): Hono<LinkEnv> {
  const app = new Hono<LinkEnv>();
  // A refusal as a page for a browser, with a way back to the catalogue; the envelope otherwise.
  app.onError(linkRefusals(() => linkBack(undefined, undefined)));
  app.get(MANY_BUNDLE_PATH, async (c) => {
    const link = verifyManyBundle(deps.secret, c.req.query(), deps.now());
    // Thrown, not answered: onError above (or the service's edge) answers every refusal, with the request id.
    if (!link) throw ERRORS.badLink();
    // Read as that member under row-level security: a model trashed, purged or out of their reach since
    // signing fails the whole link before a byte is streamed.
    const record = c.req.method === 'GET' ? { ip: clientAddress(c, deps.env.trustProxy), userAgent: c.req.header('user-agent') ?? null } : null;
    const models = await openManyBundle(deps, link.userId, link.modelIds, record);
    const folders = folderNames(models);
    // Inside its folder a model holds what its own bundle holds (a trainer's SHA256SUMS kept as SHA256SUMS.trainer).
    const parts = models.map((model, i) => zipEntries(deps.storage, model.files, model.createdAt, folders[i]));
    const bundle = zipBundle(
      parts.flatMap((p) => p.entries),
      Object.assign({}, ...parts.map((p) => p.sha256s)),
    );
    return new Response(c.req.method === 'HEAD' ? null : bundle.stream, {
      headers: {
        'Content-Type': 'application/zip',
        'Content-Length': String(bundle.size),
        'Content-Disposition': contentDisposition(manyBundleName(models.length)),
        'Cache-Control': 'private, no-store',
        'X-Content-Type-Options': 'nosniff',
      },
    });
  });
  return app;
}
