/**
 * Where model artifacts live. Two backends implement it: `fs` (local disk under DATA_DIR, links signed by
 * the app itself) and `s3` (Cloudflare R2 or any S3). Keys are built from server ids only
 * (`{userId}/{artifactId}/{n}`), never from names a user or a GPU node supplied.
 */
export interface PutOptions {
  /** Exact byte length when known; lets S3 pick single PUT vs multipart. */
  size?: number;
  contentType?: string;
  /** Stored on the object (S3) so a plain GET also saves under the right name. */
  fileName?: string;
  signal?: AbortSignal;
  /**
   * Called with each chunk of the body once the driver is done with its bytes, so the caller may reuse the
   * buffer. A driver may skip it (the caller then allocates); it must never touch a chunk after calling it.
   */
  release?: (chunk: Uint8Array) => void;
}

export interface ByteRange {
  start: number;
  /** Inclusive, like HTTP Range. */
  end?: number;
}

export interface SignOptions {
  /** Seconds from now; the caller caps it (SIGNED_URL_TTL_SECONDS, at most 7 days). */
  expiresInSeconds: number;
  /** Name the browser saves the file under (Content-Disposition: attachment). */
  fileName: string;
  contentType?: string;
  /**
   * Whom the link is for (`u:<userId>`, `s:<shareId>`), signed into it, so a driver that serves its own
   * links (fs) can ask at download time whether they still may: a removed member's links stop at once.
   * S3 cannot ask; its links end at their expiry.
   */
  grant?: string;
}

/** Free and total bytes of the filesystem under a driver that has one. */
export interface StorageSpace {
  freeBytes: number;
  totalBytes: number;
}

export interface StorageDriver {
  readonly kind: 'fs' | 's3';
  /** Streams `body` to `key`, replacing any object there. Never buffers the whole body. */
  put(key: string, body: ReadableStream<Uint8Array>, options?: PutOptions): Promise<void>;
  /** A byte stream of the object (or of `range`). Throws StorageNotFoundError when absent. */
  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** Removes every object whose key starts with `prefix` (a failed ingest's leftovers). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Removes exactly these objects (a pruned checkpoint's files): `artifacts/a/1` is a prefix of
   * `artifacts/a/10`, so single objects cannot go by prefix. A key with no object is not an error.
   */
  deleteKeys(keys: readonly string[]): Promise<void>;
  /** A short-lived URL that downloads the object as an attachment. Nothing is stored. */
  signedUrl(key: string, options: SignOptions): Promise<string>;
  /** Probe for /readyz. */
  check(): Promise<void>;
  /** Free space where objects are written (fs: statfs of its root); absent where unknowable (s3). */
  space?(): Promise<StorageSpace>;
}

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}
