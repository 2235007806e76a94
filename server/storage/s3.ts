/**
 * Cloudflare R2 or any S3-compatible store. Downloads go straight to the store through presigned GET
 * URLs; the app never proxies artifact bytes.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash } from 'node:crypto';
import { contentDisposition } from './content-disposition.ts';
import {
  StorageNotFoundError,
  type ByteRange,
  type ObjectInfo,
  type PutOptions,
  type SignOptions,
  type StorageDriver,
} from './storage.ts';

/** SigV4 presigned URLs cannot live longer than 7 days; longer requests are clamped to this. */
export const MAX_PRESIGN_SECONDS = 604_800;
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;

export interface S3StorageOptions {
  /** e.g. `https://<account>.r2.cloudflarestorage.com`; omit for AWS. */
  endpoint?: string;
  /** `auto` for R2. */
  region?: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Needed by most self-hosted stores (MinIO, s3rver); R2 and AWS work either way. */
  forcePathStyle?: boolean;
  /** Multipart part size; default 64 MiB, at least 5 MiB. Memory per upload is about partSize × queueSize. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel per upload; default 4. */
  queueSize?: number;
}

/** The S3 driver; `client` and `bucket` are exposed for tests and tooling. */
export interface S3Storage extends StorageDriver {
  readonly kind: 's3';
  readonly client: S3Client;
  readonly bucket: string;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? ((error as { Code?: string }).Code ?? error.name) : undefined;
}

function isNotFound(error: unknown): boolean {
  const name = nameOf(error);
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** Creates the S3 driver with one client that is used for requests and presigning alike. */
export function createS3Storage(options: S3StorageOptions): S3Storage {
  const { bucket } = options;
  const partSize = Math.max(options.partSizeBytes ?? 64 * 1024 * 1024, MIN_PART_SIZE);
  const queueSize = Math.max(options.queueSize ?? 4, 1);
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? 'auto',
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    // The SDK's default CRC32 trailers are rejected by R2 and corrupt streamed uploads on s3rver,
    // and would add x-amz-checksum-mode to presigned URLs.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
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

  async function deleteKeys(keys: string[]): Promise<void> {
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
        if (nameOf(error) !== 'NotImplemented' && statusOf(error) !== 501) throw error;
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
      signal?.throwIfAborted();
      // Grow the part size only when a huge object would exceed S3's 10 000-part limit.
      const effectivePartSize =
        size !== undefined && Math.ceil(size / partSize) > MAX_PARTS ? Math.ceil(size / MAX_PARTS) : partSize;
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
        if (isNotFound(error)) throw new StorageNotFoundError(key);
        if (nameOf(error) === 'InvalidRange' || statusOf(error) === 416) {
          throw new RangeError(`range ${range?.start}-${range?.end ?? ''} not satisfiable for ${key}`);
        }
        throw error;
      }
    },

    async head(key: string): Promise<ObjectInfo | null> {
      try {
        const result = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: result.ContentLength ?? 0 };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },

    async delete(key: string): Promise<void> {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    async deletePrefix(prefix: string): Promise<void> {
      // An empty prefix would empty the whole bucket; no caller means that.
      if (prefix === '') throw new Error('refusing to delete an empty prefix');
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: DELETE_BATCH, ContinuationToken: token }),
        );
        const keys = (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
        await deleteKeys(keys);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    },

    async signedUrl(key: string, sign: SignOptions): Promise<string> {
      const expiresIn = Math.min(Math.max(Math.floor(sign.expiresInSeconds), 1), MAX_PRESIGN_SECONDS);
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
