import { Hono } from 'hono';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { clientAddress } from '../http/client-address.ts';
import { linkBack, type LinkEnv, linkRefusals } from '../http/link-page.ts';
import { contentDisposition } from '../storage/content-disposition.ts';
import { keepClearOfGeneratedNames } from '../storage/generated-names.ts';
import type { StorageDriver } from '../storage/storage.ts';
import { type ZipBundleEntry, zipBundle } from '../storage/zip-bundle.ts';
import type { Delivered } from '../registry/checkpoints.ts';
import type { FileKind } from '../vocabulary.ts';
import { verifyBundle } from './bundle-link.ts';
import { openShareBundle } from '../shares/service.ts';
import { bundleName, openBundle } from './service.ts';

/**
 * A model's files as zip entries (under `folder/` when given) and their SHA-256s for the SHA256SUMS inside.
 * Only delivered files (a promoted checkpoint applied) are taken. Models ingested before generated names
 * were kept clear may still hold one (SHA256SUMS, a trainer's README.md): it is renamed here as an ingest would.
 */
export function zipEntries(
  storage: StorageDriver,
  files: Delivered<{ path: string; sizeBytes: number; sha256: string; storageKey: string; kind: FileKind; contentType: string }>[],
  lastModified: Date,
  folder?: string,
): { entries: ZipBundleEntry[]; sha256s: Record<string, string> } {
  // The generated card is README.md by right; every other file keeps clear of the generated names.
  const others = files.filter((f) => f.kind !== 'model_card');
  const kept = new Map(keepClearOfGeneratedNames(others.map((f) => f.path)).map((n, i) => [others[i]!, n.path]));
  const names = files.map((f) => kept.get(f) ?? f.path).map((p) => (folder ? `${folder}/${p}` : p));
  return {
    entries: files.map((f, i) => ({ name: names[i]!, size: Number(f.sizeBytes), lastModified, open: () => storage.get(f.storageKey) })),
    sha256s: Object.fromEntries(files.map((f, i) => [names[i]!, f.sha256])),
  };
}

/**
 * GET /bundles/:id.zip?g&exp&sig — every file of a model as one stored zip (ZIP64 past 4 GB) with a
 * SHA256SUMS inside, streamed from storage one file at a time in constant memory.
 */
export function bundleRoute(deps: Deps): Hono<LinkEnv> {
  const app = new Hono<LinkEnv>();
  // A refusal as a page for a browser, with a way back to the model (or the share); the envelope otherwise.
  app.onError(linkRefusals((c) => linkBack(c.req.query('g'), /([0-9a-f-]{36})\.zip$/.exec(c.req.path)?.[1])));
  app.get('/:file{[0-9a-f-]{36}\\.zip}', async (c) => {
    const artifactId = c.req.param('file').slice(0, 36);
    const grant = verifyBundle(deps.secret, artifactId, c.req.query(), deps.now());
    // Thrown, not answered: onError above (or the service's edge) answers every refusal, with the request id.
    if (!grant) throw ERRORS.badLink();
    // The signature binds whom the link is for and the artifact; the read runs as that member, under
    // row-level security, or through that share link while it is live: a removed member or a revoked
    // link gets nothing, however long the signature has left.
    // A GET is recorded (as models.download records it: the peer, or the forwarded client only behind
    // TRUST_PROXY hops); a HEAD only announces the size.
    const record = c.req.method === 'GET' ? { ip: clientAddress(c, deps.env.trustProxy), userAgent: c.req.header('user-agent') ?? null } : null;
    const { files, ...model } = grant.startsWith('s:')
      ? await openShareBundle(deps, grant.slice(2), artifactId, record)
      : await openBundle(deps, grant.slice(2), artifactId, record);
    const { entries, sha256s } = zipEntries(deps.storage, files, model.createdAt);
    const bundle = zipBundle(entries, sha256s);
    return new Response(c.req.method === 'HEAD' ? null : bundle.stream, {
      headers: {
        'Content-Type': 'application/zip',
        'Content-Length': String(bundle.size),
        'Content-Disposition': contentDisposition(`${bundleName(model.name)}.zip`),
        'Cache-Control': 'private, no-store',
        'X-Content-Type-Options': 'nosniff',
      },
    });
  });
  return app;
}
