/**
 * The one S3 client set-up and the one reading of S3 failures, shared by the storage driver (s3.ts: R2 or
 * any S3-compatible store holding our artifacts) and the `s3://` training-output source
 * (ingest/sources/s3-source.ts: RunPod volumes, any S3).
 */
import { S3Client } from '@aws-sdk/client-s3';

/** Where and as whom to connect. */
export interface S3Connection {
  /** Omit for AWS itself; R2: `https://<account>.r2.cloudflarestorage.com`; RunPod: `https://s3api-<datacenter>.runpod.io`. */
  endpoint?: string;
  /** `auto` for R2. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Needed by most self-hosted stores (MinIO, s3rver) and RunPod; R2 and AWS work either way. */
  forcePathStyle?: boolean;
}

/**
 * An S3Client for `connection`. `maxAttempts` is the SDK's own retry count (its default when omitted);
 * a caller that retries in its own layer passes 1, so tries are not multiplied.
 */
export function createS3Client(connection: S3Connection, options: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    // The SDK's default CRC32 checksums are rejected by R2, RunPod and older MinIO, corrupt streamed
    // uploads on s3rver, and would add x-amz-checksum-mode to presigned URLs.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.maxAttempts !== undefined && { maxAttempts: options.maxAttempts }),
  });
}

/**
 * What an S3 failure means: `not_found` (no such key or bucket), `invalid_range`, `not_implemented` (a
 * store without that operation), `permanent` (the request is wrong: credentials, permissions, names) or
 * `transient` (5xx, throttling, timeouts, and anything without an HTTP status: a refused or reset socket, DNS).
 */
type S3Failure = 'not_found' | 'invalid_range' | 'not_implemented' | 'permanent' | 'transient';

/** A classified S3 failure: the kind, the store's error code, its HTTP status (none for a network failure) and its words. */
export interface S3ErrorInfo {
  failure: S3Failure;
  code: string;
  status: number | undefined;
  message: string | undefined;
}

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);
const PERMANENT_CODES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AllAccessDisabled',
]);
// Named before the status is read: S3 answers RequestTimeout with a 400 and a skewed clock with a 403.
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

/** Reads an SDK error (or anything thrown at an S3 call) once, for every caller. */
export function classifyS3Error(error: unknown): S3ErrorInfo {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const code = e.Code ?? e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const info = (failure: S3Failure): S3ErrorInfo => ({ failure, code, status, message: e.message });
  if (NOT_FOUND_CODES.has(code)) return info('not_found');
  if (code === 'InvalidRange') return info('invalid_range');
  if (PERMANENT_CODES.has(code)) return info('permanent');
  if (TRANSIENT_CODES.has(code)) return info('transient');
  if (code === 'NotImplemented' || status === 501) return info('not_implemented');
  if (status === 404) return info('not_found');
  if (status === 416) return info('invalid_range');
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) return info('permanent');
  return info('transient');
}
