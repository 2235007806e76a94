/**
 * Small parts shared by the output readers (curves.ts, evals.ts): parse-or-warn, a JSON object test, a tally that
 * turns many problems of one kind in one file into ONE warning, and a line reader for JSON Lines files.
 */
import { MAX_TRAINER_JSON_BYTES, parsePythonJson } from './python-json.ts';
import type { OutputWarning } from './types.ts';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How many places a warning names before it says "…". */
const PLACES_NAMED = 5;

/** Problems of one kind in one file: counted, the first few places kept, reported as one warning. */
export class Tally {
  count = 0;
  private readonly places: string[] = [];

  /** `place` is built by the caller only on a problem, so a clean file allocates nothing here. */
  add(place: string): void {
    if (this.places.length < PLACES_NAMED) this.places.push(place);
    this.count++;
  }

  /** One warning, or none: `describe(count)` opens the sentence, the places close it. */
  report(warnings: OutputWarning[], code: string, path: string, describe: (count: number) => string): void {
    if (this.count === 0) return;
    const more = this.count > this.places.length ? ', …' : '';
    warnings.push({ code, path, message: `${describe(this.count)}: ${this.places.join(', ')}${more}.` });
  }
}

/** `n thing` or `n things`. */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/**
 * The lines of a text one at a time (no array of all lines: a log may hold hundreds of thousands), without their
 * `\n` or `\r\n`. `number` is the 1-based number of the line last returned.
 */
export class Lines {
  number = 0;
  private at = 0;
  constructor(private readonly text: string) {}

  next(): string | null {
    const { text } = this;
    if (this.at >= text.length) return null;
    let end = text.indexOf('\n', this.at);
    if (end === -1) end = text.length;
    const line = text.charCodeAt(end - 1) === 0x0d ? text.slice(this.at, end - 1) : text.slice(this.at, end);
    this.at = end + 1;
    this.number++;
    return line;
  }
}

/** One line of a JSON Lines file as an object, or null when it is not JSON (Python's `NaN` and `Infinity` allowed) or not an object. */
export function jsonLineObject(line: string): JsonObject | null {
  try {
    const row = parsePythonJson(line);
    return isJsonObject(row) ? row : null;
  } catch {
    return null;
  }
}

/** The file name of a path from any machine (`/workspace/out/checkpoint-150` or `C:\run\checkpoint-150\`). */
export function lastPathSegment(path: string): string {
  const parts = path.split(/[\\/]+/).filter((part) => part !== '');
  return parts[parts.length - 1] ?? '';
}

/** A text longer than this many UTF-16 units has more than MAX_TRAINER_JSON_BYTES bytes: callers should not have read it. */
export function tooLargeToRead(text: string): boolean {
  return text.length > MAX_TRAINER_JSON_BYTES;
}

export function tooLarge(path: string): OutputWarning {
  return { code: 'too_large', path, message: `Not read: larger than ${MAX_TRAINER_JSON_BYTES / 1024 / 1024} MiB.` };
}

/** {@link parsePythonJson} for a reader: the value, or the warning to record for `path` (`too_large`, `bad_json`). */
export function readPythonJson(text: string, path: string): { ok: true; value: unknown } | { ok: false; warning: OutputWarning } {
  if (tooLargeToRead(text)) return { ok: false, warning: tooLarge(path) };
  try {
    return { ok: true, value: parsePythonJson(text) };
  } catch (error) {
    return { ok: false, warning: { code: 'bad_json', path, message: `Not readable as JSON: ${(error as Error).message}.` } };
  }
}
