import type { BufferPool } from '../buffer-pool.ts';

/**
 * A training run's output location on the GPU cluster, chosen by the output URI's scheme
 * (file://, s3://, https://). Each source lists files with sizes and opens a byte stream at an
 * offset, so an interrupted transfer resumes with a Range request instead of starting over.
 */
export interface SourceFile {
  /** Relative path inside the output location, '/'-separated, as the source names it (untrusted). */
  path: string;
  size: number;
  /** Lowercase hex SHA-256, when the source declares one (https manifest). */
  sha256?: string;
}

/**
 * Retries happen in one layer, the ingest's, never here: a source makes one try per call (with a
 * per-call timeout) and says whether a failure is transient. The ingest job retries `list` (withRetry,
 * 5 tries), copyToStorage reopens a broken `open` at its offset (5 resumes), and pg-boss re-runs a
 * failed attempt (retryLimit 4), so the worst case is bounded and readable in those three places.
 */
export interface Source {
  readonly uri: string;
  list(signal?: AbortSignal): Promise<SourceFile[]>;
  /**
   * Bytes of `path` from `offset` to the end. A source that reads into buffers of its choosing (local files)
   * takes them from `buffers` when given; the others ignore it.
   */
  open(path: string, offset: number, signal?: AbortSignal, buffers?: BufferPool): Promise<ReadableStream<Uint8Array>>;
}

/** A failure worth retrying (network error, 5xx, throttling); anything else fails the ingest at once. */
export class TransientSourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientSourceError';
  }
}

/** A failure the user must fix (missing folder, bad manifest, refused host, hostile file name). */
export class PermanentSourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentSourceError';
  }
}
