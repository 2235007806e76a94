/** The refusal of a tRPC call, for tests that look at its code, message and field errors. */
import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../server/trpc/root.ts';

/** The TRPCClientError `p` rejects with; throws when it resolves or fails with anything else. */
export async function errorOf(p: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TRPCClientError) return e as TRPCClientError<AppRouter>;
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** The names of the fields a BAD_REQUEST's zod error lists. */
export const fieldsOf = (e: TRPCClientError<AppRouter>) =>
  Object.keys((e.data as { zodError?: { fieldErrors: Record<string, string[]> } } | undefined)?.zodError?.fieldErrors ?? {});
