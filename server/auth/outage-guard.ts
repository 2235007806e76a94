import type { Db } from '../../db/client.ts';
import { databaseReachable, isDatabaseUnavailable } from '../db-unavailable.ts';
import { ERRORS, errorBody } from '../errors.ts';

/** Our envelope for "the database is down": 503 with a hint to retry, never "sign in" nor a 500. */
export function unavailableResponse(requestId?: string): Response {
  const err = ERRORS.unavailable();
  return Response.json(errorBody(err.code, err.message, requestId), { status: 503, headers: { 'Retry-After': '5' } });
}

/**
 * Runs better-auth's handler. better-auth answers any failure of its own queries as a bare 500; when
 * that happens (or it throws) and the database cannot answer a quick `select 1`, the answer is 503.
 */
export async function authOutageGuard(db: Db, requestId: string | undefined, run: () => Promise<Response>): Promise<Response> {
  let res: Response;
  try {
    res = await run();
  } catch (e) {
    if (isDatabaseUnavailable(e) || !(await databaseReachable(db))) return unavailableResponse(requestId);
    throw e;
  }
  if (res.status >= 500 && !(await databaseReachable(db))) return unavailableResponse(requestId);
  return res;
}
