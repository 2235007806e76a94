/**
 * Reading a PEFT LoRA adapter: its adapter_config.json, what its tensor names and shapes say, and whether
 * the two agree. A config whose rank disagrees with the weights would load into the wrong shapes, so it
 * is rejected at ingest rather than discovered by whoever downloads it.
 */
import { compileModulePatterns, findModulePattern, MAX_PATTERN_KEYS } from './module-patterns.ts';
import { InspectionError } from './safetensors.ts';

/** The adapter_config.json fields the catalogue shows. */
export type AdapterConfig = {
  /** `base_model_name_or_path`. */
  baseModel: string | null;
  /** `r`. */
  rank: number | null;
  /** `lora_alpha`. */
  alpha: number | null;
  /** `target_modules`: a list of names, or a single regex string kept as a one-element list. */
  targetModules: string[];
  /** `peft_type`, e.g. "LORA". */
  peftType: string | null;
  /** `task_type`, e.g. "CAUSAL_LM". */
  taskType: string | null;
  /** `rank_pattern`: per-module rank overrides, keyed by a regex on the module name. */
  rankPattern: Record<string, number>;
  /** `alpha_pattern`: per-module alpha overrides, same shape (positive numbers). */
  alphaPattern: Record<string, number>;
  /** `use_rslora` (default false): PEFT then scales the update by alpha/sqrt(r) instead of alpha/r. */
  useRslora: boolean;
};

/** Parses adapter_config.json text. Throws InspectionError on invalid JSON or a mistyped field. */
export function parseAdapterConfig(text: string, fileName = 'adapter_config.json'): AdapterConfig {
  const fail = (problem: string): never => {
    throw new InspectionError(fileName, problem);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('not a JSON object');
  const c = json as Record<string, unknown>;

  const optionalString = (key: string): string | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'string' ? v : fail(`${key} is not a string`);
  };
  const optionalPositive = (key: string): number | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(`${key} is not a positive number`);
  };

  const rank = optionalPositive('r');
  if (rank !== null && !Number.isInteger(rank)) fail(`r is not an integer: ${rank}`);

  const rawTargets = c.target_modules;
  let targetModules: string[] = [];
  if (typeof rawTargets === 'string') targetModules = [rawTargets];
  else if (Array.isArray(rawTargets) && rawTargets.every((m) => typeof m === 'string')) targetModules = [...rawTargets];
  else if (rawTargets !== undefined && rawTargets !== null) fail('target_modules is neither a list of names nor a string');

  const patternMap = (field: string, integer: boolean): Record<string, number> => {
    const raw = c[field] ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) return fail(`${field} is not an object`);
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length > MAX_PATTERN_KEYS) fail(`${field} has ${entries.length} keys; at most ${MAX_PATTERN_KEYS} are accepted`);
    const map: Record<string, number> = {};
    for (const [key, value] of entries) {
      const ok = typeof value === 'number' && Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value));
      if (!ok) fail(`${field}.${key} is not a positive ${integer ? 'integer' : 'number'}`);
      map[key] = value as number;
    }
    // Compiled here so a hostile or unsupported key fails the ingest at once, naming the key.
    compileModulePatterns(map, field, fileName);
    return map;
  };
  const rankPattern = patternMap('rank_pattern', true);
  const alphaPattern = patternMap('alpha_pattern', false);
  const rslora = c.use_rslora ?? false;
  if (typeof rslora !== 'boolean') fail('use_rslora is not a boolean');

  return {
    baseModel: optionalString('base_model_name_or_path'),
    rank,
    alpha: optionalPositive('lora_alpha'),
    targetModules,
    peftType: optionalString('peft_type'),
    taskType: optionalString('task_type'),
    rankPattern,
    alphaPattern,
    useRslora: rslora === true,
  };
}

/** A tensor as listed by a safetensors header. */
export type TensorShape = { name: string; shape: readonly number[] };

/** What the LoRA tensors of an adapter say about it. */
export type InferredAdapter = {
  /** The rank shared by most LoRA modules (the config's `r` when it has a rank_pattern); null without LoRA tensors. */
  rank: number | null;
  /** Every rank seen, sorted unique; more than one means a rank_pattern was used. */
  ranks: number[];
  /** Leaf module names carrying LoRA weights (q_proj, v_proj…), sorted unique. */
  targetModules: string[];
  /** Number of distinct modules (e.g. 24 layers × 2 targets = 48). */
  moduleCount: number;
  /** LoRA module paths mapped to their rank, for cross-checking against a config. */
  moduleRanks: Map<string, number>;
};

