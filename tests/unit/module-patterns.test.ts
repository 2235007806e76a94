import { describe, expect, test } from 'bun:test';
import { checkRankAgainstTensors, inferFromTensors, parseAdapterConfig } from '../../server/ingest/inspect/adapter-config.ts';
import { compileModulePatterns, findModulePattern, MAX_PATTERN_KEYS, MAX_PATTERN_LENGTH } from '../../server/ingest/inspect/module-patterns.ts';
import { InspectionError } from '../../server/ingest/inspect/safetensors.ts';

const match = (patterns: Record<string, number>, path: string) => findModulePattern(compileModulePatterns(patterns, 'rank_pattern'), path)?.key;

describe('rank_pattern / alpha_pattern matching (PEFT semantics: re.match(rf"(.*\\.)?({key})$", name))', () => {
  const path = 'base_model.model.model.layers.12.self_attn.v_proj';

  test.each([
    ['a leaf name matches at a dot boundary', 'v_proj', true],
    ['a partial leaf name does not', 'proj', false],
    ['a suffix that is not at a dot boundary does not', '_proj', false],
    ['a dotted suffix matches', 'self_attn.v_proj', true],
    ['a regex over the layer index', 'layers\\.1[0-9]\\.self_attn\\.v_proj', true],
    ['a regex that excludes this layer', 'layers\\.[0-9]\\.self_attn\\.v_proj', false],
    ['the full module name as PEFT sees it (no base_model.model. prefix)', 'model.layers.12.self_attn.v_proj', true],
    ['an alternation', '(q|v)_proj', true],
    ['a key must reach the end of the name', 'self_attn', false],
    ['anchored to the start of the model module name', '^model\\.layers\\.12\\.self_attn\\.v_proj', true],
  ])('%s', (_name, key, expected) => {
    expect(match({ [key]: 4 }, path) === key).toBe(expected);
  });

  test('the first key in order wins, as in PEFT', () => {
    expect(match({ v_proj: 4, 'self_attn.v_proj': 16 }, path)).toBe('v_proj');
    expect(match({ 'self_attn.v_proj': 16, v_proj: 4 }, path)).toBe('self_attn.v_proj');
  });

  test('a catastrophic-backtracking key returns fast on long names', () => {
    const patterns = compileModulePatterns({ '(a+)+b': 8 }, 'rank_pattern');
    const started = performance.now();
    for (let i = 0; i < 40; i++) expect(findModulePattern(patterns, `base_model.model.layers.${i}.${'a'.repeat(5000)}`)).toBeUndefined();
    // A backtracking engine needs ~2^n steps here (minutes for n = 30, forever for 5000).
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test('bounds: key count and key length, naming the key', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_PATTERN_KEYS + 1 }, (_, i) => [`m${i}`, 4]));
    expect(() => compileModulePatterns(many, 'rank_pattern')).toThrow(`rank_pattern has ${MAX_PATTERN_KEYS + 1} keys; at most ${MAX_PATTERN_KEYS}`);
    expect(() =>
      compileModulePatterns(Object.fromEntries(Array.from({ length: MAX_PATTERN_KEYS }, (_, i) => [`m${i}`, 4])), 'rank_pattern'),
    ).not.toThrow();
    const long = 'x'.repeat(MAX_PATTERN_LENGTH + 1);
    expect(() => compileModulePatterns({ [long]: 4 }, 'alpha_pattern')).toThrow(InspectionError);
    expect(() => compileModulePatterns({ [long]: 4 }, 'alpha_pattern')).toThrow(/alpha_pattern key "x+…" is 257 characters; at most 256/);
    expect(() => compileModulePatterns({ ['x'.repeat(MAX_PATTERN_LENGTH)]: 4 }, 'alpha_pattern')).not.toThrow();
  });

  test('a key RE2 cannot compile (invalid, backreference, lookahead) is refused by name', () => {
    for (const key of ['(unclosed', '(a)\\1', 'q(?=_proj)']) {
      expect(() => compileModulePatterns({ [key]: 4 }, 'rank_pattern')).toThrow(
        `adapter_config.json: rank_pattern key ${JSON.stringify(key)} is not a regular expression`,
      );
    }
  });
});

describe('parseAdapterConfig with patterns', () => {
  test('alpha_pattern is parsed: positive numbers, same bounds, checked for syntax', () => {
    expect(parseAdapterConfig(JSON.stringify({ alpha_pattern: { v_proj: 32, q_proj$: 0.5 } })).alphaPattern).toEqual({ v_proj: 32, q_proj$: 0.5 });
    expect(() => parseAdapterConfig('{"alpha_pattern": {"v_proj": 0}}')).toThrow(/alpha_pattern.v_proj is not a positive number/);
    expect(() => parseAdapterConfig('{"alpha_pattern": []}')).toThrow(/alpha_pattern is not an object/);
    expect(() => parseAdapterConfig('{"alpha_pattern": {"(x": 2}}')).toThrow(/alpha_pattern key "\(x" is not a regular expression/);
  });

  test('a hostile config parses, and checking it against 40 long module names is fast', () => {
    const config = parseAdapterConfig(JSON.stringify({ r: 8, rank_pattern: { '(a+)+b': 8 } }));
    const tensors = Array.from({ length: 40 }, (_, i) => {
      const base = `base_model.model.model.layers.${i}.self_attn.${'a'.repeat(64)}`;
      return [
        { name: `${base}.lora_A.weight`, shape: [8, 16] },
        { name: `${base}.lora_B.weight`, shape: [16, 8] },
      ];
    }).flat();
    const started = performance.now();
    expect(() => checkRankAgainstTensors(config, inferFromTensors(tensors))).not.toThrow();
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
