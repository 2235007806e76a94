/**
 * Which runtimes accept an adapter as it is, from their documented limits. Computed when a model is read
 * (the limits are code, so a corrected limit applies to every stored model). Each limit cites its source;
 * none of these runtimes can be installed here, so these are documented limits, not tested ones (llama.cpp
 * itself is exercised by tests/integration/llama-cpp-lora.test.ts through the GGUF export).
 */
import { llamaCppArch } from './bases.ts';
import type { FitCheck, RuntimeFit } from './types.ts';

/**
 * vLLM refuses an adapter whose rank exceeds `--max-lora-rank`, default 16, and accepts only these values
 * for it: `max_lora_rank: MaxLoRARanks = 16`, `MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]`
 * (vllm/config/lora.py, https://docs.vllm.ai/en/stable/api/vllm/config/lora/; usage in
 * https://docs.vllm.ai/en/latest/features/lora.html and the engine arguments page).
 */
const VLLM_DEFAULT_MAX_LORA_RANK = 16;
const VLLM_MAX_LORA_RANKS = [1, 8, 16, 32, 64, 128, 256, 320, 512] as const;

/**
 * Fireworks imports a PEFT adapter whose `r` is "an integer between 4 and 64, inclusive" and whose
 * target_modules are among q_proj, k_proj, v_proj, o_proj, up_proj or w1, down_proj or w2, gate_proj or w3,
 * block_sparse_moe.gate (https://fireworks.ai/docs/fine-tuning/fine-tuned-import). The page also says only
 * some base models take LoRA add-ons, which cannot be checked from here.
 */
const FIREWORKS_MIN_RANK = 4;
const FIREWORKS_MAX_RANK = 64;
const FIREWORKS_TARGETS = new Set([
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'up_proj',
  'w1',
  'down_proj',
  'w2',
  'gate_proj',
  'w3',
  'block_sparse_moe.gate',
]);

/**
 * HF `model_type`s whose `architectures` class is in llama.cpp's converter registry
 * (`@ModelBase.register(...)` in convert_hf_to_gguf.py, split into its `conversion/` package in recent
 * versions): LlamaForCausalLM and MistralForCausalLM (one class), Qwen2ForCausalLM, Qwen3ForCausalLM,
 * GemmaForCausalLM, Gemma2ForCausalLM, Phi3ForCausalLM. convert_lora_to_gguf.py converts an adapter for any
 * architecture of that registry (`ModelBase.from_model_architecture`), https://github.com/ggml-org/llama.cpp.
 */
