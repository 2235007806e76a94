import type { Db } from '../../db/client.ts';
import { databaseReachable, isDatabaseUnavailable } from '../db-unavailable.ts';
import { ERRORS, errorResponse } from '../errors.ts';

/** "The database is down": 503 with a hint to retry, never "sign in" nor a 500. */
const unavailable = (requestId: string | undefined) => errorResponse(ERRORS.unavailable(), requestId);

/**
 * Runs better-auth's handler. better-auth answers any failure of its own queries as a bare 500; when
 * that happens (or it throws) and the database cannot answer a quick `select 1`, the answer is 503.
 */
export async function authOutageGuard(db: Db, requestId: string | undefined, run: () => Promise<Response>): Promise<Response> {
  let res: Response;
  try {
    res = await run();
  } catch (e) {
    if (isDatabaseUnavailable(e) || !(await databaseReachable(db))) return unavailable(requestId);
    throw e;
  }
  if (res.status >= 500 && !(await databaseReachable(db))) return unavailable(requestId);
  return res;
}
