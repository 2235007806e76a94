import { describe, expect, test } from 'bun:test';
import { MAX_TRAINER_JSON_BYTES, parsePythonJson } from '../../server/outputs/python-json.ts';

// Printed by CPython 3's json.dumps(..., indent=2, sort_keys=True) (allow_nan=True, ensure_ascii=True: its defaults),
// as TrainerState.save_to_json and Trainer.save_metrics call it. The string `u` holds the escape that this parser
// uses internally for NaN, so this file takes the slow (JSON5) road.
const PYTHON_DUMPS = `{
  "big": 1e+16,
  "grad_norm": NaN,
  "neg": -Infinity,
  "perplexity": Infinity,
  "s": "NaN Infinity \\"q\\" \\\\",
  "small": 2e-05,
  "u": "\\u00e9\\u0000NaN"
}`;

describe('parsePythonJson', () => {
  test('plain JSON is JSON.parse', () => {
    const text = '{"a": [1, 2.5, "x", null, true], "b": {"c": -0.25}}';
    expect(parsePythonJson(text)).toEqual(JSON.parse(text));
  });

  test("Python's NaN, Infinity and -Infinity become non-finite numbers; strings that spell them stay strings", () => {
    const value = parsePythonJson(PYTHON_DUMPS) as Record<string, unknown>;
    expect(Number.isNaN(value.grad_norm)).toBe(true);
    expect(value.perplexity).toBe(Number.POSITIVE_INFINITY);
    expect(value.neg).toBe(Number.NEGATIVE_INFINITY);
    expect(value.s).toBe('NaN Infinity "q" \\');
    expect(value.u).toBe('é\u0000NaN');
    expect(value.big).toBe(1e16);
    expect(value.small).toBe(2e-5);
    // The same characters spelled with another escape are still a string.
    const other = parsePythonJson('{"s": "\\u0000\\u004eaN", "n": NaN}') as Record<string, unknown>;
    expect(other.s).toBe('\u0000NaN');
    expect(Number.isNaN(other.n)).toBe(true);
  });

  test('the fast road: bare constants next to escaped quotes and backslashes, nested, and at the top level', () => {
    // json.dumps({"a": 1.0, "b": [float("nan")]}) and friends.
    expect(parsePythonJson('{"a": 1.0, "b": [NaN]}')).toEqual({ a: 1, b: [Number.NaN] });
    const text = '{"k\\\\": "v\\\\", "x": [[{"y": NaN, "z": "\\"NaN\\""}], -Infinity], "w": "Infinity\\\\\\"", "n": Infinity}';
    const value = parsePythonJson(text) as { k: unknown; x: [[{ y: number; z: string }], number]; w: string; n: number };
    expect(Object.keys(value)).toEqual(['k\\', 'x', 'w', 'n']);
    expect(Number.isNaN(value.x[0][0].y)).toBe(true);
    expect(value.x[0][0].z).toBe('"NaN"');
    expect(value.x[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(value.w).toBe('Infinity\\"');
    expect(value.n).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(parsePythonJson('NaN'))).toBe(true);
    expect(parsePythonJson('-Infinity')).toBe(Number.NEGATIVE_INFINITY);
  });

  test('what else JSON5 accepts is accepted', () => {
    expect(parsePythonJson("{a: 1, 'b': [2,], // note\n}")).toEqual({ a: 1, b: [2] });
  });

  test('a key named __proto__ stays a plain key, on both roads', () => {
    const fast = parsePythonJson('{"__proto__": {"polluted": NaN}}') as Record<string, unknown>;
    const slow = parsePythonJson('{"__proto__": {"polluted": 1}, "s": "\\u0000NaN", "n": NaN}') as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(fast)).toEqual(['__proto__']);
    expect(Object.keys(slow)).toEqual(['__proto__', 's', 'n']);
  });

  test('not JSON: an Error saying so, with where', () => {
    expect(() => parsePythonJson('Traceback (most recent call last):')).toThrow(/^not JSON: .*1:1/);
    expect(() => parsePythonJson('{"log_history": [{"loss": NaN')).toThrow(/^not JSON/);
    expect(() => parsePythonJson('')).toThrow(/^not JSON/);
    expect(() => parsePythonJson('{"a": nan}')).toThrow(/^not JSON/);
  });

  test('a text over the limit is refused before parsing', () => {
    expect(() => parsePythonJson(' '.repeat(MAX_TRAINER_JSON_BYTES + 1))).toThrow(/too large/);
  });
});
