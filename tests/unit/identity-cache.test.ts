import { describe, expect, test } from 'bun:test';
import { type CachedUser, IdentityCache } from '../../server/auth/identity-cache.ts';

const alice: CachedUser = {
  userId: 'u-alice',
  email: 'alice@example.com',
  name: 'Alice',
  personalWorkspaceId: '11111111-1111-4111-8111-111111111111',
  token: null,
};
// A workspace-scoped API token's identity: its workspace and scope are cached with it.
const bob: CachedUser = {
  userId: 'u-bob',
  email: 'bob@example.com',
  name: 'Bob',
  personalWorkspaceId: '22222222-2222-4222-8222-222222222222',
  token: { workspaceId: '33333333-3333-4333-8333-333333333333', scope: 'read' },
};

function cacheAt(start = 1_000_000) {
  let now = start;
  const cache = new IdentityCache(() => now);
  cache.setListening(true);
  return { cache, advance: (ms: number) => (now += ms) };
}

describe('IdentityCache', () => {
  test('answers from memory until its few seconds are up', () => {
    const { cache, advance } = cacheAt();
    cache.set('t:a', alice, 't:a', null, cache.epoch());
    expect(cache.get('t:a')).toEqual(alice);
    advance(4_999);
    expect(cache.get('t:a')).toEqual(alice);
    advance(1);
    expect(cache.get('t:a')).toBeNull();
    expect(cache.size).toBe(0);
  });

  test("never past the credential's own expiry", () => {
    const { cache, advance } = cacheAt(1_000_000);
    cache.set('t:a', alice, 't:a', 1_001_000, cache.epoch());
    advance(999);
    expect(cache.get('t:a')).toEqual(alice);
    advance(1);
    expect(cache.get('t:a')).toBeNull();
    // Already expired: not cached at all.
    cache.set('t:b', bob, 't:b', 1_000_000, cache.epoch());
    expect(cache.get('t:b')).toBeNull();
  });

  test('a revocation drops every key it names, and only those', () => {
    const { cache } = cacheAt();
    cache.set('c:one', alice, 's:session', null, cache.epoch());
    cache.set('c:two', alice, 's:session', null, cache.epoch());
    cache.set('t:bob', bob, 't:bob', null, cache.epoch());
    cache.revoke('s:session');
    expect(cache.get('c:one')).toBeNull();
    expect(cache.get('c:two')).toBeNull();
    expect(cache.get('t:bob')).toEqual(bob);
  });

  test('an answer looked up before a revocation arrived is not cached (it could outlive the revocation)', () => {
    const { cache } = cacheAt();
    const epoch = cache.epoch();
    // ...Postgres answers "live", then the revocation commits and its NOTIFY arrives before set():
    cache.revoke('t:a');
    cache.set('t:a', alice, 't:a', null, epoch);
    expect(cache.get('t:a')).toBeNull();
  });

  test('caches nothing while revocations cannot reach it, and forgets what it held when that changes', () => {
    const { cache } = cacheAt();
    cache.set('t:a', alice, 't:a', null, cache.epoch());
    cache.setListening(false);
    expect(cache.get('t:a')).toBeNull();
    cache.set('t:b', bob, 't:b', null, cache.epoch());
    expect(cache.size).toBe(0);
    cache.setListening(true);
    expect(cache.get('t:a')).toBeNull();
  });

  test('stays bounded: past 10,000 entries the oldest goes', () => {
    const { cache } = cacheAt();
    for (let i = 0; i < 10_001; i++) cache.set(`t:${i}`, alice, `t:${i}`, null, cache.epoch());
    expect(cache.size).toBe(10_000);
    expect(cache.get('t:0')).toBeNull();
    expect(cache.get('t:10000')).toEqual(alice);
  });
});