/**
 * PEFT saves `<module path>.lora_A.weight` with shape [r, in] (or [r, in, k, k] for convolutions),
 * `<module path>.lora_B.weight` with shape [out, r], and `lora_embedding_A` [r, n] / `lora_embedding_B`
 * [d, r] for embeddings. An adapter name segment (`lora_A.default.weight`) appears in in-memory state
 * dicts and is accepted too.
 */
const LORA_TENSOR = /^(.+)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.([^.]+))?(?:\.weight)?$/;

/** Which of a module's LoRA tensors a name is. */
type LoraPart = 'lora_A' | 'lora_B' | 'lora_embedding_A' | 'lora_embedding_B';

/**
 * A PEFT LoRA tensor name's parts (module path, which tensor, A or B side, the adapter name segment if
 * any), or null for any other tensor: the one reading of these names (inspection, fit check, weight health).
 */
export function loraTensorName(name: string): { modulePath: string; part: LoraPart; side: 'A' | 'B'; adapterName: string | null } | null {
  const m = LORA_TENSOR.exec(name);
  if (m === null) return null;
  const part = m[2] as LoraPart;
  return { modulePath: m[1]!, part, side: part === 'lora_A' || part === 'lora_embedding_A' ? 'A' : 'B', adapterName: m[3] ?? null };
}

/**
 * Derives rank and target modules from tensor names and shapes; tensors that are not LoRA (e.g. a saved
 * `lm_head`) are ignored. Throws InspectionError when a module's lora_A and lora_B disagree on the rank.
 */
export function inferFromTensors(tensors: readonly TensorShape[], weightsFileName = 'adapter_model.safetensors'): InferredAdapter {
  const moduleRanks = new Map<string, number>();
  const rankCounts = new Map<number, number>();
  const targets = new Set<string>();

  for (const t of tensors) {
    const lora = loraTensorName(t.name);
    if (lora === null) continue;
    const modulePath = lora.modulePath;
    const isA = lora.side === 'A';
    const r = isA ? t.shape[0] : t.shape[1];
    if (r === undefined) continue; // a malformed shape says nothing about the rank
    const known = moduleRanks.get(modulePath);
    if (known === undefined) {
      moduleRanks.set(modulePath, r);
      rankCounts.set(r, (rankCounts.get(r) ?? 0) + 1);
      targets.add(modulePath.slice(modulePath.lastIndexOf('.') + 1));
    } else if (known !== r) {
      throw new InspectionError(weightsFileName, `lora_A and lora_B disagree on the rank of ${modulePath} (${known} vs ${r})`);
    }
  }

  let rank: number | null = null;
  let most = 0;
  for (const [r, count] of rankCounts) {
    if (count > most || (count === most && rank !== null && r < rank)) {
      rank = r;
      most = count;
    }
  }
  return {
    rank,
    ranks: [...rankCounts.keys()].sort((a, b) => a - b),
    targetModules: [...targets].sort(),
    moduleCount: moduleRanks.size,
    moduleRanks,
  };
}

/**
 * Throws InspectionError when the config's rank (with its rank_pattern overrides, matched like PEFT
 * does, in linear time: the key must match a dotted suffix of the module path) disagrees with a LoRA
 * tensor's shape.
 * A config without `r` is not checked.
 */
export function checkRankAgainstTensors(config: AdapterConfig, inferred: InferredAdapter, weightsFileName = 'adapter_model.safetensors'): void {
  if (config.rank === null) return;
  const patterns = compileModulePatterns(config.rankPattern, 'rank_pattern', 'adapter_config.json');
  for (const [modulePath, actual] of inferred.moduleRanks) {
    const override = findModulePattern(patterns, modulePath);
    const expected = override?.value ?? config.rank;
    if (actual !== expected) {
      throw new InspectionError(
        weightsFileName,
        `${modulePath} has rank ${actual} but adapter_config.json says ${override ? `rank_pattern ${JSON.stringify(override.key)} = ` : 'r = '}${expected}`,
      );
    }
  }
}
