import { describe, expect, test } from 'bun:test';
import { Hono } from 'hono';
import { clientAddress, isLocalCaller, isLoopback, limitKey, resolveClientAddress } from '../../server/http/client-address.ts';

describe('resolveClientAddress', () => {
  const cases: [string, string | null, string | null, number, string | null][] = [
    ['no proxy: the socket, whatever the header says', '10.0.0.5', '203.0.113.9', 0, '10.0.0.5'],
    ['no proxy, no header', '10.0.0.5', null, 0, '10.0.0.5'],
    ['one proxy: the entry it wrote (rightmost)', '127.0.0.1', '203.0.113.9', 1, '203.0.113.9'],
    ['one proxy: a client-written entry on the left is ignored', '127.0.0.1', '6.6.6.6, 203.0.113.9', 1, '203.0.113.9'],
    ['two proxies: second from the right', '127.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2', 2, '203.0.113.9'],
    ['more hops than entries: the leftmost', '127.0.0.1', '203.0.113.9', 3, '203.0.113.9'],
    ['trusted, but no header: the socket', '127.0.0.1', null, 1, '127.0.0.1'],
    ['trusted, empty header: the socket', '127.0.0.1', ' , ', 1, '127.0.0.1'],
    ['an entry that is no address falls back to the socket', '127.0.0.1', 'evil text', 1, '127.0.0.1'],
    ['IPv6 entry', '127.0.0.1', '2001:db8::1', 1, '2001:db8::1'],
    ['IPv4-mapped socket address is the IPv4 client', '::ffff:127.0.0.2', null, 0, '127.0.0.2'],
    ['no socket (no Bun server)', null, null, 0, null],
  ];
  for (const [name, socket, xff, hops, want] of cases) {
    test(name, () => expect(resolveClientAddress(socket, xff, hops)).toBe(want));
  }
});

test('limitKey: IPv4 as it is, IPv6 by its /64, so one network cannot rotate addresses past a limit', () => {
  expect(limitKey('203.0.113.9')).toBe('203.0.113.9');
  expect(limitKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
  expect(limitKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
  expect(limitKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
  expect(limitKey('2001:0db8:0001:0002:0:0:0:9')).toBe('2001:db8:1:2::/64');
  expect(limitKey('2001:db8::5')).toBe('2001:db8:0:0::/64');
  expect(limitKey('::1')).toBe('0:0:0:0::/64');
  expect(limitKey('2001:db8:1:3::1')).not.toBe(limitKey('2001:db8:1:2::1'));
  expect(limitKey(null)).toBe('unknown');
});

test('isLoopback: 127/8 and ::1 only', () => {
  for (const a of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
  for (const a of ['10.0.0.1', '128.0.0.1', '203.0.113.9', '::2', '1270.0.0.1', 'localhost', '', null]) expect(isLoopback(a)).toBe(false);
});

describe('clientAddress and isLocalCaller on a Hono context', () => {
  const probe = (trustProxy: number) => {
    const app = new Hono();
    app.get('/', (c) => c.json({ address: clientAddress(c, trustProxy), local: isLocalCaller(c, trustProxy) }));
    // The third argument is what Bun.serve hands Hono as c.env: its requestIP.
    return async (peer: string | null, xff?: string) =>
      (await app.request('/', { headers: xff ? { 'x-forwarded-for': xff } : {} }, { requestIP: () => (peer ? { address: peer } : null) })).json();
  };

  test('TRUST_PROXY=0: the socket decides, a forged header changes nothing', async () => {
    const call = probe(0);
    expect(await call('127.0.0.1', '203.0.113.9')).toEqual({ address: '127.0.0.1', local: true });
    expect(await call('198.51.100.4', '127.0.0.1')).toEqual({ address: '198.51.100.4', local: false });
  });

  test('TRUST_PROXY=1: a local proxy forwarding an outside client is not local', async () => {
    const call = probe(1);
    expect(await call('127.0.0.1', '203.0.113.9')).toEqual({ address: '203.0.113.9', local: false });
    expect(await call('127.0.0.1', '127.0.0.1')).toEqual({ address: '127.0.0.1', local: true });
    expect(await call('127.0.0.1')).toEqual({ address: '127.0.0.1', local: true });
    // A remote socket claiming to forward a local client is still remote.
    expect(await call('198.51.100.4', '127.0.0.1')).toEqual({ address: '127.0.0.1', local: false });
  });

  test('no socket address (not behind Bun.serve): unknown and never local', async () => {
    expect(await probe(0)(null)).toEqual({ address: null, local: false });
  });
});
