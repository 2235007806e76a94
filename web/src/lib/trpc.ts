import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../../server/trpc/root.ts';

/** The dashboard's typed client: same origin, session cookie, plain JSON (no transformer); batches as the server allows. */
export const api = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/trpc', maxItems: 10, fetch: (url, init) => fetch(url, { ...init, credentials: 'include' }) })],
});

export type ModelSummary = Awaited<ReturnType<typeof api.models.list.query>>['models'][number];
export type ModelDetail = Awaited<ReturnType<typeof api.models.get.query>>;
export type Download = Awaited<ReturnType<typeof api.models.download.mutate>>;
export type Workspace = Awaited<ReturnType<typeof api.workspaces.list.query>>[number];
export type Role = Workspace['role'];

/** The tRPC error code of a failed call ('NOT_FOUND', 'UNAUTHORIZED', ...), if it is one. */
export function errorCode(err: unknown): string | null {
  if (err instanceof TRPCClientError) {
    const data = err.data as { code?: string } | undefined;
    return data?.code ?? null;
  }
  return null;
}

/** A message safe and useful to show. */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) {
    if (!err.data) return 'Could not reach the server. Check your connection and try again.';
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}
