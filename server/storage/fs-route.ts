/**
 * Serves the fs driver's signed links. Mount with `app.route('/files', fsFilesRoute(driver))`.
 * The signature and expiry are checked before the disk is touched, so a forged link learns nothing,
 * not even whether the object exists.
 */
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { AppError, ERRORS, errorResponse } from '../errors.ts';
import { linkBack, linkRefusal, modelOfKey } from '../http/link-page.ts';
import { contentDisposition } from './content-disposition.ts';
import type { FsObject, FsStorage } from './fs.ts';

type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * One `bytes=` range against `size`. Multiple ranges, other units and malformed values return null,
 * which means "send the whole file" (RFC 9110 lets a server ignore Range).
 */
function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return null;
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (!match) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(first);
  // Past the end first: `bytes=1000-` of a 64-byte file is unsatisfiable (416), not a malformed range.
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Number(last);
  if (end < start) return null;
  return { start, end: Math.min(end, size - 1) };
}

function etagOf(key: string, object: FsObject): string {
  // Strong: a replaced object always gets a new mtime (it is a new file renamed into place).
  const digest = createHash('sha256').update(`${key}\n${object.size}\n${object.mtimeMs}`).digest('base64url');
  return `"${digest.slice(0, 27)}"`;
}

/** If-None-Match uses the weak comparison: `W/` is ignored. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * A Hono app serving GET and HEAD of links made by `driver.signedUrl`. Refusals use the service's one
 * envelope (`errorResponse`), with the request id when the app it is mounted in set one, or a page for a
 * browser (`linkRefusal`).
 */
export function fsFilesRoute(
  driver: FsStorage,
  /** Whether whom a link was signed for (SignOptions.grant) may still read the object; asked per request. */
  mayStillRead?: (key: string, grant: string) => Promise<boolean>,
): Hono<{ Variables: { requestId?: string } }> {
  const app = new Hono<{ Variables: { requestId?: string } }>();

  // Hono routes HEAD through GET handlers and drops the body; we still avoid opening the file for it.
  app.get('/:key{.+}', async (c) => {
    const url = new URL(c.req.url);
    const query = url.searchParams;
    const link = driver.verify({
      key: c.req.param('key'),
      exp: query.get('exp') ?? undefined,
      fn: query.get('fn') ?? undefined,
      sig: query.get('sig') ?? undefined,
      ct: query.get('ct') ?? undefined,
      g: query.get('g') ?? undefined,
    });
    // A browser gets a page with a way back (server/http/link-page.ts); curl gets the status and the envelope.
    const refuse = (err: AppError) =>
      linkRefusal(err, linkBack(query.get('g') ?? undefined, modelOfKey(c.req.param('key'))), c.req.header('accept'), c.get('requestId'));
    if (!link) return refuse(ERRORS.badLink());
    // A link signed for a member (or a share) works only while they still may read the model.
    if (link.grant !== undefined && !(await mayStillRead?.(link.key, link.grant))) {
      return refuse(new AppError('FORBIDDEN', 'You no longer have access to this file.'));
    }

    const object = await driver.locate(link.key);
    if (!object) return refuse(new AppError('NOT_FOUND', 'This file no longer exists.'));

    const etag = etagOf(link.key, object);
    const lastModified = new Date(Math.floor(object.mtimeMs / 1000) * 1000).toUTCString();
    const headers: Record<string, string> = {
      'Content-Type': link.contentType ?? 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': lastModified,
      'Cache-Control': 'private, no-store',
      'Content-Disposition': contentDisposition(link.fileName),
      'X-Content-Type-Options': 'nosniff',
      // Defence in depth should a browser ever render the bytes instead of saving them.
      'Content-Security-Policy': "default-src 'none'; sandbox",
    };

    const ifNoneMatch = c.req.header('if-none-match');
    if (ifNoneMatch !== undefined && noneMatch(ifNoneMatch, etag)) {
      return new Response(null, {
        status: 304,
        headers: { ETag: etag, 'Last-Modified': lastModified, 'Cache-Control': headers['Cache-Control'] ?? '' },
      });
    }

    // If-Range: resume only if the client's copy is this exact version; otherwise send it all again.
    const ifRange = c.req.header('if-range');
    const rangeApplies = ifRange === undefined || ifRange.trim() === etag || ifRange.trim() === lastModified;
    const range = rangeApplies ? parseRange(c.req.header('range'), object.size) : null;

    if (range === 'unsatisfiable') {
      return errorResponse(ERRORS.rangeNotSatisfiable(), c.get('requestId'), { 'Content-Range': `bytes */${object.size}` });
    }

    const start = range?.start ?? 0;
    const end = range?.end ?? object.size - 1;
    const length = object.size === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = String(length);
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${object.size}`;

    if (c.req.method === 'HEAD') return new Response(null, { status, headers });
    // A Bun.file slice as the body keeps Bun's sendfile path: constant memory for multi-GB files.
    return new Response(Bun.file(object.path).slice(start, end + 1), { status, headers });
  });

  return app;
}
