import { TRPCError } from '@trpc/server';
import { isDatabaseUnavailable } from './db-unavailable.ts';

/** The closed set of error codes the service speaks, shared by tRPC and plain HTTP routes. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RANGE_NOT_SATISFIABLE'
  | 'TOO_MANY_REQUESTS'
  | 'INTERNAL_SERVER_ERROR'
  | 'SERVICE_UNAVAILABLE';

const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

/** An error whose message is safe to show a user. Anything else reaching the edge is masked. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Headers the answer needs besides the envelope (`Retry-After`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/**
 * Invalid input that only the service could tell (it needed the database or the disk): a BAD_REQUEST
 * that names its field, answered like a zod field error (`data.zodError.fieldErrors[field]`).
 */
export class FieldError extends AppError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('BAD_REQUEST', message);
    this.name = 'FieldError';
  }
}

/** Factories, so call sites read as what happened. */
export const ERRORS = {
  unauthorized: () => new AppError('UNAUTHORIZED', 'Sign in, or send a valid API token.'),
  /** Another user's record and a missing one look the same from outside. */
  notFound: (what: string) => new AppError('NOT_FOUND', `${what} not found.`),
  badRequest: (message: string) => new AppError('BAD_REQUEST', message),
  invalidField: (field: string, message: string) => new FieldError(field, message),
  conflict: (message: string) => new AppError('CONFLICT', message),
  forbidden: (message: string) => new AppError('FORBIDDEN', message),
  tooManyRequests: (message: string, retryAfterSeconds: number) =>
    new AppError('TOO_MANY_REQUESTS', `${message} Try again in ${retryAfterSeconds} s.`, { 'Retry-After': String(retryAfterSeconds) }),
  payloadTooLarge: (message: string) => new AppError('PAYLOAD_TOO_LARGE', message),
  /** A byte range that starts past the end of the object (plain HTTP routes only). */
  rangeNotSatisfiable: () => new AppError('RANGE_NOT_SATISFIABLE', 'The requested range is not satisfiable.'),
  /** A signed link whose signature or expiry does not hold; the same answer whatever was wrong with it. */
  badLink: () => new AppError('FORBIDDEN', 'This download link is invalid or has expired.'),
  /** The database (or another dependency) is down: the caller should retry, not sign in again. */
  unavailable: () => new AppError('SERVICE_UNAVAILABLE', 'The service is temporarily unavailable; try again shortly.', { 'Retry-After': '5' }),
};

/** Our codes that tRPC lacks: a range refusal only happens on plain HTTP routes, so no procedure throws one. */
function trpcCode(code: ErrorCode): TRPCError['code'] {
  return code === 'RANGE_NOT_SATISFIABLE' ? 'BAD_REQUEST' : code;
}

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (err instanceof AppError) return new TRPCError({ code: trpcCode(err.code), message: err.message, cause: err });
  if (isDatabaseUnavailable(err)) return toTRPCError(ERRORS.unavailable());
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Something went wrong on our side.', cause: err });
}

/** The JSON body every non-tRPC route answers with on failure. */
function errorBody(code: ErrorCode, message: string, requestId?: string) {
  return { error: { code, message, ...(requestId ? { requestId } : {}) } };
}

/**
 * An AppError as the plain-HTTP envelope (`errorBody`) with its status and headers: what `app.onError`
 * answers, and what middleware and sub-apps that answer before it return. Never cached.
 */
export function errorResponse(err: AppError, requestId: string | undefined, headers: Record<string, string> = {}): Response {
  return Response.json(errorBody(err.code, err.message, requestId), {
    status: err.status,
    headers: { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...err.headers, ...headers },
  });
}
