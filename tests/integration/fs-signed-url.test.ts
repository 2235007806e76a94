// Security and HTTP semantics of the fs driver's signed links, served for real by Bun.serve.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.ts';
import { fsFilesRoute } from '../../server/storage/fs-route.ts';
import { rawGet } from '../helpers/raw-http.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../../server/vocabulary.ts';

const SECRET = 'fs-signed-url-test-secret-0123456789';
const FORBIDDEN_BODY = { error: { code: 'FORBIDDEN', message: 'This download link is invalid or has expired.' } };

let root: string;
let server: ReturnType<typeof Bun.serve>;
let driver: FsStorage;
const bytes = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
const other = new TextEncoder().encode('another user’s adapter');

function stream(data: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> {
  return new Response(data).body as ReadableStream<Uint8Array>;
}

/** Builds a link by hand from the documented format, so the test pins the format, not just round-trips. */
function handSigned(key: string, expSeconds: number, fileName: string): string {
  const sig = createHmac('sha256', SECRET)
    .update(JSON.stringify(['fs.v2', key, expSeconds, fileName, null]))
    .digest('base64url');
  const fn = Buffer.from(fileName).toString('base64url');
  return `${server.url.origin}/files/${key}?exp=${expSeconds}&fn=${fn}&sig=${sig}`;
}

async function expectForbidden(url: string, init?: RequestInit): Promise<void> {
  const response = await fetch(url, init);
  expect(response.status).toBe(403);
  expect(response.headers.get('content-disposition')).toBeNull();
  expect(response.headers.get('content-type')).toStartWith('application/json');
  expect(await response.json()).toEqual(FORBIDDEN_BODY);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fs-signed-'));
  let app: Hono | undefined;
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => (app ? app.fetch(request) : new Response(null, { status: 503 })) });
  driver = createFsStorage({ root, publicUrl: `${server.url.origin}/`, secret: SECRET });
  app = new Hono().route('/files', fsFilesRoute(driver));
  await driver.put('u1/a1/0', stream(bytes), { size: bytes.byteLength });
  await driver.put('u2/a9/0', stream(other));
});

afterAll(async () => {
  await server.stop(true);
  await rm(root, { recursive: true, force: true });
});

