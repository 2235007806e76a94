import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyToStorage, IntegrityError } from '../../server/ingest/copy.ts';
import { openSource, PermanentSourceError, type Source, type SourceFile } from '../../server/ingest/sources/index.ts';
import { TempStorage } from '../helpers/temp-storage.ts';

const SIZE = 30 * 1024 * 1024;
const data = randomBytes(SIZE);
const sha = new Bun.CryptoHasher('sha256').update(data).digest('hex');
const FILE = 'adapter_model.safetensors';

/** What the fault-injecting server saw, per scenario. */
interface Log {
  requests: Array<{ range: string | null; status: number }>;
  bytesServed: number;
}

type Mode = 'ok' | 'flaky' | 'cut' | 'short' | 'long' | 'badsum' | 'slow';
const logs = new Map<Mode, Log>();
let server: Server;
let base: string;

function manifestFor(mode: Mode): { files: SourceFile[] } {
  const size = mode === 'short' ? SIZE + 1000 : mode === 'long' ? SIZE - 1000 : SIZE;
  const entry: SourceFile = { path: FILE, size };
  if (mode === 'badsum') entry.sha256 = '0'.repeat(64);
  else if (mode !== 'short' && mode !== 'long') entry.sha256 = sha;
  return { files: [entry] };
}

function serveFile(mode: Mode, req: IncomingMessage, res: ServerResponse, log: Log): void {
  const range = req.headers.range ?? null;
  if (mode === 'flaky' && log.requests.length < 2) {
    log.requests.push({ range, status: 500 });
    res.writeHead(500).end('try again');
    return;
  }
  const start = Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? 0);
  const status = range ? 206 : 200;
  log.requests.push({ range, status });
  const headers: Record<string, string | number> = { 'content-length': SIZE - start };
  if (range) headers['content-range'] = `bytes ${start}-${SIZE - 1}/${SIZE}`;
  res.writeHead(status, headers);
  if (mode === 'cut' && log.requests.length === 1) {
    // Half the file, then the socket dies without a clean end: what a dropped GPU-node link looks like.
    const half = data.subarray(0, SIZE / 2);
    log.bytesServed += half.byteLength;
    res.write(half, () => res.destroy());
    return;
  }
  if (mode === 'slow') {
    let position = start;
    const timer = setInterval(() => {
      if (res.destroyed || position >= SIZE) {
        clearInterval(timer);
        res.end();
        return;
      }
      const chunk = data.subarray(position, position + 64 * 1024);
      position += chunk.byteLength;
      log.bytesServed += chunk.byteLength;
      res.write(chunk);
    }, 10);
    res.on('close', () => clearInterval(timer));
    return;
  }
  log.bytesServed += SIZE - start;
  res.end(data.subarray(start));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const [, mode, name] = /^\/([a-z]+)\/(.+)$/.exec(req.url ?? '') ?? [];
    const log = logs.get(mode as Mode);
    if (!log) return void res.writeHead(404).end();
    if (name === 'manifest.json')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manifestFor(mode as Mode)));
    if (name === FILE) return serveFile(mode as Mode, req, res, log);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

let storage: TempStorage;
afterEach(async () => {
  await storage?.destroy();
});

async function setup(mode: Mode): Promise<{ source: Source; file: SourceFile; log: Log }> {
  storage = await TempStorage.create();
  const log: Log = { requests: [], bytesServed: 0 };
  logs.set(mode, log);
  const source = openSource(`${base}/${mode}/`, { allowPrivateHosts: true });
  const [file] = await source.list();
  if (!file) throw new Error('empty manifest');
  return { source, file, log };
}

async function storedSha(key: string): Promise<string> {
  const hasher = new Bun.CryptoHasher('sha256');
  const reader = (await storage.get(key)).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) hasher.update(r.value);
  return hasher.digest('hex');
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const fast = { baseDelayMs: 5, maxDelayMs: 20, idleTimeoutMs: 5_000 };

