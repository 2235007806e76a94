/**
 * PEFT's `rank_pattern` / `alpha_pattern` keys are Python regexes chosen by whoever trained the adapter,
 * so they are untrusted input. They are matched with RE2 (re2js): linear in the module path, whatever the
 * pattern, so `(a+)+b` cannot stall the process the way a backtracking RegExp does.
 */
import { RE2JS } from 're2js';
import { InspectionError } from './safetensors.ts';

/** At most this many keys per pattern map (real adapters use a handful). */
export const MAX_PATTERN_KEYS = 512;
/** At most this many characters per key (a full module path is well under 200). */
export const MAX_PATTERN_LENGTH = 256;

/** One compiled key of a pattern map, with the value it assigns. */
export interface ModulePattern {
  key: string;
  value: number;
  re: RE2JS;
}

/**
 * Compiles a pattern map in key order (PEFT takes the first key that matches). Throws InspectionError
 * naming the key when there are too many keys, a key is too long, or RE2 cannot compile it (Python
 * features RE2 lacks, such as backreferences and lookaheads, are refused rather than guessed at).
 */
export function compileModulePatterns(patterns: Record<string, number>, field: string, fileName = 'adapter_config.json'): ModulePattern[] {
  const keys = Object.keys(patterns);
  if (keys.length > MAX_PATTERN_KEYS)
    throw new InspectionError(fileName, `${field} has ${keys.length} keys; at most ${MAX_PATTERN_KEYS} are accepted`);
  return keys.map((key) => {
    const shown = JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
    if (key.length > MAX_PATTERN_LENGTH) {
      throw new InspectionError(fileName, `${field} key ${shown} is ${key.length} characters; at most ${MAX_PATTERN_LENGTH} are accepted`);
    }
    try {
      // PEFT: re.match(rf"(.*\.)?({key})$", module_name), i.e. the key matches a dotted suffix of the path.
      return { key, value: patterns[key]!, re: RE2JS.compile(`(.*\\.)?(${key})`) };
    } catch {
      throw new InspectionError(fileName, `${field} key ${shown} is not a regular expression this service accepts (RE2 syntax)`);
    }
  });
}

/** PEFT matches patterns against the model's module names, which saved tensors prefix with this. */
const SAVED_PREFIX = 'base_model.model.';

/** The first pattern matching `modulePath` (a saved-tensor module path or a model module name), if any. */
export function findModulePattern(patterns: readonly ModulePattern[], modulePath: string): ModulePattern | undefined {
  const name = modulePath.startsWith(SAVED_PREFIX) ? modulePath.slice(SAVED_PREFIX.length) : modulePath;
  // matches() is a whole-input match, the same as PEFT's re.match anchored by its trailing `$`.
  return patterns.find((p) => p.re.matches(name));
}