describe('fs signed links: happy path', () => {
  test('GET serves the file with download headers', async () => {
    const url = await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'adapter_model.safetensors' });
    expect(url).toStartWith(`${server.url.origin}/files/u1/a1/0?exp=`);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const h = response.headers;
    expect(h.get('content-type')).toBe('application/octet-stream');
    expect(h.get('content-length')).toBe('1000');
    expect(h.get('accept-ranges')).toBe('bytes');
    expect(h.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(new Date(h.get('last-modified') ?? '').getTime()).toBeGreaterThan(0);
    expect(h.get('cache-control')).toContain('private');
    expect(h.get('x-content-type-options')).toBe('nosniff');
    expect(h.get('content-disposition')).toBe(`attachment; filename="adapter_model.safetensors"; filename*=UTF-8''adapter_model.safetensors`);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
  });

  test('a hand-built link in the documented format is accepted', async () => {
    const response = await fetch(handSigned('u1/a1/0', Math.floor(Date.now() / 1000) + 60, 'x.bin'));
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  });

  test('a content type given at signing is served', async () => {
    const url = await driver.signedUrl('u2/a9/0', { expiresInSeconds: 60, fileName: 'cfg.json', contentType: 'application/json' });
    const response = await fetch(url);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('another user’s adapter');
  });

  test('HEAD gives the headers and no body', async () => {
    const url = await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' });
    const response = await fetch(url, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1000');
    expect(response.headers.get('etag')).toBeTruthy();
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  test('keys with characters that need encoding survive the URL', async () => {
    const key = 'u1/ü b+c%d/0';
    await driver.put(key, stream(new TextEncoder().encode('odd key')));
    const response = await fetch(await driver.signedUrl(key, { expiresInSeconds: 60, fileName: 'a.bin' }));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('odd key');
  });

  test('get honours an abort signal', async () => {
    const controller = new AbortController();
    const body = await driver.get('u9/none/0').catch(() => null);
    expect(body).toBeNull();
    const readable = await driver.get('u1/a1/0', { start: 0 }, controller.signal);
    controller.abort();
    await expect(new Response(readable).arrayBuffer()).rejects.toThrow();
  });

  test('a link for a missing object is 404 JSON', async () => {
    const url = await driver.signedUrl('u1/gone/0', { expiresInSeconds: 60, fileName: 'a.bin' });
    const response = await fetch(url);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});

describe('fs signed links: security', () => {
  test('an expired link is 403 with no file data', async () => {
    await expectForbidden(handSigned('u1/a1/0', Math.floor(Date.now() / 1000) - 5, 'a.bin'));
    const head = await fetch(handSigned('u1/a1/0', Math.floor(Date.now() / 1000) - 5, 'a.bin'), { method: 'HEAD' });
    expect(head.status).toBe(403);
    expect(head.headers.get('content-length')).not.toBe('1000');
  });

  test('one changed character of the signature is 403', async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' }));
    const sig = url.searchParams.get('sig') ?? '';
    url.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    await expectForbidden(url.toString());
    url.searchParams.set('sig', sig.slice(0, -1));
    await expectForbidden(url.toString());
    url.searchParams.set('sig', `${sig}AA`);
    await expectForbidden(url.toString());
  });

  test("another file's key with this link's signature is 403", async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' }));
    url.pathname = '/files/u2/a9/0';
    await expectForbidden(url.toString());
  });

  test('a changed file name or expiry is 403', async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' }));
    const renamed = new URL(url);
    renamed.searchParams.set('fn', Buffer.from('evil.exe').toString('base64url'));
    await expectForbidden(renamed.toString());
    const extended = new URL(url);
    extended.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3600));
    await expectForbidden(extended.toString());
    const typed = new URL(url);
    typed.searchParams.set('ct', 'text/html');
    await expectForbidden(typed.toString());
  });

  test('malformed links are 403', async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' }));
    for (const param of ['sig', 'exp', 'fn']) {
      const broken = new URL(url);
      broken.searchParams.delete(param);
      await expectForbidden(broken.toString());
    }
    const badExp = new URL(url);
    badExp.searchParams.set('exp', '1e12');
    await expectForbidden(badExp.toString());
    await expectForbidden(`${server.url.origin}/files/u1%2Fa1%2F0${url.search}`.replace('u1%2Fa1%2F0', '..%2Fetc%2Fpasswd'));
  });

  test('a dot-segment path sent raw (as fetch would never send it) is 403, even under a link signed for that path', async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' }));
    // A link "signed" for the traversing key itself: only key validation stands between it and u2's file.
    const exp = Math.floor(Date.now() / 1000) + 60;
    const sig = createHmac('sha256', SECRET)
      .update(JSON.stringify(['fs.v2', 'u1/../u2/a9/0', exp, 'a.bin', null]))
      .digest('base64url');
    const forged = `?exp=${exp}&fn=${Buffer.from('a.bin').toString('base64url')}&sig=${sig}`;
    for (const target of [`/files/u1/%2e%2e/u2/a9/0${url.search}`, `/files/u1/../u2/a9/0${forged}`, `/files/u1/%2e%2e/u2/a9/0${forged}`]) {
      const res = await rawGet(server.url.origin, target);
      expect(res.status).toBe(403);
      expect(res.body).not.toContain('another user');
      expect(JSON.parse(res.body)).toEqual(FORBIDDEN_BODY);
    }
  });

  test('a field cannot move across a separator: a key holding a newline does not sign another split', async () => {
    // Sign (key "u1/a1/0\n<exp>", name "c"); under a newline-joined input that is also (key "u1/a1/0", name "<exp>\nc").
    let url: URL;
    let exp: number;
    do {
      exp = Math.floor(Date.now() / 1000) + 60;
      url = new URL(await driver.signedUrl(`u1/a1/0\n${exp}`, { expiresInSeconds: 60, fileName: 'c' }));
    } while (Number(url.searchParams.get('exp')) !== exp);
    const sig = url.searchParams.get('sig')!;
    expect(driver.verify({ key: `u1/a1/0\n${exp}`, exp: String(exp), fn: Buffer.from('c').toString('base64url'), sig })).not.toBeNull();
    const moved = { key: 'u1/a1/0', exp: String(exp), fn: Buffer.from(`${exp}\nc`).toString('base64url'), sig };
    expect(driver.verify(moved)).toBeNull();
    await expectForbidden(`${server.url.origin}/files/u1/a1/0?exp=${exp}&fn=${moved.fn}&sig=${sig}`);
  });

  test('a content type cannot move into the file name', async () => {
    const url = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'b', contentType: 'text/plain' }));
    expect(url.searchParams.get('ct')).toBe('text/plain');
    const moved = new URL(url);
    moved.searchParams.delete('ct');
    moved.searchParams.set('fn', Buffer.from('b\ntext/plain').toString('base64url'));
    await expectForbidden(moved.toString());
  });

  test('a correctly signed link expiring past the 7-day maximum is 403; one within it is served', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectForbidden(handSigned('u1/a1/0', now + MAX_LINK_LIFETIME_SECONDS + 3600, 'a.bin'));
    await expectForbidden(handSigned('u1/a1/0', 99_999_999_999, 'a.bin'));
    const within = await fetch(handSigned('u1/a1/0', now + MAX_LINK_LIFETIME_SECONDS - 60, 'a.bin'));
    expect(within.status).toBe(200);
    expect(new Uint8Array(await within.arrayBuffer())).toEqual(bytes);
    const longest = new URL(await driver.signedUrl('u1/a1/0', { expiresInSeconds: 10 * MAX_LINK_LIFETIME_SECONDS, fileName: 'a.bin' }));
    expect(Number(longest.searchParams.get('exp'))).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + MAX_LINK_LIFETIME_SECONDS);
    expect((await fetch(longest)).status).toBe(200);
  });

  test('signing refuses keys that could escape the root', async () => {
    for (const key of ['../x', '/abs', 'a\\b', 'a\0b', 'a//b', 'u/.tmp', '']) {
      await expect(driver.signedUrl(key, { expiresInSeconds: 60, fileName: 'a' })).rejects.toThrow();
      await expect(driver.put(key, stream(new Uint8Array(1)))).rejects.toThrow();
    }
  });
});

