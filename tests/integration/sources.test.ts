import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  FileSource,
  HttpsSource,
  PermanentSourceError,
  S3Source,
  TransientSourceError,
  openSource,
  type S3SourceConfig,
  type Source,
} from '../../server/ingest/sources/index.ts';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../helpers/s3rver.ts';

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('openSource', () => {
  test('unknown scheme and malformed URIs are permanent errors', () => {
    expect(() => openSource('ftp://host/dir', { allowPrivateHosts: false })).toThrow(/unsupported output URI scheme "ftp"/);
    expect(() => openSource('not a uri', { allowPrivateHosts: false })).toThrow(PermanentSourceError);
    expect(() => openSource('s3://bucket/x', { allowPrivateHosts: false })).toThrow(/SOURCE_S3/);
    expect(() => openSource('http://example.com/x/', { allowPrivateHosts: false })).toThrow(/only https/);
  });
});

describe('file source', () => {
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'file-source-'));
    outside = await mkdtemp(join(tmpdir(), 'file-source-outside-'));
    await mkdir(join(root, 'checkpoint/deep'), { recursive: true });
    await writeFile(join(root, 'adapter_model.safetensors'), '0123456789');
    await writeFile(join(root, 'checkpoint/config.json'), '{"r":8}');
    await writeFile(join(root, 'checkpoint/deep/B.bin'), 'bbb');
    await writeFile(join(root, 'checkpoint/deep/a.bin'), 'aa');
    await writeFile(join(outside, 'secret.txt'), 'do not copy');
    await symlink(join(outside, 'secret.txt'), join(root, 'escape.txt'));
    await symlink(outside, join(root, 'escape-dir'));
    await symlink('/etc/hostname', join(root, 'etc-hostname'));
    await symlink(join(root, 'checkpoint/config.json'), join(root, 'config-link.json'));
    await symlink(join(root, 'nowhere'), join(root, 'dangling'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  test('lists regular files recursively in a stable order, skipping escaping symlinks', async () => {
    const source = openSource(pathToFileURL(root).href, { allowPrivateHosts: false });
    expect(source).toBeInstanceOf(FileSource);
    expect(await source.list()).toEqual([
      { path: 'adapter_model.safetensors', size: 10 },
      { path: 'checkpoint/config.json', size: 7 },
      { path: 'checkpoint/deep/B.bin', size: 3 },
      { path: 'checkpoint/deep/a.bin', size: 2 },
      { path: 'config-link.json', size: 7 },
    ]);
  });

  test('opens at an offset', async () => {
    const source = new FileSource(pathToFileURL(root).href);
    expect(await readAll(await source.open('adapter_model.safetensors', 0))).toBe('0123456789');
    expect(await readAll(await source.open('adapter_model.safetensors', 7))).toBe('789');
    expect(await readAll(await source.open('checkpoint/deep/B.bin', 1))).toBe('bb');
  });

  test('refuses paths that leave the folder', async () => {
    const source = new FileSource(pathToFileURL(root).href);
    for (const path of ['../etc/passwd', '/etc/passwd', 'escape.txt', 'checkpoint/../../x']) {
      expect(await rejection(source.open(path, 0))).toBeInstanceOf(PermanentSourceError);
    }
  });

  test('a missing folder is a permanent error naming it', async () => {
    const missing = join(root, 'no-such-run');
    const error = await rejection(new FileSource(pathToFileURL(missing).href).list());
    expect(error).toBeInstanceOf(PermanentSourceError);
    expect(error.message).toContain(missing);
  });
});

