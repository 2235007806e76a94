import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import type { Db } from '../../db/client';
import { accounts, sessions, users, verifications } from '../../db/schema';

export interface AuthOptions {
  db: Db;
  secret: string;
  publicUrl: string;
  /** Off in tests, which sign many users up from one address. */
  rateLimit?: boolean;
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
    session: { expiresIn: 60 * 60 * 24 * 30, updateAge: 60 * 60 * 24 },
    rateLimit: {
      enabled: options.rateLimit ?? true,
      window: 60,
      max: 100,
      customRules: { '/sign-in/email': { window: 60, max: 10 }, '/sign-up/email': { window: 60, max: 10 } },
    },
    advanced: {
      useSecureCookies: secure,
      defaultCookieAttributes: { httpOnly: true, sameSite: 'lax', secure },
    },
    telemetry: { enabled: false },
    logger: { disabled: true },
  });
}

export type Auth = ReturnType<typeof createAuth>;
