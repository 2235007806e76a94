import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { classifyS3Error, createS3Client, type S3Connection } from '../../storage/s3-client.ts';
import { PermanentSourceError, TransientSourceError, type Source, type SourceFile } from './source.ts';

/** Credentials and endpoint for `s3://` outputs (from SOURCE_S3_*, parsed by env.ts and passed in). */
export type S3SourceConfig = S3Connection;

/** Tuning, mostly for tests. */
export interface S3SourceOptions {
  /** Per call: until the listing page or the GetObject headers arrive (not the body). Default 60 s: RunPod volumes list slowly. */
  callTimeoutMs?: number;
}

/**
 * An S3 failure in the source vocabulary (classified by `classifyS3Error`, shared with the storage
 * driver): 5xx, throttling and anything without an HTTP status (reset sockets, DNS, our per-call timeout)
 * are transient; missing keys and buckets, named client errors and other 4xx are permanent.
 */
export function s3SourceError(error: unknown, what: string): TransientSourceError | PermanentSourceError {
  if (error instanceof TransientSourceError || error instanceof PermanentSourceError) return error;
  const { failure, code, status, message } = classifyS3Error(error);
  // The store's own words come with an HTTP status; a failure without one is the network's (a refused or
  // reset socket, DNS), whose message names the operator's endpoint: the user reads only that it was unreachable.
  const said = status !== undefined && message && message !== code ? `: ${message}` : '';
  const detail = status !== undefined ? `${what}: ${code} (HTTP ${status})${said}` : `${what}: the S3 endpoint could not be reached`;
  const permanent = failure === 'not_found' || failure === 'invalid_range' || failure === 'permanent';
  return permanent ? new PermanentSourceError(detail, { cause: error }) : new TransientSourceError(detail, { cause: error });
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
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    // One try per call, the SDK's retries off too: the ingest retries (see Source in source.ts).
    this.client = createS3Client(config, { maxAttempts: 1 });
  }

  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const files: SourceFile[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`listing ${this.uri}`, signal, (abortSignal) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }), { abortSignal }),
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
   * One S3 call, one try, with a timeout that covers only the wait for the response: the timer is
   * cleared once the call resolves, because aborting later would also cut a GetObject body mid-stream.
   */
  private async call<T>(what: string, signal: AbortSignal | undefined, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
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
      throw s3SourceError(error, what);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