describe('fs signed links: ranges and validators', () => {
  let url: string;
  beforeAll(async () => {
    url = await driver.signedUrl('u1/a1/0', { expiresInSeconds: 60, fileName: 'a.bin' });
  });

  async function ranged(range: string, extra: Record<string, string> = {}): Promise<Response> {
    return fetch(url, { headers: { range, ...extra } });
  }

  test('bytes=a-b, bytes=a- and bytes=-n are 206 with Content-Range', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-9', 0, 9],
      ['bytes=990-', 990, 999],
      ['bytes=-5', 995, 999],
      ['bytes=500-5000', 500, 999],
      ['bytes=0-0', 0, 0],
    ];
    for (const [header, start, end] of cases) {
      const response = await ranged(header);
      expect(response.status).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
      expect(response.headers.get('content-length')).toBe(String(end - start + 1));
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes.slice(start, end + 1));
    }
  });

  test('an unsatisfiable range is 416 with bytes */size', async () => {
    for (const header of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const response = await ranged(header);
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe('bytes */1000');
      // Our envelope, not Bun.serve's own empty 416 for a file body it was asked to range.
      expect(await response.json()).toEqual({ error: { code: 'RANGE_NOT_SATISFIABLE', message: 'The requested range is not satisfiable.' } });
    }
  });

  test('multiple or malformed ranges are ignored: 200 with the whole file', async () => {
    for (const header of ['bytes=0-1,5-6', 'bytes=abc', 'items=0-1', 'bytes=9-3']) {
      const response = await ranged(header);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBe(1000);
    }
  });

  test('If-None-Match with the ETag is 304', async () => {
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    const response = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(response.status).toBe(304);
    expect(response.headers.get('etag')).toBe(etag);
    expect((await fetch(url, { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
    const changed = await fetch(url, { headers: { 'if-none-match': '"stale"' } });
    expect(changed.status).toBe(200);
    await changed.arrayBuffer();
  });

  test('If-Range honours the range only for the current version', async () => {
    const head = await fetch(url, { method: 'HEAD' });
    const etag = head.headers.get('etag') ?? '';
    const matching = await ranged('bytes=0-9', { 'if-range': etag });
    expect(matching.status).toBe(206);
    await matching.arrayBuffer();
    const byDate = await ranged('bytes=0-9', { 'if-range': head.headers.get('last-modified') ?? '' });
    expect(byDate.status).toBe(206);
    await byDate.arrayBuffer();
    const stale = await ranged('bytes=0-9', { 'if-range': '"stale"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(1000);
  });
});

test('a 300 MB file streams through put and the signed link intact', async () => {
  const size = 300 * 1024 * 1024;
  const block = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
  const putHash = createHash('sha256');
  let produced = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= size) return controller.close();
      // A fresh copy per chunk with a counter stamped in, so chunks differ and nothing is shared.
      const chunk = block.slice(0, Math.min(block.byteLength, size - produced));
      new DataView(chunk.buffer).setUint32(0, produced / block.byteLength);
      produced += chunk.byteLength;
      putHash.update(chunk);
      controller.enqueue(chunk);
    },
  });
  const rssBefore = process.memoryUsage().rss;
  await driver.put('u9/big/0', body, { size });
  expect((await driver.locate('u9/big/0'))?.size).toBe(size);

  const url = await driver.signedUrl('u9/big/0', { expiresInSeconds: 60, fileName: 'big.safetensors' });
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-length')).toBe(String(size));
  const getHash = createHash('sha256');
  let received = 0;
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    getHash.update(next.value);
    received += next.value.byteLength;
  }
  expect(received).toBe(size);
  expect(getHash.digest('hex')).toBe(putHash.digest('hex'));
  // Informational only (no assertion): growth should be far below the file size.
  const grewMiB = Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024);
  if (process.env.STORAGE_TEST_VERBOSE) console.log(`rss growth during 300 MB round trip: ${grewMiB} MiB`);
}, 120_000);
