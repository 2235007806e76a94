/**
 * "Download all" as one stored (uncompressed) zip, streamed in constant memory. Safetensors do not
 * compress, so storing keeps the size exact and known up front: the response gets a Content-Length and
 * download managers can show progress. client-zip switches to ZIP64 by itself past 4 GiB.
 */
import { makeZip, predictLength } from 'client-zip';
import { assertZipEntryName } from '../paths.ts';
import { CHECKSUMS_NAME } from './generated-names.ts';

export { CHECKSUMS_NAME };

/** One file of the bundle; `open` is called only when the zip reaches it, one file at a time. */
export interface ZipBundleEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  /** Exact byte length; the stream is checked against it. */
  size: number;
  lastModified?: Date;
  open: () => Promise<ReadableStream<Uint8Array>>;
}

/** The archive as a stream, and its exact length in bytes. */
export interface ZipBundle {
  stream: ReadableStream<Uint8Array>;
  size: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Fails the stream if the source delivers more or fewer bytes than declared, so Content-Length stays true. */
function exactly(size: number, name: string): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > size) throw new Error(`${name}: more than the declared ${size} bytes`);
      controller.enqueue(chunk);
    },
    flush() {
      if (seen !== size) throw new Error(`${name}: ${seen} bytes, declared ${size}`);
    },
  });
}

/**
 * A stored zip of `entries` plus a `SHA256SUMS` file (`<hex>  <name>` lines) built from `sha256s`,
 * which must hold a lowercase hex digest for every entry.
 */
export function zipBundle(entries: ZipBundleEntry[], sha256s: Record<string, string>): ZipBundle {
  const seen = new Set<string>();
  for (const entry of entries) {
    // Zip-slip and checksum-file safety (paths.ts).
    assertZipEntryName(entry.name);
    if (entry.name === CHECKSUMS_NAME || seen.has(entry.name)) throw new Error(`duplicate zip entry name: ${entry.name}`);
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw new Error(`invalid size for ${entry.name}`);
    const digest = Object.hasOwn(sha256s, entry.name) ? sha256s[entry.name] : undefined;
    if (digest === undefined || !SHA256_HEX.test(digest)) throw new Error(`missing or invalid sha256 for ${entry.name}`);
    seen.add(entry.name);
  }
  const sums = new TextEncoder().encode(entries.map((entry) => `${sha256s[entry.name]}  ${entry.name}\n`).join(''));
  const now = new Date();

  const size = predictLength([...entries.map((entry) => ({ name: entry.name, size: entry.size })), { name: CHECKSUMS_NAME, size: sums.byteLength }]);

  // client-zip does not cancel the entry it is reading when its own stream is cancelled (a client
  // that disconnects mid-download), which would leave an S3 body or file handle open. The abort
  // signal reaches the open source through pipeThrough.
  const abort = new AbortController();

  async function* files() {
    for (const entry of entries) {
      abort.signal.throwIfAborted();
      const body = (await entry.open()).pipeThrough(exactly(entry.size, entry.name), { signal: abort.signal });
      yield { name: entry.name, size: entry.size, lastModified: entry.lastModified ?? now, input: body };
    }
    yield { name: CHECKSUMS_NAME, size: sums.byteLength, lastModified: now, input: sums };
  }

  const zip = makeZip(files()).getReader();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await zip.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) {
        abort.abort(reason ?? new Error('zip bundle cancelled'));
        await zip.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );

  return { stream, size: Number(size) };
}
