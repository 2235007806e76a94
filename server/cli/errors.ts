/**
 * The CLI's exit codes and its one way of failing: a `CliError` carries the code and one line for the user.
 * main.ts prints that line and exits; nothing else prints errors, and no stack trace ever reaches the terminal.
 */
import { TRPCClientError } from '@trpc/client';

/** Exit codes, documented in `lora --help` and the README. */
export const EXIT = {
  ok: 0,
  /** A job or ingest that failed, or anything unexpected. */
  failure: 1,
  /** A wrong command line (unknown option, missing argument, malformed reference). */
  usage: 2,
  /** Not signed in, or the token is wrong, expired, revoked or lacks the right. */
  auth: 3,
  /** The model, job, file or checkpoint named does not exist (or is not the caller's to see). */
  notFound: 4,
  /** A downloaded file's SHA-256 differs from the one the service recorded. */
  verification: 5,
  /** The service or storage could not be reached, or kept failing. */
  unavailable: 6,
  /** Ctrl-C (SIGINT); SIGTERM exits 143. Partial downloads are kept and resume on the next pull. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT] | 143;

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

type ErrorData = { code?: string; httpStatus?: number; zodError?: { formErrors: string[]; fieldErrors: Record<string, string[]> } | null };

/** The server's field errors as one line: `ref: must be a model id, family, family@v3 or family@alias`. */
function fieldMessage(data: ErrorData): string | null {
  const zod = data.zodError;
  if (!zod) return null;
  const parts = [...zod.formErrors, ...Object.entries(zod.fieldErrors).map(([field, messages]) => `${field}: ${messages.join(', ')}`)];
  return parts.length ? parts.join('; ') : null;
}

/** A network failure below HTTP (refused, reset, DNS, TLS): the service is unreachable rather than wrong. */
export function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (
    err.name === 'TypeError' ||
    (typeof code === 'string' && /^(ECONN|ENOTFOUND|EAI_|ETIMEDOUT|EPIPE|UND_ERR|ConnectionRefused|ConnectionClosed|FailedToOpenSocket)/.test(code))
  );
}

/**
 * Any error met while talking to the service, as a CliError: a tRPC error by its code, a network failure as
 * "unavailable", anything else as a generic failure with its message (never its stack).
 */
export function toCliError(err: unknown, baseUrl?: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof TRPCClientError) {
    const data = (err.data ?? {}) as ErrorData;
    const message = String(err.message).split('\n')[0] ?? 'the service refused the request';
    switch (data.code) {
      case 'UNAUTHORIZED':
        return new CliError(EXIT.auth, 'not signed in, or the token is wrong, expired or revoked: run `lora login --url URL --token TOKEN`');
      case 'FORBIDDEN':
        return new CliError(EXIT.auth, `not allowed: ${message}`);
      case 'NOT_FOUND':
        return new CliError(EXIT.notFound, `not found: ${message}`);
      case 'BAD_REQUEST':
        return new CliError(EXIT.usage, `refused: ${fieldMessage(data) ?? message}`);
      case 'SERVICE_UNAVAILABLE':
      case 'TOO_MANY_REQUESTS':
        return new CliError(EXIT.unavailable, `the service is unavailable: ${message}`);
      case undefined:
        // No tRPC envelope: the request never got an answer from the service (network, proxy, not our server).
        if (isNetworkError(err.cause)) return new CliError(EXIT.unavailable, `cannot reach ${baseUrl ?? 'the service'}: ${causeText(err.cause)}`);
        return new CliError(EXIT.unavailable, `${baseUrl ?? 'the service'} did not answer as a lora-artifacts service: ${message}`);
      default:
        return new CliError(EXIT.failure, `the service failed: ${message}`);
    }
  }
  if (isNetworkError(err)) return new CliError(EXIT.unavailable, `cannot reach ${baseUrl ?? 'the service'}: ${causeText(err)}`);
  return new CliError(EXIT.failure, err instanceof Error ? err.message.split('\n')[0]! : String(err));
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
