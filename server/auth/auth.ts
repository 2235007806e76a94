import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import { APIError } from 'better-auth/api';
import type { Db } from '../../db/client.ts';
import type { Logger } from '../logger.ts';
import { accounts, sessions, users, verifications } from '../../db/schema/index.ts';

export interface AuthOptions {
  db: Db;
  secret: string;
  publicUrl: string;
  log: Logger;
  /** Called after better-auth deletes a session (sign-out, revoked sessions), with its token. */
  onSessionDeleted?: (token: string) => Promise<void>;
  /** Called after sign-up creates a user (their personal workspace is made here). */
  onUserCreated?: (user: { id: string; name: string }) => Promise<unknown>;
  /** Before an account is deleted: a reason to refuse (it still runs a team), or null to go ahead. */
  onUserDeleting?: (user: { id: string }) => Promise<string | null>;
  /** After an account (and by cascade its personal workspace) is gone. */
  onUserDeleted?: (user: { id: string }) => Promise<void>;
}

/**
 * Dashboard authentication (better-auth): email + password at /api/auth/*, a session cookie that is
 * HttpOnly, SameSite=Lax, and Secure whenever PUBLIC_URL is https.
 */
export function createAuth(options: AuthOptions) {
  const secure = options.publicUrl.startsWith('https://');
  return betterAuth({
    appName: 'LoRA Artifacts',
    baseURL: options.publicUrl,
    basePath: '/api/auth',
    secret: options.secret,
    trustedOrigins: [options.publicUrl],
    database: drizzleAdapter(options.db, {
      provider: 'pg',
      usePlural: true,
      schema: { users, sessions, accounts, verifications },
    }),
    emailAndPassword: { enabled: true, minPasswordLength: 8, maxPasswordLength: 256, autoSignIn: true },
    // POST /api/auth/delete-user { password }: refused (409) while the account is the last owner of a team workspace.
    user: {
      deleteUser: {
        enabled: true,
        beforeDelete: async (user) => {
          const refusal = await options.onUserDeleting?.(user);
          if (refusal) throw new APIError('CONFLICT', { message: refusal });
        },
        afterDelete: async (user) => {
          await options.onUserDeleted?.(user);
        },
      },
    },
    session: { expiresIn: 60 * 60 * 24 * 30, updateAge: 60 * 60 * 24 },
    // Ours (rate-limit.ts) instead: keyed by the socket's address, counted in Postgres, failures only.
    rateLimit: { enabled: false },
    advanced: {
      useSecureCookies: secure,
      defaultCookieAttributes: { httpOnly: true, sameSite: 'lax', secure },
    },
    telemetry: { enabled: false },
    databaseHooks: {
      user: {
        create: {
          after: async (user) => {
            await options.onUserCreated?.(user);
          },
        },
      },
      session: {
        delete: {
          after: async (session) => {
            await options.onSessionDeleted?.(session.token);
          },
        },
      },
    },
    // Into our log, at debug: what better-auth reports is routine ("User not found" on a wrong email); real
    // failures are thrown (below) and logged with the request id by our route.
    logger: { level: 'debug', log: (level, message) => options.log.debug(`auth: ${message}`, { authLevel: level }) },
    // Unexpected errors (the database down) reach our route instead of a bare 500 printed to stderr:
    // it answers 503 for an outage and logs anything else with the request id (auth/outage-guard.ts).
    onAPIError: { throw: true },
  });
}

export type Auth = ReturnType<typeof createAuth>;
