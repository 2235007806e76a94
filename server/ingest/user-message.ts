/**
 * What a user reads in `jobs.get().ingestError`. Only errors whose messages are written to be shown (they
 * name the user's own output URI and paths relative to it) pass through; anything else (a storage driver's
 * ENOSPC with its server path, a database error, a bug) becomes a generic sentence, and the log keeps the
 * detail. Otherwise the message would be a file-existence oracle and a map of the server's folders.
 */
import { IntegrityError } from './copy.ts';
import { InspectionError } from './inspect/safetensors.ts';
import { PermanentSourceError, TransientSourceError } from './sources/source.ts';

/** An ingest failure that retrying cannot fix: the user has to act (fix the output, then retry). */
export class IngestError extends Error {
  override name = 'IngestError';
}

/** Error classes whose messages are user-safe by construction. Add a class here only if every message it carries is. */
const USER_SAFE: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  IngestError,
  PermanentSourceError,
  TransientSourceError,
  IntegrityError,
  InspectionError,
];

export const GENERIC_STORAGE_FAILURE = 'Storing the model files failed on our side (a storage error); the operator has the details.';
export const GENERIC_FAILURE = 'The ingest failed because of an internal error; the operator has the details.';

/** A message fit for the user: what went wrong, without stack traces, server paths or errno codes. */
export function userMessage(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'AbortError') return 'The copy was interrupted; it will be retried.';
    if (USER_SAFE.some((cls) => err instanceof cls)) return err.message.slice(0, 2000);
    // A filesystem or socket failure that is not the source's: the storage side (disk full, unwritable).
    if (typeof (err as NodeJS.ErrnoException).code === 'string' || typeof (err as NodeJS.ErrnoException).errno === 'number') {
      return GENERIC_STORAGE_FAILURE;
    }
  }
  return GENERIC_FAILURE;
}
