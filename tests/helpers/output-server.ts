import net from 'node:net';
import { join } from 'node:path';
import type { WrittenFile } from '../fixtures/lora.ts';

/** One request the output server saw. */
interface SeenRequest {
  path: string;
  range: string | null;
}

export interface OutputServerOptions {
  /** Files listed in manifest.json (default: `files` as written, with their SHA-256). */
  manifest?: { files: Array<{ path: string; size: number; sha256?: string }> };
  /** Called before the default handling; a Response returned is sent instead (e.g. a 500). */
  intercept?: (path: string, req: Request, count: number) => Response | undefined;
  /** Throttle file bodies to about this many bytes per second. */
  bytesPerSecond?: number;
}

export interface OutputServer {
  /** `http://127.0.0.1:<port>/out/`, the outputUri to complete a job with. */
  uri: string;
  port: number;
  requests: SeenRequest[];
  /** File body bytes handed to sockets so far. */
  bytesSent: number;
  stop(): void;
}

const CHUNK = 256 * 1024;

/**
 * A GPU node's HTTP file server (the `https://` output layout): `/out/manifest.json` and `/out/<path>`
 * served from `dir`, with `Range: bytes=N-` support, optional throttling and fault injection.
 */
export function serveOutput(dir: string, files: WrittenFile[], options: OutputServerOptions = {}): OutputServer {
  const manifest = options.manifest ?? { files: files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })) };
  const counts = new Map<string, number>();
  const state: OutputServer = {
    uri: '',
    port: 0,
    requests: [],
    bytesSent: 0,
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (!url.pathname.startsWith('/out/')) return new Response('not found', { status: 404 });
      const path = decodeURIComponent(url.pathname.slice('/out/'.length));
      state.requests.push({ path, range: req.headers.get('range') });
      const count = (counts.get(path) ?? 0) + 1;
      counts.set(path, count);
      const intercepted = options.intercept?.(path, req, count);
      if (intercepted) return intercepted;
      if (path === 'manifest.json') return Response.json(manifest);
      const file = Bun.file(join(dir, ...path.split('/')));
      if (!(await file.exists())) return new Response('not found', { status: 404 });
      const size = file.size;
      const range = /^bytes=(\d+)-$/.exec(req.headers.get('range') ?? '');
      const start = range ? Number(range[1]) : 0;
      if (start > size) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
      if (range) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
      const status = range ? 206 : 200;
      const rate = options.bytesPerSecond;
      if (!rate) {
        state.bytesSent += size - start;
        return new Response(file.slice(start), { status, headers });
      }
      // Throttled: CHUNK bytes at a time, paced to `rate`.
      let at = start;
      const body = new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            if (at >= size) return controller.close();
            const end = Math.min(size, at + CHUNK);
            const chunk = new Uint8Array(await file.slice(at, end).arrayBuffer());
            await Bun.sleep((chunk.byteLength / rate) * 1000);
            controller.enqueue(chunk);
            state.bytesSent += chunk.byteLength;
            at = end;
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status, headers: { ...headers, 'content-length': String(size - start) } });
    },
  });
  state.port = server.port!;
  state.uri = `http://127.0.0.1:${server.port}/out/`;
  return state;
}

/**
 * A raw HTTP/1.1 server (one request per connection) that cuts the connection of the first GET of `cutPath`
 * after `cutAt` body bytes, having announced the full Content-Length; later requests are served whole or
 * from the requested `Range: bytes=N-` offset. Everything else is served from `dir` like serveOutput.
 */
export async function serveWithCut(dir: string, files: WrittenFile[], cutPath: string, cutAt: number) {
  const manifest = JSON.stringify({ files: files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })) });
  const requests: SeenRequest[] = [];
  let cut = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    const onData = async (data: Buffer) => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const [requestLine = '', ...lines] = head.split('\r\n');
      const target = requestLine.split(' ')[1] ?? '/';
      const rangeLine = lines.find((l) => l.toLowerCase().startsWith('range:'));
      const range = rangeLine ? rangeLine.slice(6).trim() : null;
      const path = decodeURIComponent(new URL(target, 'http://x').pathname.replace(/^\/out\//, ''));
      requests.push({ path, range });
      const send = (status: string, headers: Record<string, string>, body: Uint8Array) => {
        const lines = [`HTTP/1.1 ${status}`, ...Object.entries({ ...headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}`), '', ''];
        socket.write(lines.join('\r\n'));
        return body;
      };
      if (path === 'manifest.json') {
        const body = Buffer.from(manifest);
        send('200 OK', { 'content-type': 'application/json', 'content-length': String(body.length) }, body);
        socket.end(body);
        return;
      }
      const file = Bun.file(join(dir, ...path.split('/')));
      if (!(await file.exists())) {
        send('404 Not Found', { 'content-length': '0' }, new Uint8Array());
        socket.end();
        return;
      }
      const bytes = new Uint8Array(await file.arrayBuffer());
      const m = /^bytes=(\d+)-$/.exec(range ?? '');
      const start = m ? Number(m[1]) : 0;
      const body = bytes.subarray(start);
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(body.length) };
      if (m) headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
      send(m ? '206 Partial Content' : '200 OK', headers, body);
      if (path === cutPath && !cut) {
        cut = true;
        // Hand over the first cutAt bytes, let the client read them, then drop the connection.
        socket.write(body.subarray(0, cutAt), () => setTimeout(() => socket.destroy(), 200));
        return;
      }
      socket.end(body);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    uri: `http://127.0.0.1:${port}/out/`,
    requests,
    stop() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