describe('s3 source (s3rver)', () => {
  let s3: TestS3;
  let config: S3SourceConfig;
  const big = `${'x'.repeat(1000)}tail`;

  beforeAll(async () => {
    s3 = await startS3rver(['volume1']);
    config = {
      endpoint: s3.endpoint,
      region: 'us-east-1',
      accessKeyId: S3RVER_CREDENTIALS.accessKeyId,
      secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey,
      forcePathStyle: true,
    };
    const objects: Record<string, string> = {
      'runs/job1/': '',
      'runs/job1/adapter_model.safetensors': big,
      'runs/job1/checkpoint-100/': '',
      'runs/job1/checkpoint-100/optimizer.pt': 'opt',
      'runs/job1/adapter_config.json': '{"r":16}',
      'runs/job10/other.bin': 'not mine',
    };
    for (const [Key, Body] of Object.entries(objects)) {
      await s3.client.send(new PutObjectCommand({ Bucket: 'volume1', Key, Body, ContentLength: Buffer.byteLength(Body) }));
    }
  });
  afterAll(() => s3.stop());

  test('lists relative paths under the prefix, skipping directory markers', async () => {
    const source = openSource('s3://volume1/runs/job1', { allowPrivateHosts: false, s3: config });
    expect(source).toBeInstanceOf(S3Source);
    expect(await source.list()).toEqual([
      { path: 'adapter_config.json', size: 8 },
      { path: 'adapter_model.safetensors', size: big.length },
      { path: 'checkpoint-100/optimizer.pt', size: 3 },
    ]);
  });

  test('opens at offsets', async () => {
    const source = new S3Source('s3://volume1/runs/job1/', config);
    expect(await readAll(await source.open('adapter_model.safetensors', 0))).toBe(big);
    expect(await readAll(await source.open('adapter_model.safetensors', 998))).toBe('xxtail');
    expect(await readAll(await source.open('checkpoint-100/optimizer.pt', 1))).toBe('pt');
  });

  test('missing bucket and key are permanent', async () => {
    const noBucket = new S3Source('s3://no-such-volume/runs', config);
    const listError = await rejection(noBucket.list());
    expect(listError).toBeInstanceOf(PermanentSourceError);
    expect(listError.message).toContain('NoSuchBucket');
    const source = new S3Source('s3://volume1/runs/job1', config);
    const openError = await rejection(source.open('missing.bin', 0));
    expect(openError).toBeInstanceOf(PermanentSourceError);
    expect(openError.message).toContain('NoSuchKey');
  });

  test('a 502 is tried once and reported as transient: the ingest retries, not the source nor the SDK', async () => {
    let calls = 0;
    const flaky = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => {
        calls++;
        return new Response('<Error><Code>BadGateway</Code></Error>', { status: 502 });
      },
    });
    try {
      const source = new S3Source('s3://volume1/runs', { ...config, endpoint: flaky.url.origin });
      expect(await rejection(source.list())).toBeInstanceOf(TransientSourceError);
      expect(calls).toBe(1);
    } finally {
      flaky.stop(true);
    }
  });

  test('a call that never answers times out as transient', async () => {
    const silent = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Promise<Response>(() => {}) });
    try {
      const source = new S3Source('s3://volume1/runs', { ...config, endpoint: silent.url.origin }, { callTimeoutMs: 200 });
      const started = Date.now();
      const error = await rejection(source.list());
      expect(error).toBeInstanceOf(TransientSourceError);
      expect(error.message).toContain('no answer within 200 ms');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.stop(true);
    }
  });
});

