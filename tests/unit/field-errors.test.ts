// The dashboard's reading of a refused input (web/src/lib/trpc.ts): zod's field errors, as the server's error
// formatter sends them, become sentences a person reads next to the field, and no raw payload is ever shown.
import { expect, test } from 'bun:test';
import { TRPCClientError } from '@trpc/client';
import { errorMessage, fieldError } from '../../web/src/lib/trpc.ts';

/** A BAD_REQUEST as the dashboard receives it: the message is zod's JSON, the field errors are in `data.zodError`. */
function refused(fieldErrors: Record<string, string[]>, formErrors: string[] = []) {
  const zodError = { formErrors, fieldErrors };
  return TRPCClientError.from({
    error: {
      message: JSON.stringify([{ code: 'too_big', path: Object.keys(fieldErrors) }]),
      code: -32600,
      data: { code: 'BAD_REQUEST', httpStatus: 400, zodError },
    },
  });
}

test.each([
  ['filter.search', 'Too big: expected string to have <=200 characters', 'Search', 'Search must be at most 200 characters long.'],
  ['name', 'Too small: expected string to have >=1 characters', undefined, 'Name cannot be empty.'],
  ['tags', 'Too big: expected array to have <=20 items', undefined, 'Tags must be at most 20 items.'],
  ['expiresInDays', 'Too big: expected number to be <=90', 'The number of days', 'The number of days must be at most 90.'],
  ['settings.keepCheckpoints', 'Invalid input: expected number, received string', undefined, 'Keep checkpoints must be a number.'],
  ['email', 'Invalid email address', undefined, 'Email must be a valid email address.'],
  ['role', 'Invalid option: expected one of "admin"|"member"|"viewer"', undefined, 'Role must be one of: admin, member, viewer.'],
  ['workspaceId', 'Invalid input: expected string, received undefined', undefined, 'Workspace id is required.'],
  ['config', 'is nested more than 20 levels deep', undefined, 'Config is nested more than 20 levels deep.'],
  ['url', 'Use an https:// URL on a public host', 'The receiver URL', 'Use an https:// URL on a public host.'],
  ['alias', 'Invalid string: must match pattern /^[a-z]+$/', undefined, 'Alias has characters or a form that is not accepted.'],
])('%s: %s → a sentence', (field, message, label, expected) => {
  expect(fieldError(refused({ [field]: [message] }), field, label)).toBe(expected);
});

test('another field has no message; errorMessage says every field in sentences, never the JSON', () => {
  const err = refused({
    name: ['Too small: expected string to have >=1 characters'],
    'filter.search': ['Too big: expected string to have <=200 characters'],
  });
  expect(fieldError(err, 'email')).toBeNull();
  expect(errorMessage(err)).toBe('Name cannot be empty. Search must be at most 200 characters long.');
});

test('a refusal whose message is a payload and that names no field is still said in words', () => {
  const err = TRPCClientError.from({
    error: { message: '[{"code":"custom"}]', code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400, zodError: null } },
  });
  expect(errorMessage(err)).toBe('The server refused this request. Check what you entered and try again.');
});

test('no answer at all (a network error, a deadline) reads as the server being unreachable', () => {
  const unreachable = 'Could not reach the server. Check your connection and try again.';
  expect(errorMessage(new TRPCClientError('fetch failed'))).toBe(unreachable);
  expect(errorMessage(new TypeError('Failed to fetch'))).toBe(unreachable);
  expect(errorMessage(new DOMException('signal timed out', 'TimeoutError'))).toBe(unreachable);
});
