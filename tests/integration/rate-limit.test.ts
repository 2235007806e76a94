/**
 * Sign-in and sign-up limits (server/auth/rate-limit.ts) against the real service with the limiter on.
 * Clients are told apart by binding the client socket to 127.0.0.x (tests/helpers/from-address.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { postFrom, requestFrom } from '../helpers/from-address.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';

const PASSWORD = 'the right password';
let svc: TestService;
let seq = 0;
const nobody = () => `nobody-${++seq}-${Math.random().toString(36).slice(2, 8)}@example.com`;

beforeAll(async () => {
  svc = await startTestService({ label: 'ratelimit', rateLimit: true });
});
afterAll(() => svc?.stop());

const signIn = (from: string, email: string, password: string, headers: Record<string, string> = {}, base = svc.url) =>
  postFrom(from, base, '/api/auth/sign-in/email', { email, password }, headers);

async function statuses(n: number, attempt: (i: number) => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await attempt(i)).status);
  return out;
}

const repeat = (status: number, n: number) => Array<number>(n).fill(status);

describe('sign-in is limited per client address, not for everyone', () => {
  test('a guesser is refused from its own address; the account owner and others still sign in', async () => {
    const victim = `victim-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const bystander = `bystander-${Math.random().toString(36).slice(2, 8)}@example.com`;
    await signUp(svc.url, victim, PASSWORD);
    await signUp(svc.url, bystander, PASSWORD);

    // 10 failures from one address (5 on the victim's account, 5 on unknown ones), then the address is refused…
    expect(await statuses(5, () => signIn('127.0.0.2', victim, 'wrong password 1'))).toEqual(repeat(401, 5));
    expect(await statuses(5, () => signIn('127.0.0.2', nobody(), 'wrong password 1'))).toEqual(repeat(401, 5));
    const refused = await signIn('127.0.0.2', bystander, PASSWORD);
    expect(refused.status).toBe(429);

    // The owner, from elsewhere, is not locked out of the attacked account; nor is anyone else.
    const owner = await signIn('127.0.0.3', victim, PASSWORD);
    expect(owner.status).toBe(200);
    expect(owner.headers.getSetCookie().length).toBeGreaterThan(0);
    expect((await signIn('127.0.0.4', bystander, PASSWORD)).status).toBe(200);

    // The refusal: our error envelope, a Retry-After within the window, no session.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const body = (await refused.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('TOO_MANY_REQUESTS');
    expect(body.error.requestId).toBeTruthy();
    expect(refused.headers.getSetCookie()).toHaveLength(0);
  });

  test('one account is refused to one address after 5 failures, before that address is refused altogether', async () => {
    const account = `account-${Math.random().toString(36).slice(2, 8)}@example.com`;
    await signUp(svc.url, account, PASSWORD);
    expect(await statuses(6, () => signIn('127.0.0.6', account, 'wrong password 1'))).toEqual([...repeat(401, 5), 429]);
    expect((await signIn('127.0.0.6', account, PASSWORD)).status).toBe(429);
    // Other accounts are still open to that address (5 of its 10 failures used), and the account to others.
    expect((await signIn('127.0.0.6', nobody(), 'wrong password 1')).status).toBe(401);
    expect((await signIn('127.0.0.7', account, PASSWORD)).status).toBe(200);
  });

  test('a burst of parallel guesses is counted while in flight: no more than the limit get an answer', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => signIn('127.0.0.20', nobody(), 'wrong password 1')));
    const codes = results.map((r) => r.status);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(10);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(20);
    expect(codes.every((c) => c === 401 || c === 429)).toBe(true);
  });

  test('a fresh X-Forwarded-For per request does not escape the limit without TRUST_PROXY', async () => {
    const results = await statuses(12, (i) => signIn('127.0.0.5', nobody(), 'wrong password 1', { 'x-forwarded-for': `203.0.113.${i + 1}` }));
    expect(results).toEqual([...repeat(401, 10), 429, 429]);
  });

  test('an account under attack from many addresses is slowed down, never closed to its owner', async () => {
    const target = `target-${Math.random().toString(36).slice(2, 8)}@example.com`;
    await signUp(svc.url, target, PASSWORD);
    // 20 failures in all, 5 from each of four addresses: each address is now refused for this account.
    for (const from of ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4']) {
      expect(await statuses(5, () => signIn(from, target, 'wrong password 1'))).toEqual(repeat(401, 5));
    }
    expect((await signIn('127.0.1.1', target, PASSWORD)).status).toBe(429);
    const started = performance.now();
    const owner = await signIn('127.0.1.9', target, PASSWORD);
    const ms = performance.now() - started;
    expect(owner.status).toBe(200);
    expect(ms).toBeGreaterThanOrEqual(950); // the account-wide slow-down (1 s), not a refusal
    // A wrong password from a new address is still an ordinary failure, not a lockout.
    expect((await signIn('127.0.1.10', target, 'wrong password 1')).status).toBe(401);
  });

  test('sign-ups are limited per address', async () => {
    const signUpFrom = (from: string) => postFrom(from, svc.url, '/api/auth/sign-up/email', { email: nobody(), password: PASSWORD, name: 'Many' });
    expect(await statuses(11, () => signUpFrom('127.0.2.1'))).toEqual([...repeat(200, 10), 429]);
    expect((await signUpFrom('127.0.2.2')).status).toBe(200);
  });

  test('150 get-session calls in a minute are all answered and the session stays valid', async () => {
    const { cookie } = await signUp(svc.url, nobody(), PASSWORD);
    const got = await statuses(150, () => requestFrom('127.0.3.1', `${svc.url}/api/auth/get-session`, { headers: { cookie } }));
    expect(got).toEqual(repeat(200, 150));
    const last = await requestFrom('127.0.3.1', `${svc.url}/api/auth/get-session`, { headers: { cookie } });
    const session = (await last.json()) as { user?: { email: string } };
    expect(session.user?.email).toContain('@example.com');
    expect((await client(svc.url, { cookie }).models.list.query({})).pagination.total).toBe(0);
  });
});

describe('behind a trusted proxy (TRUST_PROXY=1)', () => {
  let proxied: TestService;
  beforeAll(async () => {
    proxied = await startTestService({ label: 'ratelimit_proxy', rateLimit: true, env: { TRUST_PROXY: '1' } });
  });
  afterAll(() => proxied?.stop());

  test('the forwarded client address is the key; entries the client wrote further left are not', async () => {
    const viaProxy = (client: string, spoof = '') =>
      signIn('127.0.0.1', nobody(), 'wrong password 1', { 'x-forwarded-for': `${spoof}${client}` }, proxied.url);
    expect(await statuses(10, (i) => viaProxy('198.51.100.7', `10.9.9.${i}, `))).toEqual(repeat(401, 10));
    expect((await viaProxy('198.51.100.7')).status).toBe(429);
    // Another client behind the same proxy (same socket address) is unaffected.
    expect((await viaProxy('198.51.100.8')).status).toBe(401);
  });
});

describe('several API processes on one database', () => {
  test('share one count, and old events are pruned', async () => {
    const second = await startTestService({ label: 'ratelimit_second', rateLimit: true, databaseUrl: svc.databaseUrl });
    const sql = postgres(svc.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const [old] = await sql<{ id: string }[]>`
        insert into rate_limit_events (bucket, key, at) values ('sign-in-failure:ip', 'stale', now() - interval '1 hour') returning id`;
      expect(await statuses(5, () => signIn('127.0.4.1', nobody(), 'wrong password 1'))).toEqual(repeat(401, 5));
      expect(await statuses(5, () => signIn('127.0.4.1', nobody(), 'wrong password 1', {}, second.url))).toEqual(repeat(401, 5));
      expect((await signIn('127.0.4.1', nobody(), 'wrong password 1')).status).toBe(429);
      expect((await signIn('127.0.4.1', nobody(), 'wrong password 1', {}, second.url)).status).toBe(429);

      // The second process's first recorded event prunes what is older than the longest window.
      const deadline = Date.now() + 10_000;
      let left = 1;
      while (left > 0 && Date.now() < deadline) {
        [{ left }] = (await sql`select count(*)::int as left from rate_limit_events where id = ${old!.id}`) as unknown as [{ left: number }];
        if (left > 0) await Bun.sleep(50);
      }
      expect(left).toBe(0);
    } finally {
      await sql.end();
      await second.stop();
    }
  });
});