describe('https source', () => {
  const payload = new TextEncoder().encode('abcdefghijklmnopqrstuvwxyz');
  const sha = new Bun.CryptoHasher('sha256').update(payload).digest('hex');
  let server: ReturnType<typeof Bun.serve>;
  let base: string;
  const ranges: string[] = [];

  beforeAll(() => {
    server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(request) {
        const { pathname } = new URL(request.url);
        if (pathname === '/run/manifest.json') {
          return Response.json({
            files: [
              { path: 'weights/adapter model.safetensors', size: payload.length, sha256: sha.toUpperCase() },
              { path: 'adapter_config.json', size: 2 },
            ],
          });
        }
        if (pathname === '/bad/manifest.json') return Response.json({ files: [{ path: 'a', size: -1 }] });
        if (pathname === '/hostile/manifest.json') return Response.json({ files: [{ path: '../../etc/passwd', size: 1 }] });
        if (pathname === '/busy/manifest.json') return new Response('later', { status: 503 });
        if (pathname === '/loop/manifest.json') return Response.redirect('/loop/manifest.json', 302);
        if (pathname === '/run/adapter_config.json') return new Response('{}');
        if (pathname === '/norange/weights/adapter%20model.safetensors') return new Response(payload);
        if (pathname === '/run/weights/adapter%20model.safetensors') {
          const range = request.headers.get('range');
          ranges.push(range ?? '');
          const start = Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? 0);
          if (!range) return new Response(payload);
          return new Response(payload.slice(start), {
            status: 206,
            headers: { 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` },
          });
        }
        return new Response('not found', { status: 404 });
      },
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => {
    server.stop(true);
  });

  test('lists the manifest and opens with Range', async () => {
    const source = openSource(`${base}/run/`, { allowPrivateHosts: true });
    expect(source).toBeInstanceOf(HttpsSource);
    expect(await source.list()).toEqual([
      { path: 'adapter_config.json', size: 2 },
      { path: 'weights/adapter model.safetensors', size: payload.length, sha256: sha },
    ]);
    expect(await readAll(await source.open('weights/adapter model.safetensors', 0))).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(await readAll(await source.open('weights/adapter model.safetensors', 20))).toBe('uvwxyz');
    expect(ranges).toEqual(['', 'bytes=20-']);
  });

  test('a URI without the trailing slash still names the folder', async () => {
    const source = new HttpsSource(`${base}/run`, { allowPrivateHosts: true });
    expect((await source.list()).length).toBe(2);
  });

  test('a server that ignores Range: the skipped prefix is dropped', async () => {
    const source = new HttpsSource(`${base}/norange/`, { allowPrivateHosts: true });
    expect(await readAll(await source.open('weights/adapter model.safetensors', 23))).toBe('xyz');
  });

  test('bad manifests and 4xx are permanent, 5xx transient', async () => {
    const bad = await rejection(new HttpsSource(`${base}/bad/`, { allowPrivateHosts: true }).list());
    expect(bad).toBeInstanceOf(PermanentSourceError);
    expect(bad.message).toMatch(/manifest .* is invalid: .*files\[0\]\.size|files.0.size/s);
    const hostile = await rejection(new HttpsSource(`${base}/hostile/`, { allowPrivateHosts: true }).list());
    expect(hostile).toBeInstanceOf(PermanentSourceError);
    expect(hostile.message).toContain('unsafe file path');
    expect(await rejection(new HttpsSource(`${base}/missing/`, { allowPrivateHosts: true }).list())).toBeInstanceOf(PermanentSourceError);
    expect(await rejection(new HttpsSource(`${base}/busy/`, { allowPrivateHosts: true }).list())).toBeInstanceOf(TransientSourceError);
    const loop = await rejection(new HttpsSource(`${base}/loop/`, { allowPrivateHosts: true }).list());
    expect(loop).toBeInstanceOf(PermanentSourceError);
    expect(loop.message).toContain('more than 5 redirects');
  });

  test('a refused connection is transient', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') });
    const url = `http://127.0.0.1:${closed.port}/run/`;
    closed.stop(true);
    expect(await rejection(new HttpsSource(url, { allowPrivateHosts: true }).list())).toBeInstanceOf(TransientSourceError);
  });

  test('an idle body is aborted as transient', async () => {
    const stall = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('first'));
            },
          }),
        ),
    });
    try {
      const source = new HttpsSource(`http://127.0.0.1:${stall.port}/`, { allowPrivateHosts: true, idleTimeoutMs: 200 });
      const reader = (await source.open('f', 0)).getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('first');
      const error = await rejection(reader.read());
      expect(error).toBeInstanceOf(TransientSourceError);
      expect(error.message).toContain('no bytes for 200 ms');
    } finally {
      stall.stop(true);
    }
  });

  describe('SSRF guard (allowPrivateHosts: false)', () => {
    const refused = async (source: Source, pattern: RegExp) => {
      const error = await rejection(source.list());
      expect(error).toBeInstanceOf(PermanentSourceError);
      expect(error.message).toMatch(pattern);
    };

    test('refuses loopback by address and by name', async () => {
      await refused(openSource(`https://127.0.0.1:${server.port}/run/`, { allowPrivateHosts: false }), /refused .*127\.0\.0\.1/);
      await refused(
        openSource(`https://localhost:${server.port}/run/`, { allowPrivateHosts: false }),
        /refused .*localhost resolves to non-public address/,
      );
      await refused(openSource(`https://[::ffff:127.0.0.1]:${server.port}/run/`, { allowPrivateHosts: false }), /refused/);
      await refused(openSource('https://169.254.169.254/latest/', { allowPrivateHosts: false }), /refused/);
    });

    test('refuses http:// and a name that resolves to the metadata address', async () => {
      expect(() => openSource(`${base}/run/`, { allowPrivateHosts: false })).toThrow(/refused .*only https/);
      const lookup = async () => [
        { address: '93.184.215.14', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ];
      let fetched = false;
      const fetch = async () => {
        fetched = true;
        return new Response('{}');
      };
      await refused(
        openSource('https://outputs.example.com/run/', { allowPrivateHosts: false, lookup, fetch }),
        /non-public address 169\.254\.169\.254/,
      );
      expect(fetched).toBe(false);
    });

    test('re-checks every redirect hop', async () => {
      const seen: string[] = [];
      // Stands in for a public file server (a public IP literal, so no DNS is needed) that redirects inward.
      const fetch = async (input: string | URL | Request, init?: RequestInit) => {
        const url = String(input instanceof Request ? input.url : input);
        seen.push(url);
        expect(init?.redirect).toBe('manual');
        if (url.startsWith('https://93.184.215.14/')) {
          return new Response(null, { status: 302, headers: { location: `https://127.0.0.1:${server.port}/run/manifest.json` } });
        }
        return globalThis.fetch(input, init);
      };
      await refused(openSource('https://93.184.215.14/run/', { allowPrivateHosts: false, fetch }), /refused https:\/\/127\.0\.0\.1/);
      expect(seen).toEqual(['https://93.184.215.14/run/manifest.json']);

      const toHttp = async () => new Response(null, { status: 301, headers: { location: `${base}/run/manifest.json` } });
      await refused(openSource('https://93.184.215.14/run/', { allowPrivateHosts: false, fetch: toHttp }), /only https/);
    });
  });
});
