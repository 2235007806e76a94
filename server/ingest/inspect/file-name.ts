/**
 * Paths inside a training output come from a GPU node or a manifest, i.e. from outside. They become
 * download names and listing entries (never storage keys), and must not be able to climb out of the
 * output, hide characters from a terminal, or overflow a file system's name limits.
 */
import { InspectionError } from './safetensors.ts';

/** Largest path, and largest single segment, in UTF-8 bytes (the common NAME_MAX). */
export const MAX_PATH_BYTES = 255;

/** A path from a training output that is not safe to keep. */
export class UnsafeFileNameError extends InspectionError {
  override readonly name: string = 'UnsafeFileNameError';
  constructor(
    /** The path exactly as received. */
    readonly path: string,
    problem: string,
  ) {
    super(quoteForMessage(path), problem);
  }
}

// Control characters (C0 and DEL) and lone UTF-16 surrogates, which cannot be encoded as UTF-8.
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u;
// Only a leading `C:` alone or followed by a separator is a drive; `x:y.txt` is a legal name on POSIX.
const DRIVE_LETTER = /^[A-Za-z]:(?:$|[/\\])/;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Returns `path` as a normalized relative "/"-separated path (`.` segments dropped, nothing else
 * changed: no Unicode normalization, so the name still matches the source listing byte for byte), or
 * throws UnsafeFileNameError when it is absolute (leading "/", a drive letter, or any backslash), has a
 * ".." segment or an empty segment (including a trailing "/"), contains a control character or a lone
 * surrogate, or exceeds 255 UTF-8 bytes in total or in one segment.
 */
export function validateOutputPath(path: string): string {
  const fail = (problem: string): never => {
    throw new UnsafeFileNameError(path, problem);
  };
  if (path.length === 0) fail('is empty');
  if (CONTROL.test(path)) fail('contains a control character');
  if (LONE_SURROGATE.test(path)) fail('is not valid Unicode');
  if (path.startsWith('/')) fail('is absolute');
  if (DRIVE_LETTER.test(path)) fail('starts with a drive letter');
  if (path.includes('\\')) fail('contains a backslash');

  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '') fail('has an empty segment');
    if (segment === '..') fail('has a ".." segment');
    if (utf8Length(segment) > MAX_PATH_BYTES) fail(`has a segment longer than ${MAX_PATH_BYTES} bytes`);
  }
  const kept = segments.filter((s) => s !== '.');
  if (kept.length === 0) fail('names no file');
  const normalized = kept.join('/');
  if (utf8Length(normalized) > MAX_PATH_BYTES) fail(`is longer than ${MAX_PATH_BYTES} bytes`);
  return normalized;
}

/** JSON-quoted (so control characters show as escapes) and cut to a readable length. */
function quoteForMessage(path: string): string {
  const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  return JSON.stringify(shown);
}
