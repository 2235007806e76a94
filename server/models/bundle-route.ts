import { and, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { artifactFiles, downloadEvents, modelArtifacts } from '../../db/schema';
import type { Deps } from '../deps';
import { errorBody } from '../errors';
import { clientAddress } from '../http/client-address';
import { contentDisposition } from '../storage/content-disposition';
import { keepClearOfGeneratedNames } from '../storage/generated-names';
import { zipBundle } from '../storage/zip-bundle';
import { verifyBundle } from './bundle-link';
import { bundleName } from './service';

/**
 * GET /bundles/:id.zip?u&exp&sig — every file of a model as one stored zip (ZIP64 past 4 GB) with a
 * SHA256SUMS inside, streamed from storage one file at a time in constant memory.
 */
export function bundleRoute(deps: Deps): Hono {
  const app = new Hono();
  app.get('/:file{[0-9a-f-]{36}\\.zip}', async (c) => {
    const artifactId = c.req.param('file').slice(0, 36);
    const userId = verifyBundle(deps.secret, artifactId, c.req.query());
    if (!userId) return c.json(errorBody('FORBIDDEN', 'This download link is invalid or has expired.'), 403);
    // The signature binds owner and artifact; the owner filter keeps it that way in SQL too.
    const db = deps.database.db;
    const [model] = await db
      .select({ name: modelArtifacts.name, createdAt: modelArtifacts.createdAt })
      .from(modelArtifacts)
      .where(and(eq(modelArtifacts.id, artifactId), eq(modelArtifacts.userId, userId)));
    if (!model) return c.json(errorBody('NOT_FOUND', 'Model not found.'), 404);
    const files = await db
      .select({ id: artifactFiles.id, path: artifactFiles.path, size: artifactFiles.sizeBytes, sha256: artifactFiles.sha256, key: artifactFiles.storageKey })
      .from(artifactFiles)
      .where(and(eq(artifactFiles.artifactId, artifactId), eq(artifactFiles.userId, userId)))
      .orderBy(artifactFiles.path);
    // Models ingested before generated names were kept clear may still hold one: rename it the same way here.
    const names = keepClearOfGeneratedNames(files.map((f) => f.path)).map((n) => n.path);
    const bundle = zipBundle(
      files.map((f, i) => ({ name: names[i]!, size: Number(f.size), lastModified: model.createdAt, open: () => deps.storage.get(f.key) })),
      Object.fromEntries(files.map((f, i) => [names[i]!, f.sha256])),
    );
    if (c.req.method === 'GET') {
      await db.insert(downloadEvents).values({
        userId,
        artifactId,
        fileIds: files.map((f) => f.id),
        kind: 'bundle',
        // As models.download records it: the peer, or the forwarded client only behind TRUST_PROXY hops.
        ip: clientAddress(c, deps.env.trustProxy),
        userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
      });
    }
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
