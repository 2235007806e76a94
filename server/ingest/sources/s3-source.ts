import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { withRetry } from '../retry.ts';
import { PermanentSourceError, TransientSourceError, type Source, type SourceFile } from './source.ts';

/** Credentials and endpoint for `s3://` outputs (from SOURCE_S3_*, parsed by env.ts and passed in). */
export interface S3SourceConfig {
  /** Omit for AWS itself; RunPod: `https://s3api-<datacenter>.runpod.io`. */
  endpoint?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

/** Tuning, mostly for tests; the defaults suit RunPod volumes, which list slowly and 502 at times. */
export interface S3SourceOptions {
  /** Tries per S3 call, the first included. */
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  /** Per call: until the listing page or the GetObject headers arrive (not the body). */
  callTimeoutMs?: number;
}

const PERMANENT_CODES = new Set([
  'NoSuchBucket',
  'NoSuchKey',
  'NotFound',
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'InvalidRange',
  'AllAccessDisabled',
]);
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

/**
 * Maps an SDK failure to the source vocabulary: 5xx, throttling and anything without an HTTP status
 * (reset sockets, DNS, our per-call timeout) are worth retrying; named client errors and other 4xx are not.
 */
export function classifyS3Error(error: unknown, what: string): TransientSourceError | PermanentSourceError {
  if (error instanceof TransientSourceError || error instanceof PermanentSourceError) return error;
  const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = e?.Code ?? e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  // The store's own words come with an HTTP status; a failure without one is the network's (a refused or
  // reset socket, DNS), whose message names the operator's endpoint: the user reads only that it was unreachable.
  const said = status !== undefined && e?.message && e.message !== code ? `: ${e.message}` : '';
  const detail = status !== undefined ? `${what}: ${code} (HTTP ${status})${said}` : `${what}: the S3 endpoint could not be reached`;
  if (PERMANENT_CODES.has(code)) return new PermanentSourceError(detail, { cause: error });
  if (TRANSIENT_CODES.has(code)) return new TransientSourceError(detail, { cause: error });
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new PermanentSourceError(detail, { cause: error });
  }
  return new TransientSourceError(detail, { cause: error });
}

/**
 * `s3://bucket/prefix`: every object under the prefix, paths relative to it. Directory markers (keys
 * ending in '/', which RunPod and some consoles create) are skipped. The prefix is treated as a folder,
 * so `s3://b/run1` never picks up `run10/…`.
 */
export class S3Source implements Source {
  readonly uri: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly attempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly callTimeoutMs: number;

  constructor(uri: string, config: S3SourceConfig, options: S3SourceOptions = {}) {
    this.uri = uri;
    let url: URL;
    try {
      url = new URL(uri);
    } catch (error) {
      throw new PermanentSourceError(`malformed S3 URI ${JSON.stringify(uri)}: expected s3://bucket/prefix`, { cause: error });
    }
    if (url.protocol !== 's3:' || !url.hostname) {
      throw new PermanentSourceError(`malformed S3 URI ${JSON.stringify(uri)}: expected s3://bucket/prefix`);
    }
    this.bucket = url.hostname;
    const rawPrefix = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    this.prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
    this.attempts = options.attempts ?? 5;
    this.baseMs = options.baseMs ?? 500;
    this.maxMs = options.maxMs ?? 15_000;
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      forcePathStyle: config.forcePathStyle,
      // Newer SDKs add CRC32 checksums by default, which RunPod, older MinIO and s3rver reject.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Our own retry policy (longer backoff, per-call timeout) replaces the SDK's, rather than multiplying it.
      maxAttempts: 1,
    });
  }

  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const files: SourceFile[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`listing ${this.uri}`, signal, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
          { abortSignal },
        ),
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key;
        if (!key || key.endsWith('/') || !key.startsWith(this.prefix)) continue;
        files.push({ path: key.slice(this.prefix.length), size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    // S3 already lists in UTF-8 byte order; sorting again keeps every source's order the same.
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async open(path: string, offset: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const key = this.prefix + path;
    const response = await this.call(`reading s3://${this.bucket}/${key}`, signal, (abortSignal) =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          // No Range at 0: S3 answers 416 to `bytes=0-` on an empty object.
          Range: offset > 0 ? `bytes=${offset}-` : undefined,
        }),
        { abortSignal },
      ),
    );
    if (!response.Body) throw new TransientSourceError(`reading s3://${this.bucket}/${key}: empty response body`);
    if (offset > 0 && response.ContentRange && !response.ContentRange.startsWith(`bytes ${offset}-`)) {
      throw new TransientSourceError(`reading s3://${this.bucket}/${key}: asked for offset ${offset}, got ${response.ContentRange}`);
    }
    return response.Body.transformToWebStream() as ReadableStream<Uint8Array>;
  }

  /**
   * One S3 call with retries and a timeout that covers only the wait for the response: the timer is
   * cleared once the call resolves, because aborting later would also cut a GetObject body mid-stream.
   */
  private call<T>(what: string, signal: AbortSignal | undefined, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        const controller = new AbortController();
        const onAbort = () => controller.abort(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          controller.abort(new TransientSourceError(`${what}: no answer within ${this.callTimeoutMs} ms`));
        }, this.callTimeoutMs);
        try {
          return await send(controller.signal);
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (timedOut) throw new TransientSourceError(`${what}: no answer within ${this.callTimeoutMs} ms`, { cause: error });
          throw classifyS3Error(error, what);
        } finally {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        }
      },
      {
        attempts: this.attempts,
        baseMs: this.baseMs,
        maxMs: this.maxMs,
        signal,
        isRetryable: (error) => error instanceof TransientSourceError,
      },
    );
  }
}