describe('copyToStorage', () => {
  test('copies, hashes and stores the file, streaming in small chunks', async () => {
    const { source, file, log } = await setup('ok');
    const result = await copyToStorage({ source, file, storage, key: 'u1/a1/0', ...fast });
    expect(result).toMatchObject({ sha256: sha, size: SIZE });
    // The first bytes, kept for telling the file's format by content.
    expect(Buffer.from(result.head).equals(data.subarray(0, 16))).toBe(true);
    expect(await storage.head('u1/a1/0')).toEqual({ size: SIZE });
    expect(await storedSha('u1/a1/0')).toBe(sha);
    expect(log.requests).toEqual([{ range: null, status: 200 }]);
    expect(storage.maxChunk).toBeLessThan(4 * 1024 * 1024);
  });

  test('retries a server that answers 500 twice', async () => {
    const { source, file, log } = await setup('flaky');
    const result = await copyToStorage({ source, file, storage, key: 'k', ...fast });
    expect(result.sha256).toBe(sha);
    expect(log.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(await storedSha('k')).toBe(sha);
  });

  test('resumes a connection cut mid-file with a Range request from the cut offset', async () => {
    const { source, file, log } = await setup('cut');
    const result = await copyToStorage({ source, file, storage, key: 'k', ...fast });
    expect(result).toMatchObject({ sha256: sha, size: SIZE });
    expect(Buffer.from(result.head).equals(data.subarray(0, 16))).toBe(true);
    expect(await storedSha('k')).toBe(sha);
    expect(log.requests.length).toBe(2);
    const [first, second] = log.requests;
    expect(first?.range).toBeNull();
    const resumeAt = Number(/^bytes=(\d+)-$/.exec(second?.range ?? '')?.[1]);
    expect(second?.status).toBe(206);
    expect(resumeAt).toBeGreaterThan(0);
    expect(resumeAt).toBeLessThanOrEqual(SIZE / 2);
    // Resumed, not restarted: about one file's worth of bytes, not 1.5×.
    expect(log.bytesServed).toBeLessThan(SIZE * 1.1);
  });

  test('a truncated file fails with a clear error and stores nothing', async () => {
    const { source, file } = await setup('short');
    const error = await rejection(copyToStorage({ source, file, storage, key: 'k', ...fast }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toBe(`${FILE}: expected ${SIZE + 1000} bytes, got ${SIZE}`);
    expect(await storage.keys()).toEqual([]);
  });

  test('more bytes than declared fails', async () => {
    const { source, file } = await setup('long');
    const error = await rejection(copyToStorage({ source, file, storage, key: 'k', ...fast }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain(`expected ${SIZE - 1000} bytes, got more`);
    expect(await storage.keys()).toEqual([]);
  });

  test('a checksum mismatch is an IntegrityError and stores nothing', async () => {
    const { source, file } = await setup('badsum');
    const error = await rejection(copyToStorage({ source, file, storage, key: 'k', ...fast }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toBe(`${FILE}: SHA-256 mismatch (expected ${'0'.repeat(64)}, got ${sha})`);
    expect(await storage.keys()).toEqual([]);
  });

  test('an abort mid-copy rejects promptly and leaves nothing half-written', async () => {
    const { source: slow, file, log } = await setup('slow');
    const controller = new AbortController();
    // Aborted from inside the source's stream once copyToStorage has read ABORT_AFTER bytes, so the abort
    // always lands mid-copy (not before the first byte, nor after the last) however fast the machine is.
    const ABORT_AFTER = 512 * 1024;
    let read = 0;
    let abortedAt = 0;
    const countAndAbort = () =>
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          out.enqueue(chunk);
          read += chunk.byteLength;
          if (read >= ABORT_AFTER && !controller.signal.aborted) {
            abortedAt = Date.now();
            controller.abort();
          }
        },
      });
    const source: Source = {
      uri: slow.uri,
      list: (signal) => slow.list(signal),
      open: async (path, offset, signal) => (await slow.open(path, offset, signal)).pipeThrough(countAndAbort()),
    };
    const error = await rejection(copyToStorage({ source, file, storage, key: 'k', signal: controller.signal, ...fast }));
    expect(error.name).toBe('AbortError');
    expect(read).toBeGreaterThanOrEqual(ABORT_AFTER);
    // Promptly: the slow server needs about 5 s for the whole file.
    expect(Date.now() - abortedAt).toBeLessThan(1500);
    expect(log.bytesServed).toBeLessThan(SIZE);
    expect(await storage.keys()).toEqual([]);
  });

  test('gives up after maxResumes and keeps permanent errors permanent', async () => {
    storage = await TempStorage.create();
    let opens = 0;
    const broken: Source = {
      uri: 'test://broken',
      list: async () => [],
      open: async () => {
        opens++;
        throw new TypeError('socket hang up');
      },
    };
    const error = await rejection(copyToStorage({ source: broken, file: { path: 'f', size: 10 }, storage, key: 'k', maxResumes: 2, ...fast }));
    expect(error.message).toBe('socket hang up');
    expect(opens).toBe(3);

    opens = 0;
    const gone: Source = {
      ...broken,
      open: async () => {
        opens++;
        throw new PermanentSourceError('f: HTTP 404');
      },
    };
    expect(await rejection(copyToStorage({ source: gone, file: { path: 'f', size: 10 }, storage, key: 'k', ...fast }))).toBeInstanceOf(
      PermanentSourceError,
    );
    expect(opens).toBe(1);
    expect(await storage.keys()).toEqual([]);
  });

  test('copies from a file source, empty files included', async () => {
    storage = await TempStorage.create();
    const dir = await mkdtemp(join(tmpdir(), 'copy-file-'));
    try {
      await writeFile(join(dir, 'empty.txt'), '');
      await writeFile(join(dir, 'weights.bin'), data.subarray(0, 5_000_000));
      const source = openSource(pathToFileURL(dir).href, { allowPrivateHosts: false });
      const [empty, weights] = await source.list();
      if (!empty || !weights) throw new Error('listing incomplete');
      const emptySha = new Bun.CryptoHasher('sha256').digest('hex');
      expect(await copyToStorage({ source, file: empty, storage, key: 'a/0', ...fast })).toMatchObject({ sha256: emptySha, size: 0 });
      const partSha = new Bun.CryptoHasher('sha256').update(data.subarray(0, 5_000_000)).digest('hex');
      expect(await copyToStorage({ source, file: { ...weights, sha256: partSha }, storage, key: 'a/1', ...fast })).toMatchObject({
        sha256: partSha,
        size: 5_000_000,
      });
      expect(await storage.keys()).toEqual(['a/0', 'a/1']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
