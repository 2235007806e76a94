/**
 * Reading a LoRA adapter: its adapter_config.json, what its tensor names and shapes say, and whether the
 * two agree. A config whose rank disagrees with the weights would load into the wrong shapes, so it is
 * rejected at ingest rather than discovered by whoever downloads it.
 *
 * Two forms exist. PEFT's (also torchtune's: its checkpointer writes adapter_model.safetensors and
 * adapter_config.json through convert_weights.tune_to_peft_adapter_weights / tune_to_peft_adapter_config,
 * so PEFT names and shapes). And mlx-lm's (and unsloth-MLX's): adapters.safetensors with `<module>.lora_a`
 * [in, r] and `<module>.lora_b` [r, out] (mlx_lm/tuner/lora.py LoRALinear: y = W·x + scale·(x·A)·B, so A and
 * B are PEFT's transposed), beside an adapter_config.json that is the whole training config (mlx_lm/lora.py
 * saves `vars(args)`: `model`, `fine_tune_type`, `num_layers`, `lora_parameters: {rank, scale, dropout, keys?}`).
 */
import { compileModulePatterns, findModulePattern, MAX_PATTERN_KEYS } from './module-patterns.ts';
import { InspectionError } from './safetensors.ts';

/** The adapter_config.json fields the catalogue shows. */
export type AdapterConfig = {
  /** Who wrote it: PEFT (or torchtune, whose config is PEFT's), or mlx-lm / unsloth-MLX (a `lora_parameters` config). */
  format: 'peft' | 'mlx';
  /** `base_model_name_or_path`; mlx: `model` (a Hub id or the training machine's local path), else unsloth-MLX's `base_model_name_or_path`. */
  baseModel: string | null;
  /** `r`; mlx: `lora_parameters.rank`. */
  rank: number | null;
  /** `lora_alpha`; mlx: `lora_parameters.scale` × rank, so that alpha / r is the scale in both forms. */
  alpha: number | null;
  /**
   * `target_modules`: a list of names, or a single regex string kept as a one-element list; mlx: the leaf names of
   * `lora_parameters.keys` (`self_attn.q_proj` → `q_proj`), empty without keys (mlx then adapts every linear layer).
   */
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
  /** mlx `num_layers`: LoRA on the last N transformer blocks (-1: all); null for PEFT. */
  numLayers: number | null;
  /** mlx `fine_tune_type`: `lora`, `dora` (magnitude vectors `.m` beside lora_a/lora_b) or `full`; null for PEFT. */
  fineTuneType: string | null;
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
  // mlx-lm writes both keys always (lora_parameters is null for a full fine-tune); PEFT writes neither.
  if (Object.hasOwn(c, 'lora_parameters') || Object.hasOwn(c, 'fine_tune_type')) return parseMlxConfig(c, fail);

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
    format: 'peft',
    baseModel: optionalString('base_model_name_or_path'),
    rank,
    alpha: optionalPositive('lora_alpha'),
    targetModules,
    peftType: optionalString('peft_type'),
    taskType: optionalString('task_type'),
    rankPattern,
    alphaPattern,
    useRslora: rslora === true,
    numLayers: null,
    fineTuneType: null,
  };
}

/**
 * mlx-lm's adapter_config.json (mlx_lm/lora.py: `save_config(vars(args), …)`), or unsloth-MLX's (unsloth_zoo/mlx:
 * `fine_tune_type`, `base_model_name_or_path`, `num_layers`, `lora_parameters`, and `rank`/`scale` copied to the top
 * for mlx-vlm). mlx applies one rank and one scale to every module; there are no patterns and no rsLoRA.
 */
function parseMlxConfig(c: Record<string, unknown>, fail: (problem: string) => never): AdapterConfig {
  // An empty string (unsloth-MLX writes `base_model_name_or_path: ""` when it knows no repo) names nothing.
  const optionalString = (key: string): string | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') return fail(`${key} is not a string`);
    return v.trim() === '' ? null : v;
  };
  const fineTuneType = optionalString('fine_tune_type');
  const rawLayers = c.num_layers;
  let numLayers: number | null = null;
  if (rawLayers !== undefined && rawLayers !== null) {
    if (typeof rawLayers !== 'number' || !Number.isSafeInteger(rawLayers)) fail('num_layers is not an integer');
    numLayers = rawLayers as number;
  }
  const raw = c.lora_parameters ?? null;
  if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) fail('lora_parameters is not an object');
  const p = (raw ?? {}) as Record<string, unknown>;
  const positive = (key: string): number | null => {
    const v = p[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(`lora_parameters.${key} is not a positive number`);
  };
  const rank = positive('rank');
  if (rank !== null && !Number.isInteger(rank)) fail(`lora_parameters.rank is not an integer: ${rank}`);
  const scale = positive('scale');
  const keys = p.keys;
  const targetModules: string[] = [];
  if (Array.isArray(keys) && keys.every((k) => typeof k === 'string')) {
    // Keys are module paths inside a block (`self_attn.q_proj`) or from the model's root (`lm_head`, `model.embed_tokens`).
    for (const k of keys) {
      const leaf = k.slice(k.lastIndexOf('.') + 1);
      if (leaf !== '' && !targetModules.includes(leaf)) targetModules.push(leaf);
    }
  } else if (keys !== undefined && keys !== null) {
    fail('lora_parameters.keys is not a list of names');
  }
  return {
    format: 'mlx',
    baseModel: optionalString('model') ?? optionalString('base_model_name_or_path'),
    rank,
    alpha: rank !== null && scale !== null ? scale * rank : null,
    targetModules,
    peftType: optionalString('peft_type'),
    taskType: null,
    rankPattern: {},
    alphaPattern: {},
    useRslora: false,
    numLayers,
    fineTuneType,
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
  /** The layout of the LoRA tensors (the first one's); null without LoRA tensors. */
  layout: LoraLayout | null;
};

/**
 * PEFT saves `<module path>.lora_A.weight` with shape [r, in] (or [r, in, k, k] for convolutions),
 * `<module path>.lora_B.weight` with shape [out, r], and `lora_embedding_A` [r, n] / `lora_embedding_B`
 * [d, r] for embeddings. An adapter name segment (`lora_A.default.weight`) appears in in-memory state
 * dicts and is accepted too.
 */
const LORA_TENSOR = /^(.+)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.([^.]+))?(?:\.weight)?$/;

