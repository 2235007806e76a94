// Tests pick ports the same way the embedded Postgres does.
export { freePort } from '../../db/embedded.ts';
