/**
 * Paths inside a training output come from a GPU node or a manifest, i.e. from outside. They become
 * download names and listing entries (never storage keys), and must not be able to climb out of the
 * output, hide characters from a terminal, or overflow a file system's name limits.
 */
import { normalizeRelativePath } from '../../paths.ts';
import { InspectionError } from './safetensors.ts';

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

/**
 * Returns `path` as kept (`normalizeRelativePath` in paths.ts: `.` segments dropped, nothing else changed),
 * or throws UnsafeFileNameError naming the problem: absolute, a drive letter or backslash, a ".." or empty
 * segment, a control character or lone surrogate, or more than 255 UTF-8 bytes in total or in one segment.
 */
export function validateOutputPath(path: string): string {
  const result = normalizeRelativePath(path);
  if (!result.ok) throw new UnsafeFileNameError(path, result.problem);
  return result.path;
}

/** JSON-quoted (so control characters show as escapes) and cut to a readable length. */
function quoteForMessage(path: string): string {
  const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  return JSON.stringify(shown);
}
