/**
 * Local-disk storage under one root folder. Links are signed by the app itself (HMAC-SHA256) and served
 * by `fsFilesRoute` (fs-route.ts), which the app mounts at `/files`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { safeFileName } from './content-disposition.ts';
import { openFileSink } from './file-sink.ts';
import { folderSpace, rethrowNoSpace } from './free-space.ts';
import { StorageNotFoundError, type ByteRange, type PutOptions, type SignOptions, type StorageDriver } from './storage.ts';
import { assertStorageKey, assertStoragePrefix, encodePathSegments } from '../paths.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../vocabulary.ts';

/** How far a link's expiry may lie past the 7-day maximum (clock skew between API processes). */
const MAX_CLOCK_SKEW_SECONDS = 60;

/** True when `expSeconds` (Unix seconds) lies further ahead of `nowMs` than any link this service signs. */
export function beyondMaxLifetime(expSeconds: number, nowMs: number): boolean {
  return expSeconds * 1000 > nowMs + (MAX_LINK_LIFETIME_SECONDS + MAX_CLOCK_SKEW_SECONDS) * 1000;
}

export interface FsStorageOptions {
  /** Folder that holds the objects; created on first write. */
  root: string;
  /** Base the links start with, e.g. `https://models.example.com` (no trailing `/files`). */
  publicUrl: string;
  /** HMAC key for links; at least 16 bytes. */
  secret: string | Uint8Array;
  /** The clock links are signed and checked against (ms since the epoch); tests fix it. Default `Date.now`. */
  now?: () => number;
}

/** The query of a signed link, as it arrived (all strings, nothing trusted yet). */
interface SignedLinkQuery {
  key: string;
  exp: string | undefined;
  fn: string | undefined;
  sig: string | undefined;
  ct?: string | undefined;
  g?: string | undefined;
}

/** What a valid link grants: this key, saved under this name, until `expiresAt`. */
interface VerifiedLink {
  key: string;
  fileName: string;
  contentType: string | undefined;
  expiresAt: Date;
  /** Whom the link was signed for (SignOptions.grant); the route asks whether they still may. */
  grant: string | undefined;
}

/** A stored object's file and the metadata HTTP validators are built from. */
export interface FsObject {
  path: string;
  size: number;
  mtimeMs: number;
}

/** The fs driver plus what its HTTP route needs. */
export interface FsStorage extends StorageDriver {
  readonly kind: 'fs';
  readonly root: string;
  /** Checks signature (constant time) and expiry; touches no disk. `null` for anything not valid. */
  verify(query: SignedLinkQuery): VerifiedLink | null;
  /** The object's file, or null when absent. Throws on an invalid key. */
  locate(key: string): Promise<FsObject | null>;
}

const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/; // 32 bytes of HMAC-SHA256 in unpadded base64url
const EXP_PATTERN = /^[0-9]{1,12}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
/** `u:<user id>` (better-auth ids) or `s:<share uuid>`. */
export const GRANT_PATTERN = /^[us]:[A-Za-z0-9_-]{1,64}$/;
// MIME type as sent to us by our own server; strict so nothing odd reaches a header.
const CONTENT_TYPE_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The string the HMAC covers: the JSON of a tuple, so no field's content can move into another (a
 * separator inside a key or a name is escaped, never read as a boundary), whatever the fields hold.
 */
function signingInput(key: string, exp: number, fileName: string, contentType: string | undefined, grant: string | undefined): string {
  // v2 links (no grant) were signed before grants existed and stay valid until they expire.
  return grant === undefined
    ? JSON.stringify(['fs.v2', key, exp, fileName, contentType ?? null])
    : JSON.stringify(['fs.v3', key, exp, fileName, contentType ?? null, grant]);
}

