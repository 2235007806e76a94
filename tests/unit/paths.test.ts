// server/paths.ts: the one set of path rules, on tables of cases (each row says what the rule is for).
import { describe, expect, test } from 'bun:test';
import {
  assertStorageKey,
  assertStoragePrefix,
  assertZipEntryName,
  baseName,
  encodePathSegments,
  isSingleSegment,
  keyPrefixSegments,
  normalizeRelativePath,
  relativePathProblem,
  storageKeyProblem,
} from '../../server/paths.ts';

describe('relativePathProblem', () => {
  const cases: [string, string | null][] = [
    ['adapter_model.safetensors', null],
    ['checkpoint-500/optimizer.pt', null],
    ['..hidden/a..b/...', null], // dots inside a name are a name
    ['x:y.txt', null], // a colon is a drive letter only at the start, alone or before a separator
    ['', 'is empty'],
    ['a\u0000b', 'contains a control character'],
    ['evil\nname', 'contains a control character'],
    ['\u001b[2J', 'contains a control character'],
    ['a\u007f', 'contains a control character'],
    ['a\ud800b', 'is not valid Unicode'],
    ['/etc/passwd', 'is absolute'],
    ['C:', 'starts with a drive letter'],
    ['c:/evil', 'starts with a drive letter'],
    ['D:\\evil', 'starts with a drive letter'],
    ['a\\b', 'contains a backslash'],
    ['a//b', 'has an empty segment'],
    ['a/', 'has an empty segment'],
    ['../x', 'has a ".." segment'],
    ['a/..', 'has a ".." segment'],
    ['./a', 'has a "." segment'],
    ['a/./b', 'has a "." segment'],
  ];
  test.each(cases)('%p', (path, problem) => {
    expect(relativePathProblem(path)).toBe(problem);
  });

  test('allowDotSegments lets "." through and nothing else', () => {
    expect(relativePathProblem('./a/./b', { allowDotSegments: true })).toBeNull();
    expect(relativePathProblem('./../a', { allowDotSegments: true })).toBe('has a ".." segment');
    expect(relativePathProblem('a//b', { allowDotSegments: true })).toBe('has an empty segment');
  });

  test('allowControlCharacters lets C0 and DEL through, never NUL', () => {
    expect(relativePathProblem('a\nb\u007f', { allowControlCharacters: true })).toBeNull();
    expect(relativePathProblem('a\u0000b', { allowControlCharacters: true })).toBe('contains a control character');
  });
});

describe('normalizeRelativePath', () => {
  const cases: [string, { ok: true; path: string } | { ok: false; problem: RegExp }][] = [
    ['./adapter_config.json', { ok: true, path: 'adapter_config.json' }],
    ['runs/./events', { ok: true, path: 'runs/events' }],
    ['cafe\u0301.json', { ok: true, path: 'cafe\u0301.json' }], // no Unicode normalization
    ['x'.repeat(255), { ok: true, path: 'x'.repeat(255) }],
    ['./.', { ok: false, problem: /names no file/ }],
    ['x'.repeat(256), { ok: false, problem: /segment longer than 255 bytes/ }],
    ['é'.repeat(128), { ok: false, problem: /segment longer than 255 bytes/ }], // 256 UTF-8 bytes
    [`${'a'.repeat(200)}/${'b'.repeat(60)}`, { ok: false, problem: /is longer than 255 bytes/ }],
    ['../secrets', { ok: false, problem: /".." segment/ }],
  ];
  test.each(cases)('%p', (path, expected) => {
    const result = normalizeRelativePath(path);
    if (expected.ok) expect(result).toEqual(expected);
    else expect(!result.ok && result.problem).toMatch(expected.problem);
  });
});

describe('storage keys and prefixes', () => {
  const keys: [string, boolean][] = [
    ['u1/a1/0', true],
    ['user_abc/0b1c-uuid/12', true],
    ['', false],
    ['/abs', false],
    ['u/a/', false], // a folder, not an object
    ['a//b', false],
    ['../x', false],
    ['a..b/0', false], // ".." anywhere
    ['u/.tmp', false], // the fs driver's temp files start with "."
    ['u/.probe-1', false],
    ['a\\b', false],
    ['a\u0000b', false],
    ['a\nb', true], // legal in a file name and an S3 key; the link signature frames it
    ['x'.repeat(1025), false],
    ['x'.repeat(1024), true],
  ];
  test.each(keys)('key %p valid: %p', (key, valid) => {
    expect(storageKeyProblem(key) === null).toBe(valid);
    if (valid) expect(() => assertStorageKey(key)).not.toThrow();
    else expect(() => assertStorageKey(key)).toThrow(`invalid storage key: ${JSON.stringify(key)}`);
  });

  const prefixes: [string, boolean][] = [
    ['u1/a1/', true],
    ['u1/a1', true], // also matches u1/a10/…, which the drivers handle
    ['u1', true],
    ['', false], // would wipe every user's artifacts
    ['/', false],
    ['u1//', false],
    ['../', false],
    ['u1/.', false],
    ['u1/.tmp', false],
  ];
  test.each(prefixes)('prefix %p valid: %p', (prefix, valid) => {
    if (valid) expect(() => assertStoragePrefix(prefix)).not.toThrow();
    else expect(() => assertStoragePrefix(prefix)).toThrow(`invalid storage prefix: ${JSON.stringify(prefix)}`);
  });
});

describe('zip entry names', () => {
  const names: [string, boolean][] = [
    ['adapter_model.safetensors', true],
    ['checkpoint-100/optimizer.pt', true],
    ['SHA256SUMS.trainer', true],
    ['../evil', false],
    ['/evil', false],
    ['C:/evil', false],
    ['a\\..\\evil', false],
    ['dir/', false],
    ['a/./b', false],
    ['line\nbreak', false], // would forge a line of SHA256SUMS
  ];
  test.each(names)('%p valid: %p', (name, valid) => {
    if (valid) expect(() => assertZipEntryName(name)).not.toThrow();
    else expect(() => assertZipEntryName(name)).toThrow('invalid zip entry name');
  });
});

describe('S3 key prefixes and placeholder values', () => {
  const prefixes: [string, string[] | null][] = [
    ['', []],
    ['runs', ['runs']],
    ['runs/1/', ['runs', '1']],
    ['runs//1', null],
    ['runs/./1', null],
    ['runs/../other', null],
    ['/runs', null],
  ];
  test.each(prefixes)('%p', (prefix, segments) => {
    expect(keyPrefixSegments(prefix)).toEqual(segments);
  });

  const values: [string, boolean][] = [
    ['0b1c2d3e-uuid', true],
    ['user_abc', true],
    ['', false],
    ['.', false],
    ['..', false],
    ['a/b', false],
    ['a\\b', false],
    ['a\u0000b', false],
  ];
  test.each(values)('placeholder value %p is one segment: %p', (value, single) => {
    expect(isSingleSegment(value)).toBe(single);
  });
});

describe('names and URLs', () => {
  test('baseName is the last segment', () => {
    expect(baseName('checkpoint-100/adapter_model.safetensors')).toBe('adapter_model.safetensors');
    expect(baseName('README.md')).toBe('README.md');
  });

  test('encodePathSegments keeps separators and encodes each segment', () => {
    expect(encodePathSegments('a b/c#d/e%f?g')).toBe('a%20b/c%23d/e%25f%3Fg');
    expect(encodePathSegments('u1/a1/0')).toBe('u1/a1/0');
  });
});
