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
export type Comparison = Awaited<ReturnType<typeof api.models.compare.query>>;

/** zod's issues as the server's error formatter sends them (server/trpc/init.ts): by dotted field path. */
interface ValidationErrors {
  formErrors: string[];
  fieldErrors: Record<string, string[]>;
}

function validationErrors(err: unknown): ValidationErrors | null {
  if (!(err instanceof TRPCClientError)) return null;
  const data = err.data as { zodError?: ValidationErrors | null } | undefined;
  return data?.zodError ?? null;
}

/** The server's message about one input field (`name`, `tags`, `settings.keepCheckpoints`), to show next to it. */
export function fieldError(err: unknown, field: string): string | null {
  return validationErrors(err)?.fieldErrors[field]?.[0] ?? null;
}

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
    // A refused input: its message is zod's JSON, so say it field by field instead.
    const invalid = validationErrors(err);
    if (invalid) {
      const lines = [...invalid.formErrors, ...Object.entries(invalid.fieldErrors).map(([field, messages]) => `${field}: ${messages.join('; ')}`)];
      if (lines.length > 0) return lines.join(' · ');
    }
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}