/** Creates the local-disk driver. */
export function createFsStorage(options: FsStorageOptions): FsStorage {
  const root = resolve(options.root);
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : Buffer.from(options.secret);
  if (secret.length < 16) throw new Error('fs storage secret must be at least 16 bytes');
  const now = options.now ?? Date.now;

  // Bun's hasher: the same HMAC-SHA256 as node:crypto's createHmac at half the cost (signing is per file).
  const hmac = (input: string): Buffer => new Bun.CryptoHasher('sha256', secret).update(input).digest();

  function pathOf(key: string): string {
    assertStorageKey(key);
    const path = join(root, ...key.split('/'));
    // Belt and braces after assertStorageKey: the joined path must stay inside root.
    if (!path.startsWith(root + sep)) throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
    return path;
  }

  async function locate(key: string): Promise<FsObject | null> {
    const path = pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async function put(key: string, body: ReadableStream<Uint8Array>, putOptions: PutOptions = {}): Promise<void> {
    const path = pathOf(key);
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    // Same folder as the target so rename is atomic; the leading dot keeps it out of any valid key.
    const tmp = join(dir, `.${randomBytes(8).toString('hex')}.tmp`);
    const sink = await openFileSink(tmp, putOptions.size);
    const reader = body.getReader();
    const { signal } = putOptions;
    let written = 0;
    let closed = false;
    // The one fsync, started as soon as the declared size is written (see below); awaited before the rename.
    let syncing: Promise<void> | undefined;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const { done, value } = await reader.read();
        if (done) break;
        // Awaiting each write is the backpressure: a chunk is released once the sink has its bytes.
        await sink.write(value);
        written += value.byteLength;
        putOptions.release?.(value);
        // The last byte is written, but the body has not ended: the copy may still be checking it (size,
        // SHA-256). Flushing now overlaps the disk's work with that check; the rename still waits for both.
        if (written === putOptions.size && syncing === undefined) syncing = sink.end().then(() => sink.sync());
      }
      signal?.throwIfAborted();
      if (putOptions.size !== undefined && written !== putOptions.size) {
        throw new Error(`size mismatch for ${key}: expected ${putOptions.size} bytes, got ${written}`);
      }
      // Data must be on disk before the name points at it, or a crash could leave a short file.
      await (syncing ?? sink.end().then(() => sink.sync()));
      await sink.close();
      closed = true;
      await rename(tmp, path);
      await syncDir(dir);
    } catch (error) {
      await reader.cancel(error).catch(() => {});
      await syncing?.catch(() => {});
      if (!closed) await sink.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw error;
    }
  }

  async function get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    signal?.throwIfAborted();
    const object = await locate(key);
    if (!object) throw new StorageNotFoundError(key);
    let file: Blob = Bun.file(object.path);
    if (range) {
      const last = Math.min(range.end ?? object.size - 1, object.size - 1);
      if (!Number.isSafeInteger(range.start) || range.start < 0 || range.start > last) {
        throw new RangeError(`range ${range.start}-${range.end ?? ''} not satisfiable for ${object.size} bytes`);
      }
      file = file.slice(range.start, last + 1);
    }
    const stream = file.stream() as ReadableStream<Uint8Array>;
    return signal ? stream.pipeThrough(new TransformStream<Uint8Array, Uint8Array>(), { signal }) : stream;
  }

  async function deletePrefix(prefix: string): Promise<void> {
    assertStoragePrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, slash + 1);
    const partial = prefix.slice(slash + 1);
    const dir = dirKey === '' ? root : pathOf(dirKey.slice(0, -1));
    if (partial === '') {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    // "u1/a1" must also match "u1/a10/...": remove every entry of the parent that starts with the tail.
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    await Promise.all(names.filter((name) => name.startsWith(partial)).map((name) => rm(join(dir, name), { recursive: true, force: true })));
  }

  async function deleteKeys(keys: readonly string[]): Promise<void> {
    // Every key is checked before anything goes, so a bad one deletes nothing.
    const paths = keys.map(pathOf);
    for (const path of paths) {
      await unlink(path).catch((error: unknown) => {
        if (!isMissing(error)) throw error;
      });
    }
  }

  function verify(query: SignedLinkQuery): VerifiedLink | null {
    const nowMs = now();
    const { key, exp, fn, sig, ct, g } = query;
    if (exp === undefined || fn === undefined || sig === undefined) return null;
    if (!EXP_PATTERN.test(exp) || !SIG_PATTERN.test(sig) || !BASE64URL_PATTERN.test(fn) || fn.length > 2048) return null;
    if (ct !== undefined && !CONTENT_TYPE_PATTERN.test(ct)) return null;
    if (g !== undefined && !GRANT_PATTERN.test(g)) return null;
    try {
      assertStorageKey(key);
    } catch {
      return null;
    }
    let fileName: string;
    try {
      fileName = utf8.decode(Buffer.from(fn, 'base64url'));
    } catch {
      return null;
    }
    const expSeconds = Number(exp);
    const expected = hmac(signingInput(key, expSeconds, fileName, ct, g));
    const given = Buffer.from(sig, 'base64url');
    // timingSafeEqual throws on unequal lengths; SIG_PATTERN already pins it to 32 bytes.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    if (expSeconds * 1000 <= nowMs) return null;
    // A correctly signed link cannot outlive the maximum either (a leaked secret, or a future bug, stays bounded).
    if (beyondMaxLifetime(expSeconds, nowMs)) return null;
    return { key, fileName, contentType: ct, expiresAt: new Date(expSeconds * 1000), grant: g };
  }

  return {
    kind: 'fs',
    root,
    // A full disk surfaces as StorageFullError, without the server path an ENOSPC message carries.
    put: (key, body, putOptions) => put(key, body, putOptions).catch(rethrowNoSpace),
    space: () => folderSpace(root),
    get,
    locate,
    verify,
    deletePrefix,
    deleteKeys,

    async signedUrl(key: string, sign: SignOptions): Promise<string> {
      assertStorageKey(key);
      const ttl = Math.min(Math.max(Math.floor(sign.expiresInSeconds), 1), MAX_LINK_LIFETIME_SECONDS);
      const exp = Math.floor(now() / 1000) + ttl;
      const fileName = safeFileName(sign.fileName);
      const contentType = sign.contentType !== undefined && CONTENT_TYPE_PATTERN.test(sign.contentType) ? sign.contentType : undefined;
      const grant = sign.grant !== undefined && GRANT_PATTERN.test(sign.grant) ? sign.grant : undefined;
      if (sign.grant !== undefined && grant === undefined) throw new Error('invalid link grant');
      const sig = new Bun.CryptoHasher('sha256', secret).update(signingInput(key, exp, fileName, contentType, grant)).digest('base64url');
      const fn = Buffer.from(fileName, 'utf8').toString('base64url');
      // exp is digits, fn and sig base64url, the grant `[us]:` and an id: only the content type needs encoding.
      const ct = contentType === undefined ? '' : `&ct=${encodeURIComponent(contentType)}`;
      const g = grant === undefined ? '' : `&g=${encodeURIComponent(grant)}`;
      return `${publicUrl}/files/${encodePathSegments(key)}?exp=${exp}&fn=${fn}${ct}${g}&sig=${sig}`;
    },

    async check(): Promise<void> {
      await mkdir(root, { recursive: true });
      // Write and remove a probe so a read-only or full disk fails readiness, not the first upload.
      const probe = join(root, `.probe-${randomBytes(6).toString('hex')}`);
      const handle = await open(probe, 'wx', 0o600);
      await handle.close();
      await unlink(probe);
    },
  };
}

/** Makes the rename itself durable; some filesystems refuse to fsync a folder, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // EISDIR/EINVAL on some platforms: the data itself is already synced.
  }
}
