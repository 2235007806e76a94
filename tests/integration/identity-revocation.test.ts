/**
 * The identity cache (server/auth/identity-cache.ts) across processes: two API services share one
 * database, as `ROLE=api` processes behind a load balancer do. A credential revoked through one must stop
 * working on the other within 1 s (the product's bound; NOTIFY takes milliseconds here), and at once on
 * the one that revoked it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

const BOUND_MS = 1_000;

let a: TestService;
let b: TestService;
let pg: postgres.Sql;

beforeAll(async () => {
  // One AUTH_SECRET for both, as in any multi-process deployment: a session cookie is signed with it.
  const env = { AUTH_SECRET: 'identity-revocation-test-secret-0123456789' };
  a = await startTestService({ label: 'identity_a', env });
  b = await startTestService({ label: 'identity_b', databaseUrl: a.databaseUrl, env });
  pg = postgres(a.databaseUrl, { max: 1, onnotice: () => {} });
}, 60_000);

afterAll(async () => {
  await pg.end();
  await b.stop();
  await a.stop();
});

/** models.list's status with this credential on `svc`. */
async function status(svc: TestService, auth: { token?: string; cookie?: string }): Promise<number> {
  const res = await fetch(`${svc.url}/trpc/models.list?input=${encodeURIComponent('{}')}`, {
    headers: { ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}), ...(auth.cookie ? { cookie: auth.cookie } : {}) },
  });
  await res.body?.cancel();
  return res.status;
}

/** A better-auth POST with the session cookie, as the account page sends it. */
function authPost(svc: TestService, path: string, cookie: string, body: unknown): Promise<Response> {
  return fetch(`${svc.url}/api/auth/${path}`, {
    method: 'POST',
    headers: { cookie, origin: svc.url, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function cookieOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

function signInResponse(svc: TestService, email: string, password: string): Promise<Response> {
  return fetch(`${svc.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { origin: svc.url, 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

/** Another session of the user (a second browser), signed in through `svc`; its cookie. */
async function signIn(svc: TestService, email: string): Promise<string> {
  const res = await signInResponse(svc, email, 'correct horse battery');
  expect(res.status).toBe(200);
  return cookieOf(res);
}

/** Milliseconds until `svc` refuses the credential (polling every 5 ms), or Infinity past 5 s. */
async function msUntilRefused(svc: TestService, auth: { token?: string; cookie?: string }): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < 5_000) {
    if ((await status(svc, auth)) === 401) return performance.now() - start;
    await Bun.sleep(5);
  }
  return Number.POSITIVE_INFINITY;
}

describe('identity cache revocation', () => {
  test('a revoked API token stops at once where it was revoked, and within 1 s in every other process', async () => {
    const u = await newUser(a, 'revoke-token');
    expect(await status(b, { token: u.token })).toBe(200);
    expect(await status(a, { token: u.token })).toBe(200);
    // Both processes now hold the token's user in memory: revocation has to reach them.
    expect(b.deps.identities.size).toBeGreaterThan(0);
    expect(a.deps.identities.size).toBeGreaterThan(0);

    const [tok] = await client(a.url, { cookie: u.cookie }).tokens.list.query();
    await client(a.url, { cookie: u.cookie }).tokens.revoke.mutate({ id: tok!.id });
    expect(await status(a, { token: u.token })).toBe(401);
    expect(await msUntilRefused(b, { token: u.token })).toBeLessThan(BOUND_MS);
  });

  test('a signed-out session stops within 1 s in every other process', async () => {
    const u = await newUser(a, 'revoke-session');
    expect(await status(b, { cookie: u.cookie })).toBe(200);
    const out = await fetch(`${a.url}/api/auth/sign-out`, {
      method: 'POST',
      headers: { cookie: u.cookie, origin: a.url, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(out.status).toBe(200);
    expect(await status(a, { cookie: u.cookie })).toBe(401);
    expect(await msUntilRefused(b, { cookie: u.cookie })).toBeLessThan(BOUND_MS);
  });

  test('"sign out of other sessions" (the account page) stops every other session within 1 s everywhere, and keeps this one', async () => {
    const u = await newUser(a, 'revoke-others');
    const other = await signIn(a, u.email);
    const third = await signIn(b, u.email);
    // All three are cached in both processes before the revocation.
    for (const svc of [a, b]) for (const cookie of [u.cookie, other, third]) expect(await status(svc, { cookie })).toBe(200);
    const res = await authPost(a, 'revoke-other-sessions', u.cookie, {});
    expect(res.status).toBe(200);
    expect(await status(a, { cookie: other })).toBe(401);
    expect(await status(a, { cookie: third })).toBe(401);
    expect(await msUntilRefused(b, { cookie: other })).toBeLessThan(BOUND_MS);
    expect(await msUntilRefused(b, { cookie: third })).toBeLessThan(BOUND_MS);
    expect(await status(a, { cookie: u.cookie })).toBe(200);
    expect(await status(b, { cookie: u.cookie })).toBe(200);
  });

  test('changing the password with "sign out of other sessions" ends them everywhere; the new password signs in, the old does not', async () => {
    const u = await newUser(a, 'change-password');
    const other = await signIn(b, u.email);
    expect(await status(b, { cookie: other })).toBe(200);
    const res = await authPost(a, 'change-password', u.cookie, {
      currentPassword: 'correct horse battery',
      newPassword: 'a brand new passphrase',
      revokeOtherSessions: true,
    });
    expect(res.status).toBe(200);
    // The page that asked keeps working with the fresh session it is handed; every earlier one ends.
    const fresh = cookieOf(res);
    expect(fresh).toContain('session_token');
    expect(await status(a, { cookie: fresh })).toBe(200);
    expect(await msUntilRefused(b, { cookie: other })).toBeLessThan(BOUND_MS);
    expect(await status(a, { cookie: u.cookie })).toBe(401);
    expect((await signInResponse(a, u.email, 'correct horse battery')).status).toBe(401);
    expect((await signInResponse(a, u.email, 'a brand new passphrase')).status).toBe(200);
    // A wrong current password changes nothing.
    const wrong = await authPost(a, 'change-password', fresh, { currentPassword: 'not it at all', newPassword: 'yet another passphrase' });
    expect(wrong.status).toBe(400);
    expect((await signInResponse(a, u.email, 'a brand new passphrase')).status).toBe(200);
  });

  test('while its listener is disconnected a process caches nothing, so a revocation it cannot hear still holds', async () => {
    const u = await newUser(a, 'listener-down');
    expect(await status(b, { token: u.token })).toBe(200);
    // Cut every identity listener (both services'): a network blip between a process and Postgres.
    await pg`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'lora-artifacts-identity'`;
    const start = performance.now();
    while (b.deps.identities.listening && performance.now() - start < 5_000) await Bun.sleep(5);
    // Revoked behind the service's back: no NOTIFY at all. If B still believed its cache, this would pass.
    await pg`update api_tokens set revoked_at = now() where user_id = ${u.userId}`;
    if (!b.deps.identities.listening) expect(await status(b, { token: u.token })).toBe(401);
    // The listener comes back by itself (backing off from 100 ms), and caching with it.
    const back = performance.now();
    while (!b.deps.identities.listening && performance.now() - back < 10_000) await Bun.sleep(20);
    expect(b.deps.identities.listening).toBe(true);
    expect(await status(b, { token: u.token })).toBe(401);
    const v = await newUser(a, 'listener-back');
    expect(await status(b, { token: v.token })).toBe(200);
    expect(b.deps.identities.size).toBeGreaterThan(0);
  });
});
