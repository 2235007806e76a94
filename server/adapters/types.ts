/**
 * What the service learns about an adapter beyond its config: whether it fits its base model, which
 * runtimes accept it, and the health of its weights. Stored as jsonb on model_artifacts and returned by
 * models.get; the shapes here are the API's.
 */

/** Architecture facts of a base model, from its published config.json. */
export interface BaseFacts {
  /** HF repo id as in the table (`meta-llama/Llama-3.2-1B`), or the name the adapter gave. */
  name: string;
  /** HF `model_type`: 'llama' | 'mistral' | 'qwen2' | 'gemma2' | 'phi3' | … */
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  attentionHeads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  /**
   * HF `tie_word_embeddings`: the output projection (lm_head) is the input embedding matrix. Such a base's
   * GGUF has no `output.weight`, so llama.cpp cannot apply a LoRA on lm_head. Absent: not known (a config.json
   * in the output that does not say, or facts stored before this field existed).
   */
  tieWordEmbeddings?: boolean;
  /** Where the figures come from: the config.json URL for a table entry, or 'config.json in the output'. */
  source: string;
}

/**
 * `unchecked` (beyond the contract's three): no LoRA tensor could be read, so nothing was compared; an output
 * whose adapter is only a pickled adapter_model.bin (never opened: see server/ingest/inspect) is one.
 */
export type FitVerdict = 'fits' | 'mismatch' | 'unknown_base' | 'unchecked';

export interface Mismatch {
  tensor: string;
  expected: string;
  got: string;
}

/** Stored in model_artifacts.compatibility (jsonb). */
export interface FitCheck {
  /** The adapter's base_model_name_or_path, and the facts it resolved to (null: unknown). */
  base: { name: string | null; facts: BaseFacts | null };
  verdict: FitVerdict;
  /** LoRA tensors checked. */
  checked: number;
  /** The first 50 mismatches, in tensor order; `mismatchCount` is the full count. */
  mismatched: Mismatch[];
  mismatchCount: number;
}

export interface RuntimeFit {
  name: string;
  ok: boolean;
  reason: string;
}

export type WeightWarningCode = 'untrained' | 'untrained_modules' | 'non_finite' | 'duplicate_checkpoint' | 'pickle_not_read';

export interface WeightWarning {
  code: WeightWarningCode;
  message: string;
  /** The tensors, modules or paths concerned (at most 20). */
  subjects: string[];
}

/** Stored in model_artifacts.weights (jsonb). */
export interface WeightHealth {
  /** The safetensors file analysed (the main adapter); null when the output had none. */
  file: string | null;
  /** Per adapted module, in file order: `layers.3.self_attn.q_proj`, layer 3, ‖(α/r)·B·A‖_F (null when non-finite). */
  modules: { name: string; layer: number | null; updateNorm: number | null }[];
  warnings: WeightWarning[];
  /** Every lora_B all zero: the adapter changes nothing. Drives score 1. */
  untrained: boolean;
}
