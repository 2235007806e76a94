/**
 * Cloudflare R2 or any S3-compatible store. Downloads go straight to the store through presigned GET
 * URLs; the app never proxies artifact bytes.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash } from 'node:crypto';
import { contentDisposition } from './content-disposition.ts';
import { classifyS3Error, createS3Client, type S3Connection } from './s3-client.ts';
import { StorageNotFoundError, type ByteRange, type PutOptions, type SignOptions, type StorageDriver } from './storage.ts';
import { assertStorageKey, assertStoragePrefix } from '../paths.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../vocabulary.ts';

const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;

export interface S3StorageOptions extends Omit<S3Connection, 'region'> {
  /** Default `auto` (R2). */
  region?: string;
  bucket: string;
  /** Multipart part size; default 16 MiB, at least 5 MiB. Memory per upload is about partSize × queueSize. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel per upload; default 4 (measured against s3rver: tests/bench/copy-parallel.ts). */
  queueSize?: number;
}

/** The S3 driver; `client` and `bucket` are exposed for tests and tooling. */
export interface S3Storage extends StorageDriver {
  readonly kind: 's3';
  readonly client: S3Client;
  readonly bucket: string;
}

/** Creates the S3 driver with one client that is used for requests and presigning alike. */
export function createS3Storage(options: S3StorageOptions): S3Storage {
  const { bucket } = options;
  // 16 MiB × 4 in flight: ~64 MiB per upload, inside the copy's memory bound, and 320 parts for a 5 GiB file.
  const partSize = Math.max(options.partSizeBytes ?? 16 * 1024 * 1024, MIN_PART_SIZE);
  const queueSize = Math.max(options.queueSize ?? 4, 1);
  // The SDK's own retries (its default) are the one retry layer for our store's calls.
  const client = createS3Client({ ...options, region: options.region ?? 'auto' });
  // Some S3-compatible stores still insist on Content-MD5 for DeleteObjects; the body is tiny XML.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && typeof request.body === 'string' && request.headers) {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'deleteObjectsContentMd5' },
  );

  let batchDeleteUnsupported = false;

  /** One DeleteObjects request (at most DELETE_BATCH keys), or one DeleteObject per key where the store has no batch delete. */
  async function deleteBatch(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!batchDeleteUnsupported) {
      try {
        const result = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
        );
        const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          throw new Error(`could not delete ${failed.length} objects, first: ${failed[0]?.Key} (${failed[0]?.Code})`);
        }
        return;
      } catch (error) {
        if (classifyS3Error(error).failure !== 'not_implemented') throw error;
        batchDeleteUnsupported = true;
      }
    }
    for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  }

  return {
    kind: 's3',
    client,
    bucket,

    async put(key: string, body: ReadableStream<Uint8Array>, putOptions: PutOptions = {}): Promise<void> {
      const { size, signal } = putOptions;
      assertStorageKey(key);
      signal?.throwIfAborted();
      // Grow the part size only when a huge object would exceed S3's 10 000-part limit.
      const effectivePartSize = size !== undefined && Math.ceil(size / partSize) > MAX_PARTS ? Math.ceil(size / MAX_PARTS) : partSize;
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: putOptions.contentType ?? 'application/octet-stream',
          ...(putOptions.fileName !== undefined && { ContentDisposition: contentDisposition(putOptions.fileName) }),
        },
        partSize: effectivePartSize,
        queueSize,
        leavePartsOnError: false,
      });
      const onAbort = (): void => void upload.abort().catch(() => {});
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await upload.done();
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      signal?.throwIfAborted();
    },

    async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
      assertStorageKey(key);
      if (range && (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && range.end < range.start))) {
        throw new RangeError(`invalid range ${range.start}-${range.end ?? ''}`);
      }
      try {
        const result = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(range && { Range: `bytes=${range.start}-${range.end ?? ''}` }),
          }),
          { abortSignal: signal },
        );
        if (!result.Body) throw new StorageNotFoundError(key);
        return result.Body.transformToWebStream() as ReadableStream<Uint8Array>;
      } catch (error) {
        const { failure } = classifyS3Error(error);
        if (failure === 'not_found') throw new StorageNotFoundError(key);
        if (failure === 'invalid_range') {
          throw new RangeError(`range ${range?.start}-${range?.end ?? ''} not satisfiable for ${key}`);
        }
        throw error;
      }
    },

    async deletePrefix(prefix: string): Promise<void> {
      // The same rule as the fs driver: never empty (that would empty the whole bucket), never odd.
      assertStoragePrefix(prefix);
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: DELETE_BATCH, ContinuationToken: token }));
        const keys = (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
        await deleteBatch(keys);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    },

    async deleteKeys(keys: readonly string[]): Promise<void> {
      // Checked first, so a bad key deletes nothing. DeleteObjects reports a key with no object as deleted.
      for (const key of keys) assertStorageKey(key);
      for (let i = 0; i < keys.length; i += DELETE_BATCH) await deleteBatch(keys.slice(i, i + DELETE_BATCH));
    },

    async signedUrl(key: string, sign: SignOptions): Promise<string> {
      assertStorageKey(key);
      const expiresIn = Math.min(Math.max(Math.floor(sign.expiresInSeconds), 1), MAX_LINK_LIFETIME_SECONDS);
      const command = new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ResponseContentDisposition: contentDisposition(sign.fileName),
        ResponseContentType: sign.contentType ?? 'application/octet-stream',
      });
      return getSignedUrl(client, command, { expiresIn });
    },

    async check(): Promise<void> {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },
  };
}
