// One contract, two drivers: local disk (served by our own route) and S3 on a real s3rver.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsV4Signer } from 'aws4fetch';
import { Hono } from 'hono';
// @ts-expect-error s3rver ships no type declarations
import S3rverModule from 's3rver';
import { createStorage } from '../../server/storage/index.ts';
import { fsFilesRoute } from '../../server/storage/fs-route.ts';
import { StorageNotFoundError, type StorageDriver } from '../../server/storage/storage.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../../server/vocabulary.ts';

interface S3rverInstance {
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
}
const S3rver = S3rverModule as new (options: Record<string, unknown>) => S3rverInstance;

const MiB = 1024 * 1024;
const HOSTILE_NAME = 'mod"el\r\n💥.safetensors';

/** Deterministic pseudo-random bytes in uneven chunks, hashed as they are produced. */
function generatedBody(size: number, seed = 1): { stream: ReadableStream<Uint8Array>; sha256: () => string } {
  const hash = createHash('sha256');
  let produced = 0;
  let state = seed >>> 0 || 1;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= size) {
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(700_001, size - produced));
      const words = new Uint32Array(chunk.buffer, 0, chunk.byteLength >>> 2);
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state >>> 0;
      }
      for (let i = words.length * 4; i < chunk.byteLength; i++) chunk[i] = (produced + i) & 0xff;
      produced += chunk.byteLength;
      hash.update(chunk);
      controller.enqueue(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

function bytesStream(bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> {
  return new Response(bytes).body as ReadableStream<Uint8Array>;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The stored object's size, or null when there is none: what a reader of the driver can observe. */
async function sizeAt(driver: StorageDriver, key: string): Promise<{ size: number } | null> {
  try {
    return { size: (await readAll(await driver.get(key))).byteLength };
  } catch (error) {
    if (error instanceof StorageNotFoundError) return null;
    throw error;
  }
}

async function sha256Of(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) hash.update(next.value);
  return hash.digest('hex');
}

interface Harness {
  driver: StorageDriver;
  /** Driver-specific checks of a signed URL, run before it is fetched. */
  inspectSignedUrl?: (url: URL, ttlSeconds: number) => Promise<void>;
  /** S3 only: UploadPart requests sent so far, to prove multipart really happened. */
  uploadParts?: () => number;
  /** S3 only: DeleteObjects requests sent so far, to prove batches of at most 1000 keys. */
  deleteRequests?: () => number;
  close: () => Promise<void>;
}

function storageContract(name: string, setup: () => Promise<Harness>): void {
  describe(`storage contract: ${name}`, () => {
    let harness: Harness;
    let driver: StorageDriver;
    beforeAll(async () => {
      harness = await setup();
      driver = harness.driver;
    });
    afterAll(async () => {
      await harness.close();
    });

    test('check() passes', async () => {
      await driver.check();
    });

    test('a streamed multi-part body round-trips byte for byte', async () => {
      const size = 12 * MiB + 12_345;
      const body = generatedBody(size, 7);
      const partsBefore = harness.uploadParts?.() ?? 0;
      await driver.put('u1/a1/0', body.stream, { size, contentType: 'application/octet-stream', fileName: 'adapter.safetensors' });
      // 5 MiB parts for the s3 harness: 12 MiB must take three UploadPart requests.
      if (harness.uploadParts) expect(harness.uploadParts() - partsBefore).toBe(3);
      expect(await sizeAt(driver, 'u1/a1/0')).toEqual({ size });
      expect(await sha256Of(await driver.get('u1/a1/0'))).toBe(body.sha256());
    });

    test('an aborted put leaves no object behind', async () => {
      const controller = new AbortController();
      let produced = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          produced += MiB;
          if (produced === 8 * MiB) controller.abort(new Error('ingest cancelled'));
          c.enqueue(new Uint8Array(MiB));
        },
      });
      await expect(driver.put('u1/aborted/0', endless, { signal: controller.signal })).rejects.toThrow();
      expect(await sizeAt(driver, 'u1/aborted/0')).toBeNull();
    });

    test('put replaces an existing object', async () => {
      await driver.put('u1/a2/0', bytesStream(new TextEncoder().encode('first version')));
      await driver.put('u1/a2/0', bytesStream(new TextEncoder().encode('second')));
      expect(new TextDecoder().decode(await readAll(await driver.get('u1/a2/0')))).toBe('second');
    });

    test('byte ranges', async () => {
      const bytes = new Uint8Array(1000).map((_, i) => i % 251);
      await driver.put('u1/a3/0', bytesStream(bytes), { size: bytes.byteLength });
      expect(await readAll(await driver.get('u1/a3/0', { start: 10, end: 19 }))).toEqual(bytes.slice(10, 20));
      expect(await readAll(await driver.get('u1/a3/0', { start: 990 }))).toEqual(bytes.slice(990));
      // Single byte at 1, not 0: s3rver treats `bytes=0-0` as the whole object (`end || Infinity`).
      expect(await readAll(await driver.get('u1/a3/0', { start: 1, end: 1 }))).toEqual(bytes.slice(1, 2));
      expect(await readAll(await driver.get('u1/a3/0', { start: 995, end: 5000 }))).toEqual(bytes.slice(995));
      await expect(driver.get('u1/a3/0', { start: 1000 })).rejects.toBeInstanceOf(RangeError);
    });

    test('an empty object', async () => {
      await driver.put('u1/a4/0', bytesStream(new Uint8Array(0)), { size: 0 });
      expect(await sizeAt(driver, 'u1/a4/0')).toEqual({ size: 0 });
      expect((await readAll(await driver.get('u1/a4/0'))).byteLength).toBe(0);
    });

    test('a missing key: get throws StorageNotFoundError', async () => {
      const error = await driver.get('u1/nope/0').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageNotFoundError);
      expect((error as StorageNotFoundError).key).toBe('u1/nope/0');
    });

    test('deletePrefix removes exactly the objects under the prefix', async () => {
      const keys = ['u2/b1/0', 'u2/b1/1', 'u2/b1/2', 'u2/b10/0', 'u2/b2/0'];
      for (const key of keys) await driver.put(key, bytesStream(new TextEncoder().encode(key)));
      await driver.deletePrefix('u2/b1/');
      expect(await sizeAt(driver, 'u2/b1/0')).toBeNull();
      expect(await sizeAt(driver, 'u2/b1/2')).toBeNull();
      expect(await sizeAt(driver, 'u2/b10/0')).toEqual({ size: 8 });
      expect(await sizeAt(driver, 'u2/b2/0')).toEqual({ size: 7 });
      // Without a trailing slash it is a plain string prefix, like S3.
      await driver.deletePrefix('u2/b1');
      expect(await sizeAt(driver, 'u2/b10/0')).toBeNull();
      expect(await sizeAt(driver, 'u2/b2/0')).toEqual({ size: 7 });
      await driver.deletePrefix('u2/nothing-here/');
      await expect(driver.deletePrefix('')).rejects.toThrow();
    });

    test('deleteKeys removes exactly the named objects, not the keys they are a prefix of', async () => {
      const keys = ['u3/c1/1', 'u3/c1/10', 'u3/c1/11', 'u3/c1/2'];
      for (const key of keys) await driver.put(key, bytesStream(new TextEncoder().encode(key)));
      // A key with no object (already deleted, or never written) is not an error.
      await driver.deleteKeys(['u3/c1/1', 'u3/c1/2', 'u3/c1/nothing']);
      expect(await sizeAt(driver, 'u3/c1/1')).toBeNull();
      expect(await sizeAt(driver, 'u3/c1/2')).toBeNull();
      expect(await sizeAt(driver, 'u3/c1/10')).toEqual({ size: 8 });
      expect(await sizeAt(driver, 'u3/c1/11')).toEqual({ size: 8 });
      await driver.deleteKeys([]);
      // An invalid key deletes nothing, not even the valid keys beside it.
      await expect(driver.deleteKeys(['u3/c1/10', '../escape'])).rejects.toThrow();
      expect(await sizeAt(driver, 'u3/c1/10')).toEqual({ size: 8 });
    });

    test('deleteKeys deletes more than one batch (1000 keys) of objects', async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `u4/d/${i}`);
      // Only a few objects exist: the rest of the batches name missing keys, which must pass too.
      const written = ['u4/d/0', 'u4/d/999', 'u4/d/1000', 'u4/d/1002'];
      for (const key of written) await driver.put(key, bytesStream(new TextEncoder().encode(key)));
      await driver.put('u4/d/keep', bytesStream(new TextEncoder().encode('keep')));
      const requestsBefore = harness.deleteRequests?.() ?? 0;
      await driver.deleteKeys(keys);
      // S3 takes at most 1000 keys a request: 1003 keys are two DeleteObjects calls.
      if (harness.deleteRequests) expect(harness.deleteRequests() - requestsBefore).toBe(2);
      for (const key of written) expect(await sizeAt(driver, key)).toBeNull();
      expect(await sizeAt(driver, 'u4/d/keep')).toEqual({ size: 4 });
    });

    test('a signed URL downloads the exact bytes as an attachment', async () => {
      const size = 3 * MiB + 7;
      const body = generatedBody(size, 99);
      await driver.put('u3/c1/0', body.stream, { size, fileName: 'adapter_model.safetensors' });
      const ttl = 900;
      const url = await driver.signedUrl('u3/c1/0', { expiresInSeconds: ttl, fileName: 'adapter_model.safetensors' });
      await harness.inspectSignedUrl?.(new URL(url), ttl);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-disposition')).toBe(
        `attachment; filename="adapter_model.safetensors"; filename*=UTF-8''adapter_model.safetensors`,
      );
      expect(response.headers.get('content-length')).toBe(String(size));
      expect(await sha256Of(response.body as ReadableStream<Uint8Array>)).toBe(body.sha256());
    });

    test('a hostile file name yields a safe Content-Disposition', async () => {
      await driver.put('u3/c2/0', bytesStream(new TextEncoder().encode('weights')), { fileName: HOSTILE_NAME });
      const url = await driver.signedUrl('u3/c2/0', { expiresInSeconds: 60, fileName: HOSTILE_NAME });
      const response = await fetch(url);
      expect(response.status).toBe(200);
      const header = response.headers.get('content-disposition') ?? '';
      expect(header).toBe(`attachment; filename="model_.safetensors"; filename*=UTF-8''model%F0%9F%92%A5.safetensors`);
      expect(header).not.toMatch(/[\r\n\\]/);
      expect(await response.text()).toBe('weights');
    });
  });
}

storageContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'storage-fs-'));
  let route: Hono | undefined;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (request) => (route ? route.fetch(request) : new Response(null, { status: 503 })),
  });
  const driver = createStorage({ driver: 'fs', root, publicUrl: server.url.origin, secret: 'contract-test-secret-0123456789' });
  route = new Hono().route('/files', fsFilesRoute(driver));
  return {
    driver,
    close: async () => {
      await server.stop(true);
      await rm(root, { recursive: true, force: true });
    },
  };
});

storageContract('s3 (s3rver)', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'storage-s3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: 'artifacts' }] });
  const { port } = await s3rver.run();
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const driver = createStorage({
    driver: 's3',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'auto',
    bucket: 'artifacts',
    forcePathStyle: true,
    partSizeBytes: 5 * MiB,
    ...credentials,
  });
  let uploadParts = 0;
  let deleteRequests = 0;
  driver.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') uploadParts++;
      if (context.commandName === 'DeleteObjectsCommand') deleteRequests++;
      return next(args);
    },
    { step: 'initialize', name: 'countUploadParts' },
  );

  /** s3rver accepts any signature, so the SigV4 signature is recomputed independently with aws4fetch. */
  async function inspectSignedUrl(url: URL, ttlSeconds: number): Promise<void> {
    const params = url.searchParams;
    expect(params.get('X-Amz-Expires')).toBe(String(ttlSeconds));
    expect(params.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(params.get('response-content-disposition')).toBe(
      `attachment; filename="adapter_model.safetensors"; filename*=UTF-8''adapter_model.safetensors`,
    );
    expect(params.get('response-content-type')).toBe('application/octet-stream');
    for (const name of params.keys()) expect(name.toLowerCase()).not.toMatch(/checksum/);

    const datetime = params.get('X-Amz-Date') ?? '';
    const unsigned = new URL(url);
    unsigned.searchParams.delete('X-Amz-Signature');
    const signer = new AwsV4Signer({
      url: unsigned.toString(),
      method: 'GET',
      service: 's3',
      region: 'auto',
      signQuery: true,
      datetime,
      ...credentials,
    });
    const signed = new URL((await signer.sign()).url);
    expect(params.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(signed.searchParams.get('X-Amz-Signature')).toBe(params.get('X-Amz-Signature'));
  }

  return {
    driver,
    inspectSignedUrl,
    uploadParts: () => uploadParts,
    deleteRequests: () => deleteRequests,
    close: async () => {
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});

test('s3 signed URLs clamp their lifetime to 7 days', async () => {
  const driver = createStorage({
    driver: 's3',
    endpoint: 'http://127.0.0.1:9',
    bucket: 'b',
    accessKeyId: 'k',
    secretAccessKey: 's',
    forcePathStyle: true,
  });
  const url = new URL(await driver.signedUrl('u/a/0', { expiresInSeconds: 30 * 86_400, fileName: 'x.bin' }));
  expect(url.searchParams.get('X-Amz-Expires')).toBe(String(MAX_LINK_LIFETIME_SECONDS)); // 7 days, SigV4's own limit
});
