/**
 * The one set of rules for the "/"-separated paths this service handles: relative paths a training
 * output names (untrusted), storage keys and prefixes (built from server ids, but a key is a file path to
 * the fs driver), zip entry names, and S3 key prefixes an operator or a worker writes. Every validator
 * elsewhere (sources, inspection, storage drivers, the bundle, the output policy) calls these; each keeps
 * its own error class and message prefix. The functions here return a problem or a value and never throw,
 * except the `assert…` ones, which throw a plain Error naming what they refused.
 */

/** Largest output path, and largest single segment, in UTF-8 bytes (the common NAME_MAX). */
const MAX_PATH_BYTES = 255;
/** Longest storage key, in characters (S3 allows 1024 bytes; ours are a few ids). */
const MAX_KEY_LENGTH = 1024;

// Control characters (C0, NUL included, and DEL) and lone UTF-16 surrogates, which cannot be encoded as UTF-8.
const CONTROL = /[\u0000-\u001f\u007f]/;
const NUL = /\u0000/;
const LONE_SURROGATE = /\p{Cs}/u;
// Only a leading `C:` alone or followed by a separator is a drive; `x:y.txt` is a legal name on POSIX.
const DRIVE_LETTER = /^[A-Za-z]:(?:$|[/\\])/;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Why `path` is not a safe relative "/"-separated path, or null when it is. Refused: empty; a control
 * character (NUL included) or a lone surrogate; absolute (a leading "/" or a drive letter); any backslash;
 * an empty segment (so also "//" and a trailing "/"); a ".." segment; and a "." segment, unless
 * `allowDotSegments` (the caller then drops them, as `normalizeRelativePath` does). With
 * `allowControlCharacters`, only NUL is refused among them (no file system can hold it).
 */
export function relativePathProblem(path: string, options: { allowDotSegments?: boolean; allowControlCharacters?: boolean } = {}): string | null {
  if (path.length === 0) return 'is empty';
  if ((options.allowControlCharacters ? NUL : CONTROL).test(path)) return 'contains a control character';
  if (LONE_SURROGATE.test(path)) return 'is not valid Unicode';
  if (path.startsWith('/')) return 'is absolute';
  if (DRIVE_LETTER.test(path)) return 'starts with a drive letter';
  if (path.includes('\\')) return 'contains a backslash';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '..') return 'has a ".." segment';
    if (segment === '.' && !options.allowDotSegments) return 'has a "." segment';
  }
  return null;
}

/**
 * A path from a training output as it is kept: `.` segments dropped and nothing else changed (no Unicode
 * normalization, so it still matches the source listing byte for byte), or the problem: the rules of
 * `relativePathProblem`, nothing left after dropping `.`, or more than 255 UTF-8 bytes in one segment or in all.
 */
export function normalizeRelativePath(path: string): { ok: true; path: string } | { ok: false; problem: string } {
  const problem = relativePathProblem(path, { allowDotSegments: true });
  if (problem !== null) return { ok: false, problem };
  const segments = path.split('/');
  if (segments.some((s) => utf8Length(s) > MAX_PATH_BYTES)) return { ok: false, problem: `has a segment longer than ${MAX_PATH_BYTES} bytes` };
  const kept = segments.filter((s) => s !== '.');
  if (kept.length === 0) return { ok: false, problem: 'names no file' };
  const normalized = kept.join('/');
  if (utf8Length(normalized) > MAX_PATH_BYTES) return { ok: false, problem: `is longer than ${MAX_PATH_BYTES} bytes` };
  return { ok: true, path: normalized };
}

/**
 * Why `key` is not a valid storage key, or null. Keys are server-generated (`{userId}/{artifactId}/{n}`),
 * but to the fs driver a key is a path, so on top of `relativePathProblem` anything that could address a
 * temp or probe file (a segment starting with "."), hold ".." anywhere, or exceed 1024 characters is
 * refused outright rather than normalised. Control characters other than NUL are legal in a file name and
 * an S3 key, and a signed link frames them safely (fs.ts `signingInput`), so they are not refused here.
 */
export function storageKeyProblem(key: string): string | null {
  const problem = relativePathProblem(key, { allowControlCharacters: true });
  if (problem !== null) return problem;
  if (key.length > MAX_KEY_LENGTH) return `is longer than ${MAX_KEY_LENGTH} characters`;
  if (key.includes('..')) return 'contains ".."';
  if (key.split('/').some((segment) => segment.startsWith('.'))) return 'has a segment starting with "."';
  return null;
}

/** Throws `invalid storage key: "<key>"` unless `storageKeyProblem(key)` is null. Both drivers call it. */
export function assertStorageKey(key: string): void {
  if (storageKeyProblem(key) !== null) throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
}

/**
 * Throws `invalid storage prefix: "<prefix>"` unless `prefix` is a storage key, or a key followed by one "/"
 * (`u1/a1/` deletes that folder; `u1/a1` also matches `u1/a10/…`). Never empty: that would wipe every
 * user's artifacts, and no caller means that.
 */
export function assertStoragePrefix(prefix: string): void {
  const key = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (storageKeyProblem(key) !== null) throw new Error(`invalid storage prefix: ${JSON.stringify(prefix)}`);
}

/**
 * Throws `invalid zip entry name: "<name>"` unless `name` passes `relativePathProblem`: no zip-slip
 * (absolute, "..", drive letters, backslashes) and nothing a terminal or a checksum file would misread.
 */
export function assertZipEntryName(name: string): void {
  if (relativePathProblem(name) !== null) throw new Error(`invalid zip entry name: ${JSON.stringify(name)}`);
}

/**
 * The segments of an S3 key prefix (`a/b/` and `a/b` → `['a', 'b']`, `''` → `[]`), or null when it is not
 * a safe relative path: S3 does not normalise keys, so `.`, `..` and empty segments are refused as written.
 */
export function keyPrefixSegments(prefix: string): string[] | null {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (trimmed === '') return [];
  return relativePathProblem(trimmed) === null ? trimmed.split('/') : null;
}

/** True when `value` is exactly one safe path segment (a placeholder's value): no separator, not `.` or `..`. */
export function isSingleSegment(value: string): boolean {
  return !value.includes('/') && relativePathProblem(value) === null;
}

/** The last segment of a relative path: the name a downloaded file is saved under. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `path` for a URL: each segment percent-encoded, the "/" separators kept. */
export function encodePathSegments(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
