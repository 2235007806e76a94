/**
 * The typed client for integrators. It pulls in only `@trpc/client` at runtime; `AppRouter` is a type,
 * erased when compiled, so bundling this file carries no server code.
 *
 *   const api = createClient({ baseUrl: 'https://models.example.com', token: process.env.LORA_TOKEN! });
 *   const { models } = await api.models.list.query({ sort: 'quality', limit: 5 });
 *   const { files } = await api.models.download.mutate({ ref: 'support-bot@production' }); // or an id, `support-bot`, `support-bot@v3`
 */
import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';
import type { AppRouter } from './trpc/root.ts';

export type { AppRouter };

export interface ClientOptions {
  /** Where the service runs, e.g. `https://models.example.com` (the client adds `/trpc`). */
  baseUrl: string;
  /** A personal API token from `tokens.create`, sent as `Authorization: Bearer <token>`. */
  token: string;
  /** A fetch implementation; defaults to the global one. */
  fetch?: typeof globalThis.fetch;
}

/**
 * A tRPC proxy typed by `AppRouter`: `api.models.get.query({ modelId })`, `api.models.download.mutate(...)`.
 * Plain JSON (the server uses no transformer, so dates arrive as ISO strings); calls made in the same
 * tick are batched into one request.
 */
export function createClient(options: ClientOptions): TRPCClient<AppRouter> {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/trpc`;
  const authorization = `Bearer ${options.token}`;
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url,
        headers: () => ({ authorization }),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    ],
  });
}
