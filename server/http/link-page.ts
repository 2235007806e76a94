/**
 * What a refused download link (expired, tampered, revoked) answers a browser: a small HTML page that
 * says what happened and links back to where a fresh link comes from. Anything that does not ask for
 * HTML (curl, the CLI, scripts) keeps the one-line JSON envelope and the status code.
 */
import { createHash } from 'node:crypto';
import type { Context, ErrorHandler } from 'hono';
import { AppError, ERRORS, errorResponse } from '../errors.ts';

/** A link route's Hono env: the request id, set by the app it is mounted in. */
export type LinkEnv = { Variables: { requestId?: string } };

/** Where a fresh link comes from: a model's page, the catalogue, or (a share link) the page the visitor was given. */
export type LinkBack = { kind: 'model'; modelId: string } | { kind: 'catalogue' } | { kind: 'share' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Where a link points back to, from what it claims (the grant `g` and the model id it names), unverified:
 * it only builds a same-origin path from a UUID, and the page behind it asks for a session again. A share
 * link's page is addressed by a token the server keeps only hashed, so it cannot be named here.
 */
export function linkBack(grant: string | undefined, modelId: string | undefined): LinkBack {
  if (grant?.startsWith('s:')) return { kind: 'share' };
  if (modelId && UUID.test(modelId)) return { kind: 'model', modelId };
  return { kind: 'catalogue' };
}

/** The model a storage key belongs to (`artifacts/<id>/…`), if it names one. */
export function modelOfKey(key: string): string | undefined {
  return /^artifacts\/([0-9a-f-]{36})\//.exec(key)?.[1];
}

/** Whether the caller asked for a page (a browser's navigation sends `Accept: text/html,…`). */
function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /\btext\/html\b/i.test(accept);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);

// The page's only style, allowed by its hash: no inline script anywhere, and nothing else may load.
const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;color:#1f2937;background:#f6f7f9;margin:0;padding:48px 16px}' +
  'main{max-width:520px;margin:0 auto;background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:28px}' +
  'h1{font-size:1.35rem;margin:0 0 12px}p{margin:0 0 16px}a{color:#4338ca;font-weight:600}.muted{color:#4b5563;font-size:.85rem}';
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const BAD_LINK = ERRORS.badLink().message;

function words(err: AppError): { title: string; message: string } {
  // A bad signature and a past expiry get the same answer (ERRORS.badLink): a forger learns nothing.
  if (err.message === BAD_LINK) {
    return { title: 'This link expired: get a fresh one', message: 'Download links work for a limited time, and only exactly as they were given.' };
  }
  if (err.code === 'FORBIDDEN' || err.code === 'NOT_FOUND') return { title: 'This link no longer works', message: err.message };
  return { title: 'This download could not start', message: err.message };
}

function backLink(back: LinkBack): string {
  if (back.kind === 'share') return '<p>Open the share link you were given again to get a fresh download.</p>';
  if (back.kind === 'model') return `<p><a href="/models/${escapeHtml(back.modelId)}">Back to the model</a> to get a fresh link.</p>`;
  return '<p><a href="/models">Back to your models</a> to get a fresh link.</p>';
}

/** The page itself: every interpolated value escaped. */
function linkPage(err: AppError, back: LinkBack, requestId: string | undefined): Response {
  const { title, message } = words(err);
  const body = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>`,
    `<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${backLink(back)}`,
    requestId ? `<p class="muted">Request id: ${escapeHtml(requestId)}</p>` : '',
    '</main></body></html>',
  ].join('');
  return new Response(body, {
    status: err.status,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...err.headers,
    },
  });
}

/** A refused link: the page for a browser, the envelope (one line of JSON) for anything else. */
export function linkRefusal(
  err: AppError,
  back: LinkBack,
  accept: string | undefined,
  requestId: string | undefined,
  headers: Record<string, string> = {},
) {
  if (wantsHtml(accept)) return linkPage(err, back, requestId);
  return errorResponse(err, requestId, headers);
}

/**
 * The `onError` of a link route's own Hono app: a refusal (an AppError) goes through `linkRefusal`;
 * anything else is rethrown to the service's edge (`app.onError`), which logs it or answers the outage.
 */
export function linkRefusals(back: (c: Context<LinkEnv>) => LinkBack): ErrorHandler<LinkEnv> {
  return (err, c) => {
    if (!(err instanceof AppError)) throw err;
    return linkRefusal(err, back(c), c.req.header('accept'), c.get('requestId'));
  };
}
