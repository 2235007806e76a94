import { describe, expect, test } from 'bun:test';
import { isDatabaseUnavailable } from '../../server/db-unavailable.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
/** How drizzle wraps a driver error: the driver's error as `cause`. */
const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { cause });

describe('isDatabaseUnavailable', () => {
  test.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    ["postgres.js's closed connection", withCode('CONNECTION_CLOSED')],
    ["postgres.js's ended pool", withCode('CONNECTION_ENDED')],
    ["postgres.js's connect timeout", withCode('CONNECT_TIMEOUT')],
    ['SQLSTATE 08006 (connection failure)', withCode('08006')],
    ['SQLSTATE 57P01 (admin shutdown)', withCode('57P01')],
    ['SQLSTATE 57P03 (cannot connect now)', withCode('57P03')],
    ['a driver error under a query wrapper', wrapped(withCode('ECONNREFUSED'))],
    ['two wrappers deep (better-auth over drizzle)', wrapped(wrapped(withCode('57P02')))],
    ["node-postgres's words", new Error('Connection terminated unexpectedly')],
  ])('%s: unavailable', (_, err) => expect(isDatabaseUnavailable(err)).toBe(true));

  test.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a plain bug', new TypeError('x is undefined')],
    ['a wrapped constraint error', wrapped(withCode('23503'))],
    ['nothing', undefined],
    ['a string', 'ECONNREFUSED'],
  ])('%s: not an outage', (_, err) => expect(isDatabaseUnavailable(err)).toBe(false));
});
