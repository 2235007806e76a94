import { z } from 'zod';
import { bareHost, defaultLookup, hostAddresses, type LookupAll } from '../../http/public-host.ts';
import { isPrivateAddress } from './address-ranges.ts';
import { encodePathSegments } from '../../paths.ts';
import { assertSafeRelativePath, comparePaths } from './file-source.ts';
import { PermanentSourceError, TransientSourceError, type Source, type SourceFile } from './source.ts';

/** What one `read()` of a byte stream's reader yields (spelled out: lib.dom's alias name differs by version). */
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** The subset of `fetch` this source calls; `globalThis.fetch` fits, and so does a test double. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface HttpsSourceOptions {
  /** SOURCE_ALLOW_PRIVATE_HOSTS: also allows plain `http://`, for tests and trusted private clusters. */
  allowPrivateHosts: boolean;
  fetch?: FetchLike;
  lookup?: LookupAll;
  /** Until response headers arrive, per hop. */
  headersTimeoutMs?: number;
  /** No body bytes for this long aborts the request as a TransientSourceError. */
  idleTimeoutMs?: number;
  maxRedirects?: number;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const manifestSchema = z.object({
  files: z.array(
    z.object({
      path: z.string().min(1),
      size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
      sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
        .optional(),
    }),
  ),
});

/**
 * `https://host/path/` with `manifest.json` there, served by a file server on the GPU node.
 *
 * SSRF guard: every hop (the first request and each redirect, followed by hand, at most `maxRedirects`)
 * has its scheme checked and its host resolved right before the request; any private, loopback,
 * link-local or otherwise non-public address refuses the whole output. Residual risk: fetch resolves the
 * name again itself, so a hostile DNS server with a zero TTL could answer a public address to our check
 * and a private one to fetch's lookup a moment later (DNS rebinding). Closing that needs connecting to the
 * checked IP while keeping the name for TLS (SNI and certificate), which Bun's fetch does not expose; a
 * worker egress firewall denying private ranges is the complete fix.
 */
export class HttpsSource implements Source {
  readonly uri: string;
  private readonly base: URL;
  private readonly options: Required<Omit<HttpsSourceOptions, 'fetch' | 'lookup'>>;
  private readonly fetch: FetchLike;
  private readonly lookup: LookupAll;

  constructor(uri: string, options: HttpsSourceOptions) {
    this.uri = uri;
    let base: URL;
    try {
      base = new URL(uri);
    } catch (error) {
      throw new PermanentSourceError(`malformed URI ${JSON.stringify(uri)}: expected https://host/path/`, { cause: error });
    }
    // The URI names a folder: without the slash, `manifest.json` would resolve next to it instead of in it.
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.hash = '';
    this.base = base;
    this.options = {
      allowPrivateHosts: options.allowPrivateHosts,
      headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxRedirects: options.maxRedirects ?? 5,
    };
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.lookup = options.lookup ?? defaultLookup;
    this.checkScheme(base);
  }

  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const url = this.resolve('manifest.json');
    const { response, controller } = await this.request(url, 0, signal);
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw statusError(response.status, `manifest ${url.href}`);
    }
    const text = await readCapped(this.guardBody(response, controller, 0, `manifest ${url.href}`, signal), MAX_MANIFEST_BYTES, url.href);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new PermanentSourceError(`manifest ${url.href} is not JSON: ${(error as Error).message}`, { cause: error });
    }
    const parsed = manifestSchema.safeParse(json);
    if (!parsed.success) {
      throw new PermanentSourceError(`manifest ${url.href} is invalid: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
    }
    const seen = new Set<string>();
    const files = parsed.data.files.map((file) => {
      assertSafeRelativePath(file.path);
      if (seen.has(file.path)) throw new PermanentSourceError(`manifest ${url.href} lists ${file.path} twice`);
      seen.add(file.path);
      return file.sha256 === undefined
        ? { path: file.path, size: file.size }
        : { path: file.path, size: file.size, sha256: file.sha256.toLowerCase() };
    });
    return files.sort((a, b) => comparePaths(a.path, b.path));
  }

  async open(path: string, offset: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    assertSafeRelativePath(path);
    const url = this.resolve(encodePathSegments(path));
    const what = `${path} (${url.href})`;
    const { response, controller } = await this.request(url, offset, signal);
    let skip = 0;
    if (response.status === 206) {
      const range = response.headers.get('content-range');
      if (range && !range.startsWith(`bytes ${offset}-`)) {
        controller.abort();
        throw new TransientSourceError(`${what}: asked for bytes ${offset}-, got ${range}`);
      }
    } else if (response.status === 200) {
      // A server that ignores Range sends the whole file; dropping the first `offset` bytes costs bandwidth
      // but still resumes correctly, whereas failing would make such servers unusable for large files.
      skip = offset;
    } else {
      controller.abort();
      throw statusError(response.status, what);
    }
    return this.guardBody(response, controller, skip, what, signal);
  }

  private resolve(relative: string): URL {
    const url = new URL(relative, this.base);
    url.search = this.base.search; // keeps a token carried in the output URI's query string
    return url;
  }

  private checkScheme(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.options.allowPrivateHosts) return;
    throw new PermanentSourceError(
      `refused ${url.href}: only https:// is allowed${url.protocol === 'http:' ? ' (http:// needs SOURCE_ALLOW_PRIVATE_HOSTS)' : ''}`,
    );
  }

  /** Refuses the host when any of its addresses is not public; done right before every request. */
  private async checkHost(url: URL): Promise<void> {
    if (this.options.allowPrivateHosts) return;
    const host = bareHost(url);
    let addresses: string[];
    try {
      addresses = await hostAddresses(url, this.lookup);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const message = `cannot resolve ${host}: ${code ?? (error as Error).message}`;
      throw code === 'ENOTFOUND' ? new PermanentSourceError(message, { cause: error }) : new TransientSourceError(message, { cause: error });
    }
    if (addresses.length === 0) throw new PermanentSourceError(`cannot resolve ${host}: no addresses`);
    const blocked = addresses.find(isPrivateAddress);
    if (blocked !== undefined) {
      throw new PermanentSourceError(
        `refused ${url.origin}: ${host} resolves to non-public address ${blocked} (set SOURCE_ALLOW_PRIVATE_HOSTS to allow)`,
      );
    }
  }

  /** GET with redirects followed by hand so each hop passes the scheme and address checks. */
  private async request(start: URL, offset: number, signal?: AbortSignal): Promise<{ response: Response; controller: AbortController }> {
    let url = start;
    for (let hop = 0; ; hop++) {
      this.checkScheme(url);
      await this.checkHost(url);
      signal?.throwIfAborted();
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      controller.signal.addEventListener('abort', () => signal?.removeEventListener('abort', onAbort), { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.options.headersTimeoutMs);
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      // No Range at 0: some servers answer 416 to `bytes=0-` on an empty file.
      if (offset > 0) headers.range = `bytes=${offset}-`;
      let response: Response;
      try {
        response = await this.fetch(url, { method: 'GET', headers, redirect: 'manual', signal: controller.signal });
      } catch (error) {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) throw signal.reason;
        if (timedOut) throw new TransientSourceError(`${url.href}: no response within ${this.options.headersTimeoutMs} ms`, { cause: error });
        throw new TransientSourceError(`${url.href}: ${(error as Error).message ?? String(error)}`, { cause: error });
      } finally {
        clearTimeout(timer);
      }
      if (!REDIRECT_STATUSES.has(response.status)) return { response, controller };
      const location = response.headers.get('location');
      controller.abort();
      if (!location) throw new PermanentSourceError(`${url.href}: redirect ${response.status} without Location`);
      if (hop >= this.options.maxRedirects) {
        throw new PermanentSourceError(`${start.href}: more than ${this.options.maxRedirects} redirects`);
      }
      try {
        url = new URL(location, url);
      } catch (error) {
        throw new PermanentSourceError(`${url.href}: malformed redirect Location ${JSON.stringify(location)}`, { cause: error });
      }
    }
  }

  /**
   * The response body with an idle timer (no bytes for idleTimeoutMs aborts the request), network errors
   * mapped to TransientSourceError, and the first `skip` bytes dropped.
   */
  private guardBody(response: Response, controller: AbortController, skip: number, what: string, signal?: AbortSignal): ReadableStream<Uint8Array> {
    const body = response.body;
    if (!body) return new ReadableStream({ start: (c) => c.close() });
    const reader = body.getReader();
    const idleMs = this.options.idleTimeoutMs;
    let toSkip = skip;
    return new ReadableStream<Uint8Array>(
      {
        async pull(sink) {
          for (;;) {
            let idle = false;
            const timer = setTimeout(() => {
              idle = true;
              controller.abort();
              reader.cancel().catch(() => {});
            }, idleMs);
            let result: ReadResult;
            try {
              result = await reader.read();
            } catch (error) {
              if (signal?.aborted) throw signal.reason;
              if (idle) throw new TransientSourceError(`${what}: no bytes for ${idleMs} ms`, { cause: error });
              throw new TransientSourceError(`${what}: ${(error as Error).message ?? String(error)}`, { cause: error });
            } finally {
              clearTimeout(timer);
            }
            if (idle) throw new TransientSourceError(`${what}: no bytes for ${idleMs} ms`);
            if (result.done) {
              sink.close();
              return;
            }
            let chunk = result.value;
            if (toSkip > 0) {
              const dropped = Math.min(toSkip, chunk.byteLength);
              toSkip -= dropped;
              chunk = chunk.subarray(dropped);
              if (chunk.byteLength === 0) continue;
            }
            sink.enqueue(chunk);
            return;
          }
        },
        cancel(reason) {
          controller.abort(reason);
          return reader.cancel(reason).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }
}

function statusError(status: number, what: string): Error {
  const message = `${what}: HTTP ${status}`;
  if (status === 429 || status === 408 || status >= 500) return new TransientSourceError(message);
  return new PermanentSourceError(message);
}

async function readCapped(stream: ReadableStream<Uint8Array>, limit: number, what: string): Promise<string> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new PermanentSourceError(`manifest ${what} is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
