// The registry's names and its one reference grammar (server/registry/refs.ts), on tables of cases.
import { describe, expect, test } from 'bun:test';
import { ALIAS_PATTERN, FAMILY_PATTERN, familyFromName, formatRef, looksLikeVersion, parseRef } from '../../server/registry/refs.ts';

describe('parseRef', () => {
  const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
  test.each([
    [id, { kind: 'id', modelId: id }],
    [id.toUpperCase(), { kind: 'id', modelId: id }],
    ['support-bot', { kind: 'latest', family: 'support-bot' }],
    ['qwen2.5_lora', { kind: 'latest', family: 'qwen2.5_lora' }],
    ['support-bot@v3', { kind: 'version', family: 'support-bot', version: 3 }],
    ['support-bot@v120', { kind: 'version', family: 'support-bot', version: 120 }],
    ['support-bot@production', { kind: 'alias', family: 'support-bot', alias: 'production' }],
    ['7b@staging_2', { kind: 'alias', family: '7b', alias: 'staging_2' }],
  ])('%s', (ref, want) => {
    expect(parseRef(ref)).toEqual(want as never);
  });

  test.each([
    [''],
    ['Support-Bot'],
    ['-bot'],
    ['support bot'],
    ['support-bot@'],
    ['support-bot@v0'],
    ['support-bot@v03'],
    ['support-bot@V3'],
    ['support-bot@Production'],
    ['support-bot@3'],
    ['support-bot@prod@v1'],
    ['a'.repeat(65)],
    [`bot@${'a'.repeat(33)}`],
    ['../etc/passwd'],
  ])('%p is no reference', (ref) => {
    expect(parseRef(ref)).toBeNull();
  });

  test('formatRef writes what parseRef reads', () => {
    expect(parseRef(formatRef('support-bot', 7))).toEqual({ kind: 'version', family: 'support-bot', version: 7 });
  });
});

describe('aliases never look like versions', () => {
  test.each([
    ['v3', true],
    ['v0', true],
    ['v', false],
    ['v3a', false],
    ['vnext', false],
    ['production', false],
  ])('%s', (alias, version) => {
    expect(looksLikeVersion(alias)).toBe(version);
  });

  test('the alias pattern starts with a letter and stays lower case, at most 32 characters', () => {
    expect(ALIAS_PATTERN.test('production')).toBe(true);
    expect(ALIAS_PATTERN.test('1st')).toBe(false);
    expect(ALIAS_PATTERN.test('Prod')).toBe(false);
    expect(ALIAS_PATTERN.test('a'.repeat(32))).toBe(true);
    expect(ALIAS_PATTERN.test('a'.repeat(33))).toBe(false);
  });
});

describe('familyFromName', () => {
  test.each([
    ['Support Bot (LoRA r=8)', 'support-bot-lora-r-8'],
    ['qwen2.5-7b_sft', 'qwen2.5-7b_sft'],
    ['  --Fancy__Name--  ', 'fancy__name'],
    ['Überstunden 2026', 'berstunden-2026'],
    ['!!!', 'model'],
    ['日本語', 'model'],
    ['x'.repeat(100), 'x'.repeat(64)],
    [`${'a'.repeat(63)} b`, 'a'.repeat(63)],
  ])('%p → %p', (name, family) => {
    expect(familyFromName(name)).toBe(family);
    expect(FAMILY_PATTERN.test(familyFromName(name))).toBe(true);
  });
});
