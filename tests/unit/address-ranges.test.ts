import { describe, expect, test } from 'bun:test';
import { isPrivateAddress } from '../../server/ingest/sources/address-ranges.ts';

/** [what, address, refused]. Each range has a case just inside and, where it borders public space, just outside. */
type Case = readonly [what: string, ip: string, refused: boolean];

const IPV4: Case[] = [
  ['this network 0/8', '0.0.0.0', true],
  ['this network 0/8, not only 0.0.0.0', '0.1.2.3', true],
  ['private 10/8', '10.0.0.1', true],
  ['private 10/8, last address', '10.255.255.255', true],
  ['just above 10/8', '11.0.0.0', false],
  ['CGNAT 100.64/10, first', '100.64.0.1', true],
  ['CGNAT 100.64/10, last', '100.127.255.254', true],
  ['just below CGNAT', '100.63.255.255', false],
  ['just above CGNAT', '100.128.0.1', false],
  ['loopback 127/8', '127.0.0.1', true],
  ['loopback 127/8, not only .1', '127.8.9.10', true],
  ['link-local: cloud metadata', '169.254.169.254', true],
  ['just below link-local', '169.253.255.255', false],
  ['private 172.16/12, first', '172.16.0.1', true],
  ['private 172.16/12, last', '172.31.255.255', true],
  ['just below 172.16/12', '172.15.255.255', false],
  ['just above 172.16/12', '172.32.0.1', false],
  ['IETF protocol assignments 192.0.0/24', '192.0.0.8', true],
  ['documentation 192.0.2/24', '192.0.2.1', true],
  ['private 192.168/16', '192.168.1.1', true],
  ['benchmarking 198.18/15', '198.19.255.255', true],
  ['just above benchmarking', '198.20.0.0', false],
  ['documentation 198.51.100/24', '198.51.100.7', true],
  ['documentation 203.0.113/24', '203.0.113.7', true],
  ['multicast 224/4', '224.0.0.1', true],
  ['multicast 224/4, last', '239.255.255.250', true],
  ['just below multicast', '223.255.255.255', false],
  ['reserved 240/4', '240.0.0.1', true],
  ['broadcast', '255.255.255.255', true],
  ['public', '8.8.8.8', false],
  ['public', '1.1.1.1', false],
];

const IPV6: Case[] = [
  ['unspecified', '::', true],
  ['loopback', '::1', true],
  ['loopback, written out', '0:0:0:0:0:0:0:1', true],
  ['unique-local fc00::/7, fc half', 'fc00::1', true],
  ['unique-local fc00::/7, fd half', 'fdff:ffff::1', true],
  ['just below unique-local', 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
  ['link-local fe80::/10', 'fe80::1', true],
  ['link-local fe80::/10, last block', 'febf:ffff::1', true],
  ['link-local with a zone id', 'fe80::1%eth0', true],
  ['deprecated site-local fec0::/10', 'fec0::1', true],
  ['multicast ff00::/8, link scope', 'ff02::1', true],
  ['multicast ff00::/8, global scope', 'ff0e::1', true],
  ['documentation 2001:db8::/32', '2001:db8::1', true],
  ['discard-only 100::/64', '100::1', true],
  ['public', '2606:4700::1', false],
  ['public', '2001:4860:4860::8888', false],
  ['public, in brackets', '[2606:4700::1]', false],
  ['loopback, in brackets', '[::1]', true],
];

const EMBEDDED: Case[] = [
  ['IPv4-mapped loopback, dotted', '::ffff:127.0.0.1', true],
  ['IPv4-mapped loopback, hex', '::ffff:7f00:1', true],
  ['IPv4-mapped metadata', '::ffff:169.254.169.254', true],
  ['IPv4-mapped private, hex', '::ffff:a00:1', true],
  ['IPv4-mapped public', '::ffff:8.8.8.8', false],
  ['IPv4-mapped public, hex', '::ffff:808:808', false],
  ['IPv4-compatible loopback', '::127.0.0.1', true],
  ['IPv4-compatible metadata, hex', '::a9fe:a9fe', true],
  ['IPv4-compatible public', '::8.8.8.8', false],
  ['NAT64 64:ff9b::/96 metadata, hex', '64:ff9b::a9fe:a9fe', true],
  ['NAT64 64:ff9b::/96 private, dotted', '64:ff9b::10.0.0.1', true],
  ['NAT64 64:ff9b::/96 public', '64:ff9b::8.8.8.8', false],
  ['local-use NAT64 64:ff9b:1::/48, whatever it carries', '64:ff9b:1::808:808', true],
  ['6to4 2002::/16 carrying 192.168.1.1', '2002:c0a8:101::1', true],
  ['6to4 2002::/16 carrying the metadata address', '2002:a9fe:a9fe::', true],
  ['6to4 2002::/16 carrying 127.0.0.1', '2002:7f00:1:ffff::1', true],
  ['6to4 2002::/16 carrying 8.8.8.8', '2002:808:808::1', false],
  ['Teredo 2001::/32', '2001::1', true],
  ['Teredo 2001::/32, a real-looking client address', '2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
  ['Teredo 2001::/32, last address', '2001:0:ffff:ffff:ffff:ffff:ffff:ffff', true],
  ['just above Teredo', '2001:1::1', false],
];

const MALFORMED: Case[] = [
  ['empty', '', true],
  ['a host name', 'localhost', true],
  ['three octets', '1.2.3', true],
  ['octet over 255', '256.1.1.1', true],
  ['two ::', '1::2::3', true],
  ['bad hex group', 'gggg::1', true],
  ['bad dotted tail', '::ffff:999.1.1.1', true],
  ['not an address', 'not-an-ip', true],
];

describe('isPrivateAddress', () => {
  for (const [group, cases] of [
    ['IPv4', IPV4],
    ['IPv6', IPV6],
    ['IPv6 embedding IPv4, and tunnels', EMBEDDED],
    ['malformed text fails closed', MALFORMED],
  ] as const) {
    describe(group, () => {
      for (const [what, ip, refused] of cases) {
        test(`${what}: ${JSON.stringify(ip)} is ${refused ? 'refused' : 'allowed'}`, () => {
          expect(isPrivateAddress(ip)).toBe(refused);
        });
      }
    });
  }
});