/**
 * mlx-lm saves `tree_flatten(model.trainable_parameters())` (mlx_lm/tuner/trainer.py): `<module path>.lora_a` and
 * `.lora_b`, lower case, no `.weight`, for linear layers and embeddings alike (`model.layers.27.self_attn.q_proj.lora_a`,
 * `model.embed_tokens.lora_a`). DoRA adds `<module path>.m`, a magnitude vector that is not a LoRA factor.
 */
const MLX_LORA_TENSOR = /^(.+)\.(lora_a|lora_b)$/;

/** Which of a module's LoRA tensors a name is. */
type LoraPart = 'lora_A' | 'lora_B' | 'lora_embedding_A' | 'lora_embedding_B' | 'lora_a' | 'lora_b';

/**
 * How a LoRA pair is stored. peft: A [r, in], B [out, r] (embeddings: A [r, vocab], B [hidden, r]). mlx: the
 * transposes, A [in, r], B [r, out] (embeddings: A [vocab, r], B [r, hidden]); mlx's MoE experts (LoRASwitchLinear)
 * are the exception, A [experts, r, in], B [experts, out, r].
 */
export type LoraLayout = 'peft' | 'mlx';

/** A LoRA tensor name's parts: loraTensorName's answer. */
export type LoraTensorName = { modulePath: string; part: LoraPart; side: 'A' | 'B'; adapterName: string | null; layout: LoraLayout };

/**
 * A LoRA tensor name's parts (module path, which tensor, A or B side, the adapter name segment if any, the
 * layout its shape is in), or null for any other tensor: the one reading of these names (inspection, fit
 * check, weight health).
 */
export function loraTensorName(name: string): LoraTensorName | null {
  const m = LORA_TENSOR.exec(name);
  if (m === null) {
    const mlx = MLX_LORA_TENSOR.exec(name);
    if (mlx === null) return null;
    return { modulePath: mlx[1]!, part: mlx[2] as LoraPart, side: mlx[2] === 'lora_a' ? 'A' : 'B', adapterName: null, layout: 'mlx' };
  }
  const part = m[2] as LoraPart;
  return { modulePath: m[1]!, part, side: part === 'lora_A' || part === 'lora_embedding_A' ? 'A' : 'B', adapterName: m[3] ?? null, layout: 'peft' };
}

/**
 * The rank a LoRA tensor's shape carries, read in its layout (see LoraLayout); undefined when the shape cannot
 * say (an mlx tensor that is neither 2-D nor 3-D, a PEFT one too short).
 */
function loraRank(lora: Pick<LoraTensorName, 'side' | 'layout'>, shape: readonly number[]): number | undefined {
  if (lora.layout === 'peft') return lora.side === 'A' ? shape[0] : shape[1];
  if (shape.length !== 2 && shape.length !== 3) return undefined;
  if (lora.side === 'A') return shape[1];
  return shape.length === 3 ? shape[2] : shape[0];
}

/**
 * Derives rank and target modules from tensor names and shapes; tensors that are not LoRA (e.g. a saved
 * `lm_head`) are ignored. Throws InspectionError when a module's lora_A and lora_B disagree on the rank.
 */
export function inferFromTensors(tensors: readonly TensorShape[], weightsFileName = 'adapter_model.safetensors'): InferredAdapter {
  const moduleRanks = new Map<string, number>();
  const rankCounts = new Map<number, number>();
  const targets = new Set<string>();
  let layout: LoraLayout | null = null;

  for (const t of tensors) {
    const lora = loraTensorName(t.name);
    if (lora === null) continue;
    layout ??= lora.layout;
    const modulePath = lora.modulePath;
    const r = loraRank(lora, t.shape);
    if (r === undefined) continue; // a malformed shape says nothing about the rank
    const known = moduleRanks.get(modulePath);
    if (known === undefined) {
      moduleRanks.set(modulePath, r);
      rankCounts.set(r, (rankCounts.get(r) ?? 0) + 1);
      targets.add(modulePath.slice(modulePath.lastIndexOf('.') + 1));
    } else if (known !== r) {
      const pair = lora.layout === 'mlx' ? 'lora_a and lora_b' : 'lora_A and lora_B';
      throw new InspectionError(weightsFileName, `${pair} disagree on the rank of ${modulePath} (${known} vs ${r})`);
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
    layout,
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
        `${modulePath} has rank ${actual} but adapter_config.json says ${override ? `rank_pattern ${JSON.stringify(override.key)} = ` : config.format === 'mlx' ? 'lora_parameters.rank = ' : 'r = '}${expected}`,
      );
    }
  }
}
