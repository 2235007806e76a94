/**
 * `Content-Disposition: attachment` for downloads (RFC 6266, RFC 5987/8187), shared by the fs route and
 * the S3 driver (stored on the object and passed as `response-content-disposition` when presigning).
 * File names come from training outputs, so they are treated as hostile: a quote, CR/LF or control
 * character would otherwise split or forge headers.
 */

// C0/C1 controls, DEL, and bidi overrides/isolates (they make "evil\u202Efdp.exe" display as "evilexe.pdf").
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069"\\]/g;
// encodeURIComponent throws on lone surrogates; a broken name still deserves a download.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const MAX_NAME_LENGTH = 200;
const FALLBACK_NAME = 'download';

/**
 * The name reduced to what is safe inside a header and on a user's disk: no quotes, backslashes,
 * control or bidi characters, no path separators, no leading dots, at most 200 characters.
 * Unicode letters and emoji are kept. Never empty.
 */
export function safeFileName(name: string): string {
  let cleaned = name
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(UNSAFE_CHARS, '')
    // A path is not a file name; browsers would replace these anyway, but differently each.
    .replace(/[/:*?<>|]/g, '_')
    .trim()
    .replace(/^\.+/, '');
  if (cleaned.length > MAX_NAME_LENGTH) {
    // Cut on a code point boundary so no lone surrogate is left behind.
    cleaned = Array.from(cleaned).slice(0, MAX_NAME_LENGTH).join('');
  }
  return cleaned === '' ? FALLBACK_NAME : cleaned;
}

/** ASCII-only form for the legacy `filename=` parameter: every non-ASCII code point becomes `_`. */
function asciiFileName(name: string): string {
  return Array.from(safeFileName(name), (ch) => (ch.charCodeAt(0) <= 0x7e ? ch : '_')).join('');
}

/** RFC 5987 `value-chars`: encodeURIComponent leaves `'()*` alone, but they are not `attr-char`. */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * `attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded>`. Old clients read the
 * ASCII fallback; every current browser prefers `filename*`.
 */
export function contentDisposition(fileName: string): string {
  const safe = safeFileName(fileName);
  return `attachment; filename="${asciiFileName(safe)}"; filename*=UTF-8''${encodeRfc5987(safe)}`;
}
