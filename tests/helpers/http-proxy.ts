/**
 * A small HTTP proxy in front of a test service, for what a client sees of signed links: it counts the body bytes
 * of `/files/…` responses it passed on, can throttle them (bytes per second, shared by every connection) and can
 * hold them once a number of bytes went through (a connection that stalls) until released. Start the service with
 * `PUBLIC_URL` set to the proxy's URL, so the links it signs point here; everything else is passed through as is.
 */
import { freePort } from './net.ts';

const SLICE = 64 * 1024;

interface FileRequest {
  path: string;
  range: string | null;
  status: number;
}

export interface TestProxy {
  url: string;
  /** Where requests go (the service's own URL, known only once it started). */
  setUpstream(url: string): void;
  /** Body bytes of `/files/` responses sent so far. */
  readonly served: number;
  /** The `/files/` requests seen, in order. */
  readonly fileRequests: FileRequest[];
  /** Zeroes `served` and the request list. */
  reset(): void;
  /** At most this many `/files/` body bytes per second (null: as fast as it goes). */
  throttle(bytesPerSecond: number | null): void;
  /** Holds every `/files/` body once `served` reaches `bytes`, until `release()` (null: never). */
  holdAfter(bytes: number | null): void;
  release(): void;
  /** Answers 404 to every request under `prefix` (a service without that route). */
  hide(prefix: string): void;
  /** Answers the next `count` `/files/` requests 403 itself, as storage answers a link whose signature expired. */
  refuseNext(count: number): void;
  stop(): Promise<void>;
}

export async function startProxy(): Promise<TestProxy> {
  let upstream = '';
  let served = 0;
  let rate: number | null = null;
  let nextFree = 0;
  let holdAt: number | null = null;
  let released: { promise: Promise<void>; resolve: () => void } = Promise.withResolvers<void>();
  const fileRequests: FileRequest[] = [];
  let refusals = 0;
  const hidden: string[] = [];

  const pace = async (bytes: number) => {
    if (holdAt !== null && served >= holdAt) await released.promise;
    if (rate === null) return;
    const now = performance.now();
    const at = Math.max(now, nextFree);
    nextFree = at + (bytes * 1000) / rate;
    if (at > now) await Bun.sleep(at - now);
  };

  /** The upstream body, sliced, paced and counted. */
  const metered = (body: ReadableStream<Uint8Array>) => {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          for (let at = 0; at < value.byteLength; at += SLICE) {
            const slice = value.subarray(at, at + SLICE);
            await pace(slice.byteLength);
            try {
              controller.enqueue(slice);
            } catch {
              return; // the client went away
            }
            served += slice.byteLength;
          }
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  };

  const release = () => {
    holdAt = null;
    released.resolve();
    released = Promise.withResolvers<void>();
  };

  const port = await freePort();
  const server = Bun.serve({
    port,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (hidden.some((prefix) => url.pathname.startsWith(prefix))) return Response.json({ error: { code: 'NOT_FOUND' } }, { status: 404 });
      if (url.pathname.startsWith('/files/') && refusals > 0) {
        refusals--;
        fileRequests.push({ path: url.pathname, range: req.headers.get('range'), status: 403 });
        return Response.json({ error: { code: 'FORBIDDEN', message: 'This download link is invalid or has expired.' } }, { status: 403 });
      }
      const headers = new Headers(req.headers);
      headers.delete('host');
      const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer(),
        redirect: 'manual',
        decompress: false,
      });
      if (!url.pathname.startsWith('/files/')) return new Response(res.body, { status: res.status, headers: res.headers });
      fileRequests.push({ path: url.pathname, range: req.headers.get('range'), status: res.status });
      return new Response(res.body ? metered(res.body) : null, { status: res.status, headers: res.headers });
    },
  });

  return {
    url: `http://127.0.0.1:${port}`,
    setUpstream(u) {
      upstream = u.replace(/\/+$/, '');
    },
    get served() {
      return served;
    },
    fileRequests,
    reset() {
      served = 0;
      fileRequests.length = 0;
    },
    throttle(bytesPerSecond) {
      rate = bytesPerSecond;
      nextFree = 0;
    },
    holdAfter(bytes) {
      holdAt = bytes;
    },
    release,
    hide(prefix) {
      hidden.push(prefix);
    },
    refuseNext(count) {
      refusals = count;
    },
    async stop() {
      release();
      await server.stop(true);
    },
  };
}
