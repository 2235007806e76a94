import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { bearerToken } from '../auth/tokens.ts';
import { ERRORS, errorResponse } from '../errors.ts';

/**
 * Headers on every response. The CSP allows what the built dashboard (web/dist) needs and no more: its
 * own scripts and stylesheets, `data:` images (the inline SVG favicon), fetches to itself. No inline
 * script or style: Solid and uPlot set styles through the CSSOM, which a CSP does not govern. A handler's
 * own headers win (`overwrite: false`): signed files keep their stricter `default-src 'none'; sandbox`.
 */
export function securityHeaders(publicUrl: string): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
    // Page URLs name models and jobs, and signed links are credentials: send no referrer anywhere.
    referrerPolicy: 'no-referrer',
    // Browsers ignore HSTS over plain http; behind https it pins this host only, not its subdomains.
    strictTransportSecurity: publicUrl.startsWith('https://') ? 'max-age=15552000' : false,
    overwrite: false,
  });
}

/**
 * Refuses cross-site tRPC mutations that ride on the session cookie (CSRF, beyond SameSite=Lax): a POST
 * whose Origin is present and is not PUBLIC_URL's origin, or that the browser marks `Sec-Fetch-Site:
 * cross-site`. Requests without an Origin (scripts, the CLI) pass, and so does anything carrying a
 * Bearer token: a page on another site cannot make a browser attach one. Queries (GET) change nothing.
 */
export function crossSiteMutationGuard(publicUrl: string): MiddlewareHandler<{ Variables: { requestId: string } }> {
  const ours = new URL(publicUrl).origin;
  return async (c, next) => {
    if (c.req.method !== 'POST' || bearerToken(c.req.header('authorization') ?? null)) return next();
    const origin = c.req.header('origin');
    const crossOrigin = origin !== undefined && origin !== ours;
    if (crossOrigin || c.req.header('sec-fetch-site') === 'cross-site') {
      return errorResponse(ERRORS.forbidden('Cross-site request refused: send it from the dashboard or with an API token.'), c.get('requestId'));
    }
    return next();
  };
}
