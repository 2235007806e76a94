import type { FileConfinement } from './allowed.ts';
import { FileSource } from './file-source.ts';
import type { LookupAll } from '../../http/public-host.ts';
import { HttpsSource, type FetchLike } from './https-source.ts';
import { S3Source, type S3SourceConfig } from './s3-source.ts';
import { PermanentSourceError, type Source } from './source.ts';

export { FileSource } from './file-source.ts';
export { HttpsSource } from './https-source.ts';
export { S3Source, type S3SourceConfig } from './s3-source.ts';
export { PermanentSourceError, TransientSourceError, type Source, type SourceFile } from './source.ts';

/** What the ingest worker knows about reaching training outputs (from SOURCE_* via env.ts). */
export interface SourceConfig {
  /** For `file://`: the allowed root it was admitted under (allowed.ts); FileSource refuses anything outside. */
  file?: FileConfinement;
  /** SOURCE_S3_*; without it, `s3://` outputs are refused. */
  s3?: S3SourceConfig;
  /** SOURCE_ALLOW_PRIVATE_HOSTS */
  allowPrivateHosts: boolean;
  fetch?: FetchLike;
  /** DNS for the SSRF check; tests swap it to point a public-looking name at a private address. */
  lookup?: LookupAll;
}

/**
 * The Source for a training run's `outputUri`, chosen by scheme. Nothing is contacted yet; an unknown
 * scheme, a malformed URI or missing s3 credentials throw PermanentSourceError at once.
 */
export function openSource(uri: string, config: SourceConfig): Source {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (error) {
    throw new PermanentSourceError(`malformed output URI ${JSON.stringify(uri)}`, { cause: error });
  }
  switch (url.protocol) {
    case 'file:':
      return new FileSource(uri, config.file);
    case 's3:':
      if (!config.s3) throw new PermanentSourceError(`cannot read ${uri}: no SOURCE_S3_* credentials configured`);
      return new S3Source(uri, config.s3);
    case 'https:':
    case 'http:':
      return new HttpsSource(uri, { allowPrivateHosts: config.allowPrivateHosts, fetch: config.fetch, lookup: config.lookup });
    default:
      throw new PermanentSourceError(
        `unsupported output URI scheme ${JSON.stringify(url.protocol.replace(/:$/, ''))} in ${JSON.stringify(uri)}: use file://, s3:// or https://`,
      );
  }
}

/**
 * `source`, with the files of `read` (by the name the source gave) served from those bytes: a file the ingest has
 * already read whole is not fetched again for its copy, and the copy hashes exactly the bytes that were parsed.
 */
export function withBytes(source: Source, read: ReadonlyMap<string, Uint8Array>): Source {
  if (read.size === 0) return source;
  return {
    uri: source.uri,
    list: (signal) => source.list(signal),
    open: (path, offset, signal, buffers) => {
      const bytes = read.get(path);
      if (!bytes) return source.open(path, offset, signal, buffers);
      return Promise.resolve(
        new ReadableStream<Uint8Array>({
          start(controller) {
            if (offset < bytes.byteLength) controller.enqueue(bytes.subarray(offset));
            controller.close();
          },
        }),
      );
    },
  };
}