const LLAMA_CPP_CONVERTS = new Set(['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'gemma2', 'phi3']);

/**
 * Ollama imports Safetensors adapters "based on … Llama (including Llama 2, Llama 3, Llama 3.1, and Llama
 * 3.2); Mistral (including Mistral 1, Mistral 2, and Mixtral); and Gemma (including Gemma 1 and Gemma 2)",
 * and any GGUF adapter with `ADAPTER /path/to/file.gguf` (https://docs.ollama.com/import).
 */
const OLLAMA_SAFETENSORS = new Set(['llama', 'mistral', 'gemma', 'gemma2']);

/**
 * llama.cpp applies a LoRA pair only to the base GGUF tensor of the same name: llama_adapter_lora_init
 * (src/llama-adapter.cpp) throws "LoRA tensor '<name>' does not exist in base model" otherwise. A base that ties
 * its input and output embeddings (HF `tie_word_embeddings: true`) has no lm_head in its checkpoint, so its GGUF
 * has no `output.weight` (the loader reuses `token_embd.weight` for the output, TENSOR_DUPLICATED), and a LoRA
 * on lm_head (`output.weight.lora_a/b`) cannot load. convert_lora_to_gguf.py refuses the same case for
 * architectures whose converter drops lm_head ("lm_head is present in adapter, but is ignored in base model",
 * ggml-org/llama.cpp#9065). Read at the llama.cpp tag node-llama-cpp 3.21.1 bundles.
 */
const TIED_LM_HEAD =
  'the adapter has a LoRA on lm_head and its base ties its input and output embeddings (tie_word_embeddings), so the base GGUF has no ' +
  'output.weight: llama.cpp refuses to load it ("LoRA tensor \'output.weight\' does not exist in base model", src/llama-adapter.cpp); ' +
  'retrain without lm_head in target_modules';

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * An mlx-lm adapter (adapters.safetensors: `<module>.lora_a` [in, r] / `.lora_b` [r, out], PEFT's transposed, and an
 * adapter_config.json of mlx's own, `lora_parameters: {rank, scale}`): PEFT's loader, vLLM and Fireworks read PEFT
 * adapters (adapter_model.safetensors + PEFT's adapter_config.json), and llama.cpp's convert_lora_to_gguf.py reads
 * PEFT's too. Ollama's Safetensors import reads mlx names (ollama convert/convert_llama_adapter.go renames `lora_a`
 * and transposes by shape) but takes alpha only from `lora_alpha` or `lora_parameters.alpha` (convert/convert.go
 * AdapterParameters.KV), which mlx-lm does not write: llama.cpp then scales by 1 (src/llama-adapter.h get_scale),
 * not by mlx's scale. The GGUF export transposes the pair and writes alpha = scale · rank (gguf/convert.ts).
 */
const MLX_NEEDS_PEFT =
  "an mlx-lm adapter (adapters.safetensors, lora_a/lora_b transposed against PEFT's): it loads only after conversion to PEFT's layout";

/**
 * The runtimes, in this order: PEFT, vLLM, llama.cpp, Ollama, Fireworks (an mlx-lm adapter, `format: 'mlx'`:
 * mlx-lm first, and the PEFT readers refused, see MLX_NEEDS_PEFT). `maxRank` is the largest rank of
 * the adapter (with rank_pattern); `targetModules` is adapter_config.json's `target_modules` (or the leaf
 * names the tensors show when it has none). Fireworks reads that field itself, so a name outside its list
 * (`all-linear`, a regex) is reported as not taken; module paths are compared by their leaf name. An
 * adapter that does not fit its base is refused everywhere; an unknown base fails only the runtimes that
 * need its architecture (llama.cpp, Ollama). A LoRA on `lm_head` over a base with tied embeddings
 * (`fit.base.facts.tieWordEmbeddings`) fails llama.cpp and Ollama (TIED_LM_HEAD); when the base does not say
 * whether it ties them, llama.cpp's reason warns instead.
 */
export function runtimesFor(input: {
  fit: FitCheck;
  maxRank: number | null;
  targetModules: string[];
  format?: 'peft' | 'mlx' | undefined;
}): RuntimeFit[] {
  const { fit, maxRank, targetModules } = input;
  const mlx = input.format === 'mlx';
  const baseLabel = fit.base.facts?.name ?? fit.base.name ?? 'its base model';
  if (fit.verdict === 'mismatch') {
    const reason = `does not fit ${baseLabel}: ${plural(fit.mismatchCount, 'tensor differs', 'tensors differ')}`;
    return [...(mlx ? ['mlx-lm'] : []), 'PEFT', 'vLLM', 'llama.cpp', 'Ollama', 'Fireworks'].map((name) => ({ name, ok: false, reason }));
  }
  const modelType = fit.base.facts?.modelType ?? null;
  const unknownBase = `base model unknown (${fit.base.name ?? 'none named'})`;
  const lmHead = targetsLmHead(targetModules);
  // true: llama.cpp cannot load it; null: lm_head is adapted but the base's tying is unknown; false: no concern.
  const tiedLmHead = lmHead ? (fit.base.facts?.tieWordEmbeddings ?? null) : false;
  if (mlx) {
    const base = fit.base.facts?.name ?? fit.base.name ?? 'the base it was trained on';
    return [
      {
        name: 'mlx-lm',
        ok: true,
        reason: `its own format: loads with mlx_lm.generate --adapter-path (or mlx_lm.load(…, adapter_path=…)) on ${base}`,
      },
      { name: 'PEFT', ok: false, reason: `PeftModel.from_pretrained reads PEFT adapters; this is ${MLX_NEEDS_PEFT}` },
      { name: 'vLLM', ok: false, reason: `vLLM serves PEFT adapters; this is ${MLX_NEEDS_PEFT}` },
      llamaCppForMlx(modelType, unknownBase, tiedLmHead),
      ollamaForMlx(modelType, unknownBase, tiedLmHead === true),
      { name: 'Fireworks', ok: false, reason: `Fireworks imports PEFT adapters; this is ${MLX_NEEDS_PEFT}` },
    ];
  }
  return [
    peft(fit),
    vllm(maxRank),
    llamaCpp(modelType, unknownBase, tiedLmHead),
    ollama(modelType, unknownBase, tiedLmHead === true),
    fireworks(maxRank, targetModules),
  ];
}

/**
 * Whether target_modules names lm_head (PEFT matches a list entry against the module name or its dotted
 * suffix). A single regex string is not evaluated: it is untrusted input, and the GGUF export checks the
 * tensors themselves. `all-linear` never includes the output layer (PEFT leaves it out).
 */
function targetsLmHead(targetModules: string[]): boolean {
  return targetModules.some((m) => m === 'lm_head' || m.endsWith('.lm_head'));
}

function peft(fit: FitCheck): RuntimeFit {
  // PeftModel.from_pretrained(base, folder) loads any LoRA adapter saved by PEFT onto the base it names.
  const base = fit.base.facts ? fit.base.facts.name : 'the base it was trained on';
  return { name: 'PEFT', ok: true, reason: `loads with PeftModel.from_pretrained on ${base}` };
}

function vllm(maxRank: number | null): RuntimeFit {
  const name = 'vLLM';
  if (maxRank === null) {
    return { name, ok: false, reason: `rank unknown: vLLM refuses adapters above --max-lora-rank (default ${VLLM_DEFAULT_MAX_LORA_RANK})` };
  }
  if (maxRank <= VLLM_DEFAULT_MAX_LORA_RANK) {
    return { name, ok: true, reason: `rank ${maxRank} ≤ vLLM's default max_lora_rank ${VLLM_DEFAULT_MAX_LORA_RANK}` };
  }
  const setting = VLLM_MAX_LORA_RANKS.find((r) => r >= maxRank);
  if (setting === undefined) {
    const largest = VLLM_MAX_LORA_RANKS[VLLM_MAX_LORA_RANKS.length - 1];
    return { name, ok: false, reason: `rank ${maxRank} > ${largest}, the largest --max-lora-rank vLLM accepts` };
  }
  return {
    name,
    ok: false,
    reason: `rank ${maxRank} > vLLM's default max_lora_rank ${VLLM_DEFAULT_MAX_LORA_RANK}: start vLLM with --max-lora-rank ${setting}`,
  };
}

function llamaCpp(modelType: string | null, unknownBase: string, tiedLmHead: boolean | null): RuntimeFit {
  const name = 'llama.cpp';
  if (modelType === null) return { name, ok: false, reason: `${unknownBase}: converting to GGUF needs its architecture` };
  if (tiedLmHead === true) return { name, ok: false, reason: TIED_LM_HEAD };
  // Unknown tying: allowed (most bases with a separate lm_head load it), but the reason says what would stop it.
  const caveat = tiedLmHead === null ? '; it adapts lm_head, which llama.cpp cannot load if the base ties its embeddings (tie_word_embeddings)' : '';
  const arch = llamaCppArch(modelType);
  if (arch !== null) return { name, ok: true, reason: `GGUF export available (llama.cpp architecture ${arch}): load it with --lora${caveat}` };
  if (LLAMA_CPP_CONVERTS.has(modelType)) {
    return {
      name,
      ok: true,
      reason: `llama.cpp's convert_lora_to_gguf.py converts ${modelType} adapters; this service exports GGUF only for llama, mistral and qwen2 bases${caveat}`,
    };
  }
  return { name, ok: false, reason: `${modelType} is not an architecture llama.cpp's converter is known to handle` };
}

/** llama.cpp for an mlx adapter: through this service's GGUF export only (convert_lora_to_gguf.py reads PEFT adapters). */
function llamaCppForMlx(modelType: string | null, unknownBase: string, tiedLmHead: boolean | null): RuntimeFit {
  if (modelType !== null && llamaCppArch(modelType) === null) {
    return {
      name: 'llama.cpp',
      ok: false,
      reason: `this service exports GGUF for llama, mistral and qwen2 bases, not ${modelType}, and llama.cpp's convert_lora_to_gguf.py reads PEFT adapters, not mlx-lm's`,
    };
  }
  return llamaCpp(modelType, unknownBase, tiedLmHead);
}

/** Ollama for an mlx adapter: the GGUF export, never its own Safetensors import (the scale would be lost: MLX_NEEDS_PEFT's note). */
function ollamaForMlx(modelType: string | null, unknownBase: string, tiedLmHead: boolean): RuntimeFit {
  const name = 'Ollama';
  if (modelType === null) return { name, ok: false, reason: `${unknownBase}: Ollama needs the GGUF export, which needs the base's architecture` };
  if (tiedLmHead) return { name, ok: false, reason: `Ollama runs adapters through llama.cpp: ${TIED_LM_HEAD}` };
  const lost = "Ollama's own Safetensors import reads no alpha from mlx-lm's config and would run it at scale 1";
  if (llamaCppArch(modelType) !== null) return { name, ok: true, reason: `use the GGUF export with ADAPTER (${lost})` };
  return { name, ok: false, reason: `there is no GGUF export for ${modelType}, and ${lost}` };
}

function ollama(modelType: string | null, unknownBase: string, tiedLmHead: boolean): RuntimeFit {
  const name = 'Ollama';
  if (modelType === null) return { name, ok: false, reason: `${unknownBase}: Ollama takes Safetensors adapters only for Llama, Mistral and Gemma` };
  // Ollama applies an adapter as a GGUF LoRA through llama.cpp (a Safetensors adapter is converted on import): the same limit.
  if (tiedLmHead) return { name, ok: false, reason: `Ollama runs adapters through llama.cpp: ${TIED_LM_HEAD}` };
  const gguf = llamaCppArch(modelType) !== null;
  if (OLLAMA_SAFETENSORS.has(modelType)) {
    const alternative = gguf ? ', or the GGUF export' : '';
    return { name, ok: true, reason: `imports this Safetensors adapter (Modelfile FROM <base> + ADAPTER <folder>${alternative})` };
  }
  if (gguf) return { name, ok: true, reason: `Safetensors import covers Llama, Mistral and Gemma only: use the GGUF export with ADAPTER` };
  return {
    name,
    ok: false,
    reason: `Safetensors import covers Llama, Mistral and Gemma only, and there is no GGUF export for ${modelType}: convert with llama.cpp's convert_lora_to_gguf.py, then ADAPTER <file>.gguf`,
  };
}

function fireworks(maxRank: number | null, targetModules: string[]): RuntimeFit {
  const name = 'Fireworks';
  const range = `${FIREWORKS_MIN_RANK}–${FIREWORKS_MAX_RANK}`;
  if (maxRank === null) return { name, ok: false, reason: `rank unknown: Fireworks takes r from ${range}` };
  if (maxRank < FIREWORKS_MIN_RANK || maxRank > FIREWORKS_MAX_RANK) {
    return { name, ok: false, reason: `rank ${maxRank} is outside Fireworks' r ${range}` };
  }
  if (targetModules.length === 0) return { name, ok: false, reason: 'no target modules listed: Fireworks requires target_modules' };
  const refused = [...new Set(targetModules.filter((m) => !FIREWORKS_TARGETS.has(m) && !FIREWORKS_TARGETS.has(m.slice(m.lastIndexOf('.') + 1))))];
  if (refused.length > 0) return { name, ok: false, reason: `Fireworks does not take target modules ${refused.join(', ')}` };
  return { name, ok: true, reason: `rank ${maxRank} within r ${range}, every target module supported` };
}
