import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { TRPCClientError } from '@trpc/client';
import { eq, sql } from 'drizzle-orm';
import { apiTokens } from '../../db/schema/index.ts';
import { client, newUser, signUp, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ label: 'auth' });
});
afterAll(() => svc?.stop());

async function trpcCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof TRPCClientError ? (e.data as { code?: string } | undefined)?.code : String(e);
  }
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: svc.url, ...headers },
    body: JSON.stringify(body),
  });
}

describe('dashboard sessions', () => {
  test('sign-up sets an HttpOnly, SameSite=Lax session cookie that authenticates tRPC calls', async () => {
    const res = await post('/api/auth/sign-up/email', { email: 'carol@example.com', password: 'a long password', name: 'Carol' });
    expect(res.status).toBe(200);
    const setCookie = res.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain http on loopback
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const list = await client(svc.url, { cookie }).models.list.query({});
    expect(list.pagination.total).toBe(0);
  });

  test('sign-in with the wrong password is refused and sets no cookie', async () => {
    await signUp(svc.url, 'dave@example.com', 'the right password');
    const res = await post('/api/auth/sign-in/email', { email: 'dave@example.com', password: 'the wrong password' });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toHaveLength(0);
    const ok = await post('/api/auth/sign-in/email', { email: 'dave@example.com', password: 'the right password' });
    expect(ok.status).toBe(200);
  });

  test('sign-out ends the session', async () => {
    const { cookie } = await signUp(svc.url, 'erin@example.com');
    const out = await post('/api/auth/sign-out', {}, { cookie });
    expect(out.status).toBe(200);
    expect(await trpcCode(client(svc.url, { cookie }).models.list.query({}))).toBe('UNAUTHORIZED');
  });

  // No credentials and bad bearer tokens, for every procedure: tests/integration/auth-matrix.test.ts.
  test('a forged session cookie: UNAUTHORIZED', async () => {
    expect(await trpcCode(client(svc.url, { cookie: 'better-auth.session_token=forged.value' }).models.list.query({}))).toBe('UNAUTHORIZED');
  });

  test('Secure cookies behind an https PUBLIC_URL', async () => {
    const https = await startTestService({ label: 'auth_https', env: { PUBLIC_URL: 'https://models.example.com' } });
    try {
      const res = await fetch(`${https.url}/api/auth/sign-up/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://models.example.com' },
        body: JSON.stringify({ email: 'frank@example.com', password: 'a long password', name: 'Frank' }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.getSetCookie().join('\n')).toMatch(/;\s*Secure/i);
    } finally {
      await https.stop();
    }
  });
});

describe('personal API tokens', () => {
  test('shown once, stored hashed, last use recorded', async () => {
    const u = await newUser(svc, 'tok');
    const [row] = await svc.deps.database.db.select().from(apiTokens).where(eq(apiTokens.userId, u.userId));
    expect(row!.tokenHash).not.toContain(u.token);
    expect(row!.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.lastUsedAt).toBeNull();
    await u.api.models.list.query({});
    const [after] = await svc.deps.database.db.select().from(apiTokens).where(eq(apiTokens.userId, u.userId));
    expect(after!.lastUsedAt).toBeInstanceOf(Date);
    const listed = await u.api.tokens.list.query();
    expect(listed[0]).not.toHaveProperty('token');
    expect(listed[0]).not.toHaveProperty('tokenHash');
  });

  test('a revoked token stops working at once', async () => {
    const u = await newUser(svc, 'rev');
    const list = await u.api.tokens.list.query();
    await client(svc.url, { cookie: u.cookie }).tokens.revoke.mutate({ id: list[0]!.id });
    expect(await trpcCode(u.api.models.list.query({}))).toBe('UNAUTHORIZED');
  });

  test('an expired token is refused', async () => {
    const u = await newUser(svc, 'exp');
    await svc.deps.database.db.update(apiTokens).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(apiTokens.userId, u.userId));
    expect(await trpcCode(u.api.models.list.query({}))).toBe('UNAUTHORIZED');
  });

  test('one user cannot revoke another user’s token', async () => {
    const a = await newUser(svc, 'ta');
    const b = await newUser(svc, 'tb');
    const [aTok] = await a.api.tokens.list.query();
    expect(await trpcCode(b.api.tokens.revoke.mutate({ id: aTok!.id }))).toBe('NOT_FOUND');
    expect(await trpcCode(a.api.models.list.query({}))).toBe('OK');
  });

  // A worker token for its own job only (NOT_FOUND for another job, UNAUTHORIZED for user calls): the auth matrix.
});
