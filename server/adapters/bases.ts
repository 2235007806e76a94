/**
 * The architecture facts of popular base models, from their published config.json, and how an adapter's
 * `base_model_name_or_path` (or a config.json shipped in the output) resolves to them.
 *
 * How the figures were checked: no network here, so each entry was compared with public copies in the code
 * index. The main cross-check is Lightning-AI/litgpt `litgpt/config.py` (commit 26857050fe3f), whose entries
 * cite the same config.json URL and carry hidden size (`n_embd`, default 4096), layers, heads (`n_head`,
 * default 32), KV heads (`n_query_groups`, default = heads), `intermediate_size`, `head_size` and the padded
 * vocabulary (= the config's `vocab_size`). pytorch/torchtune `torchtune/models/<family>/_model_builders.py`
 * is the second source where named. A figure marked "derived" is not in the published config: transformers
 * computes it (head_dim = hidden_size / num_attention_heads when the config has no head_dim).
 * `tieWordEmbeddings` (HF `tie_word_embeddings`) was checked per entry against copies of its config.json or the
 * torchtune builders, named in the entry's comment.
 */
import type { BaseFacts } from './types.ts';

const configUrl = (id: string) => `https://huggingface.co/${id}/blob/main/config.json`;

/** The table. Instruct/chat variants and common re-uploads share their base's dimensions: they are aliases. */
export const BASE_MODELS: readonly (BaseFacts & { aliases: readonly string[] })[] = Object.freeze([
  {
    // litgpt "Llama-2-7b{}-hf" (defaults n_embd 4096, n_head 32); the printed config of meta-llama/Llama-2-7b-hf in
    // Retruth/deontic nlp_models/llama2/README.md; microsoft/Olive examples/llm/config.py (Llama-2-7b-chat-hf).
    // head_dim 128 derived (4096 / 32). No GQA: num_key_value_heads = 32.
    // tie_word_embeddings false: several printed LlamaConfig copies of this id in the code index.
    name: 'meta-llama/Llama-2-7b-hf',
    modelType: 'llama',
    hiddenSize: 4096,
    intermediateSize: 11008,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 32,
    headDim: 128,
    vocabSize: 32000,
    tieWordEmbeddings: false,
    source: configUrl('meta-llama/Llama-2-7b-hf'),
    aliases: [
      'meta-llama/Llama-2-7b',
      'meta-llama/Llama-2-7b-chat-hf',
      'meta-llama/Llama-2-7b-chat',
      'NousResearch/Llama-2-7b-hf',
      'NousResearch/Llama-2-7b-chat-hf',
      'unsloth/llama-2-7b',
      'unsloth/llama-2-7b-chat',
    ],
  },
  {
    // litgpt "Llama-2-13b{}-hf"; torchtune llama2/_model_builders.py llama2_13b; the printed config of
    // meta-llama/Llama-2-13b-hf in Retruth/deontic nlp_models/llama2/README.md. head_dim 128 derived (5120 / 40).
    // tie_word_embeddings false: printed LlamaConfig copies of this id in the code index.
    name: 'meta-llama/Llama-2-13b-hf',
    modelType: 'llama',
    hiddenSize: 5120,
    intermediateSize: 13824,
    layers: 40,
    attentionHeads: 40,
    kvHeads: 40,
    headDim: 128,
    vocabSize: 32000,
    tieWordEmbeddings: false,
    source: configUrl('meta-llama/Llama-2-13b-hf'),
    aliases: [
      'meta-llama/Llama-2-13b',
      'meta-llama/Llama-2-13b-chat-hf',
      'meta-llama/Llama-2-13b-chat',
      'NousResearch/Llama-2-13b-hf',
      'NousResearch/Llama-2-13b-chat-hf',
      'unsloth/llama-2-13b',
    ],
  },
  {
    // litgpt "Meta-Llama-3-8B{}" (padded vocab 128256); torchtune llama3/_model_builders.py llama3_8b.
    // head_dim 128 derived (4096 / 32).
    // tie_word_embeddings false: copies of this config.json in the code index (one a planner preset citing its URL).
    name: 'meta-llama/Meta-Llama-3-8B',
    modelType: 'llama',
    hiddenSize: 4096,
    intermediateSize: 14336,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    tieWordEmbeddings: false,
    source: configUrl('meta-llama/Meta-Llama-3-8B'),
    aliases: ['meta-llama/Meta-Llama-3-8B-Instruct', 'meta-llama/Llama-3-8B', 'unsloth/llama-3-8b', 'unsloth/llama-3-8b-Instruct'],
  },
  {
    // Same dimensions as Llama 3 8B (only the rope scaling differs). litgpt "Meta-Llama-3.1-8B{}"; torchtune
    // llama3_1/_model_builders.py llama3_1_8b; a copy of this config without head_dim in the code index.
    // head_dim 128 derived (4096 / 32).
    // tie_word_embeddings false: a printed LlamaConfig of meta-llama/Llama-3.1-8B in the code index.
    name: 'meta-llama/Llama-3.1-8B',
    modelType: 'llama',
    hiddenSize: 4096,
    intermediateSize: 14336,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    tieWordEmbeddings: false,
    source: configUrl('meta-llama/Llama-3.1-8B'),
    aliases: [
      'meta-llama/Llama-3.1-8B-Instruct',
      'meta-llama/Meta-Llama-3.1-8B',
      'meta-llama/Meta-Llama-3.1-8B-Instruct',
      'unsloth/Meta-Llama-3.1-8B',
      'unsloth/Meta-Llama-3.1-8B-Instruct',
      'unsloth/Llama-3.1-8B',
      'unsloth/Llama-3.1-8B-Instruct',
    ],
  },
  {
    // litgpt "Llama-3.2-1B{}"; torchtune llama3_2/_model_builders.py llama3_2_1b; the full config of
    // Llama-3.2-1B-Instruct in kevinstephano/thunder_model_blocks hf_llama/llama_config.py, which lists head_dim 64.
    // tie_word_embeddings true: the thunder_model_blocks copy; torchtune llama3_2/_component_builders.py builds 1B and 3B with
    // TiedLinear and refuses apply_lora_to_output "as the projection layer weights are tied to the embeddings".
    name: 'meta-llama/Llama-3.2-1B',
    modelType: 'llama',
    hiddenSize: 2048,
    intermediateSize: 8192,
    layers: 16,
    attentionHeads: 32,
    kvHeads: 8,
    headDim: 64,
    vocabSize: 128256,
    tieWordEmbeddings: true,
    source: configUrl('meta-llama/Llama-3.2-1B'),
    aliases: ['meta-llama/Llama-3.2-1B-Instruct', 'unsloth/Llama-3.2-1B', 'unsloth/Llama-3.2-1B-Instruct'],
  },
  {
    // litgpt "Llama-3.2-3B{}"; torchtune llama3_2/_model_builders.py llama3_2_3b. head_dim 128 = 3072 / 24
    // (derived here; not re-checked against a copy of the config).
    // tie_word_embeddings true: torchtune llama3_2 (TiedLinear, as for 1B); the 3B config copied in LocalResearchGroup/llm-foundry
    // llmfoundry/models/llama/config.py.
    name: 'meta-llama/Llama-3.2-3B',
    modelType: 'llama',
    hiddenSize: 3072,
    intermediateSize: 8192,
    layers: 28,
    attentionHeads: 24,
    kvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    tieWordEmbeddings: true,
    source: configUrl('meta-llama/Llama-3.2-3B'),
    aliases: ['meta-llama/Llama-3.2-3B-Instruct', 'unsloth/Llama-3.2-3B', 'unsloth/Llama-3.2-3B-Instruct'],
  },
  {
    // litgpt "Mistral-7B-{}v0.1" (defaults n_embd 4096, n_head 32; padded vocab 32000); torchtune
    // mistral/_model_builders.py mistral_7b. head_dim 128 derived (4096 / 32). Instruct-v0.2 keeps the 32000
    // vocabulary (edadaltocg/mistral-src-finetune finetune/config.py), so it is an alias here.
    // tie_word_embeddings false: a printed MistralConfig of mistralai/Mistral-7B-v0.1 in the code index.
    name: 'mistralai/Mistral-7B-v0.1',
    modelType: 'mistral',
    hiddenSize: 4096,
    intermediateSize: 14336,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 8,
    headDim: 128,
    vocabSize: 32000,
    tieWordEmbeddings: false,
    source: configUrl('mistralai/Mistral-7B-v0.1'),
    aliases: [
      'mistralai/Mistral-7B-Instruct-v0.1',
      'mistralai/Mistral-7B-Instruct-v0.2',
      'unsloth/mistral-7b',
      'unsloth/mistral-7b-instruct-v0.1',
      'unsloth/mistral-7b-instruct-v0.2',
    ],
  },
  {
    // v0.3 extends the vocabulary to 32768 (litgpt "Mistral-7B-v0.3", padded_vocab_size 32768, and the
    // Mistral-7B-Instruct-v0.3 model card); every other figure as v0.1. head_dim 128 derived.
    // tie_word_embeddings false: a copy of this config.json in the code index.
    name: 'mistralai/Mistral-7B-v0.3',
    modelType: 'mistral',
    hiddenSize: 4096,
    intermediateSize: 14336,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 8,
    headDim: 128,
    vocabSize: 32768,
    tieWordEmbeddings: false,
    source: configUrl('mistralai/Mistral-7B-v0.3'),
    aliases: ['mistralai/Mistral-7B-Instruct-v0.3', 'unsloth/mistral-7b-v0.3', 'unsloth/mistral-7b-instruct-v0.3'],
  },
  {
    // litgpt "Qwen2.5-0.5B{}" (padded vocab 151936); torchtune qwen2_5/_model_builders.py qwen2_5_0_5b. head_dim 64
    // derived (896 / 14; Qwen2 configs have no head_dim). This is the base of tests/fixtures/lora.ts.
    // tie_word_embeddings true: torchtune qwen2_5_0_5b (tie_word_embeddings=True); a copy of this config.json in the code index.
    name: 'Qwen/Qwen2.5-0.5B',
    modelType: 'qwen2',
    hiddenSize: 896,
    intermediateSize: 4864,
    layers: 24,
    attentionHeads: 14,
    kvHeads: 2,
    headDim: 64,
    vocabSize: 151936,
    tieWordEmbeddings: true,
    source: configUrl('Qwen/Qwen2.5-0.5B'),
    aliases: ['Qwen/Qwen2.5-0.5B-Instruct', 'unsloth/Qwen2.5-0.5B', 'unsloth/Qwen2.5-0.5B-Instruct'],
  },
  {
    // litgpt "Qwen2.5-1.5B{}"; torchtune qwen2_5_1_5b_base / _instruct (same dimensions, only the context length
    // differs). head_dim 128 derived (1536 / 12).
    // tie_word_embeddings true: torchtune qwen2_5_1_5b_base / _instruct (tie_word_embeddings=True); a copy of the -Instruct config.
    name: 'Qwen/Qwen2.5-1.5B',
    modelType: 'qwen2',
    hiddenSize: 1536,
    intermediateSize: 8960,
    layers: 28,
    attentionHeads: 12,
    kvHeads: 2,
    headDim: 128,
    vocabSize: 151936,
    tieWordEmbeddings: true,
    source: configUrl('Qwen/Qwen2.5-1.5B'),
    aliases: ['Qwen/Qwen2.5-1.5B-Instruct', 'unsloth/Qwen2.5-1.5B', 'unsloth/Qwen2.5-1.5B-Instruct'],
  },
  {
    // litgpt "Qwen2.5-7B{}" (padded vocab 152064); torchtune qwen2_5_7b_base / _instruct. head_dim 128 derived (3584 / 28).
    // tie_word_embeddings false: torchtune ties only "Qwen2.5 0.5B-3B" (qwen2_5_7b_* do not); a copy of the -Instruct config.
    name: 'Qwen/Qwen2.5-7B',
    modelType: 'qwen2',
    hiddenSize: 3584,
    intermediateSize: 18944,
    layers: 28,
    attentionHeads: 28,
    kvHeads: 4,
    headDim: 128,
    vocabSize: 152064,
    tieWordEmbeddings: false,
    source: configUrl('Qwen/Qwen2.5-7B'),
    aliases: ['Qwen/Qwen2.5-7B-Instruct', 'unsloth/Qwen2.5-7B', 'unsloth/Qwen2.5-7B-Instruct'],
  },
  {
    // litgpt "tiny-llama-1.1b{}", which covers both TinyLlama-1.1B-intermediate-step-1431k-3T and -Chat-v1.0.
    // head_dim 64 derived (2048 / 32).
    // tie_word_embeddings false: a re-saved copy of the Chat-v1.0 config in the code index (LlamaConfig's default is false too).
    name: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    modelType: 'llama',
    hiddenSize: 2048,
    intermediateSize: 5632,
    layers: 22,
    attentionHeads: 32,
    kvHeads: 4,
    headDim: 64,
    vocabSize: 32000,
    tieWordEmbeddings: false,
    source: configUrl('TinyLlama/TinyLlama-1.1B-Chat-v1.0'),
    aliases: ['TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T', 'unsloth/tinyllama', 'unsloth/tinyllama-chat'],
  },
  {
    // litgpt "Gemma-2-2b" (head_size 256); AI-Hypercomputer/maxtext MaxText/utils/ckpt_conversion/utils/hf_model_configs.py.
    // head_dim 256 is in the config and is NOT hidden / heads (2304 / 8 = 288): q_proj maps 2304 -> 8 x 256 = 2048.
    // tie_word_embeddings true: the copies of its config.json in the code index have no such key (nor gemma-2-9b's), so
    // transformers' Gemma2Config default applies: `tie_word_embeddings: bool = True` (configuration_gemma2.py).
    name: 'google/gemma-2-2b',
    modelType: 'gemma2',
    hiddenSize: 2304,
    intermediateSize: 9216,
    layers: 26,
    attentionHeads: 8,
    kvHeads: 4,
    headDim: 256,
    vocabSize: 256000,
    tieWordEmbeddings: true,
    source: configUrl('google/gemma-2-2b'),
    aliases: ['google/gemma-2-2b-it', 'unsloth/gemma-2-2b', 'unsloth/gemma-2-2b-it'],
  },
  {
    // litgpt "Phi-3-mini-4k-instruct" (padded vocab 32064; n_head and KV heads default 32); torchtune
    // phi3/_model_builders.py phi3_mini. head_dim 96 derived (3072 / 32). The 128k and 3.5 variants share these
    // dimensions (litgpt "Phi-3-mini-128k-instruct", "Phi-3.5-mini-instruct"); only the rope scaling differs.
    // tie_word_embeddings false: a copy of this config.json in the code index.
    name: 'microsoft/Phi-3-mini-4k-instruct',
    modelType: 'phi3',
    hiddenSize: 3072,
    intermediateSize: 8192,
    layers: 32,
    attentionHeads: 32,
    kvHeads: 32,
    headDim: 96,
    vocabSize: 32064,
    tieWordEmbeddings: false,
    source: configUrl('microsoft/Phi-3-mini-4k-instruct'),
    aliases: [
      'microsoft/Phi-3-mini-128k-instruct',
      'microsoft/Phi-3.5-mini-instruct',
      'unsloth/Phi-3-mini-4k-instruct',
      'unsloth/Phi-3.5-mini-instruct',
    ],
  },
]);

/**
 * Suffixes of re-uploads that keep the base's dimensions (quantised copies): `unsloth/llama-3-8b-bnb-4bit`,
 * `…-unsloth-bnb-4bit`, `…-GPTQ-Int4`, and the mlx conversions an mlx-lm adapter names as its `model`
 * (`mlx-community/…-4bit`, `-6bit`, `-4bit-DWQ`, `…-MLX-4bit`; mlx quantises to 2 to 8 bits). Stripped repeatedly
 * from the end of the last path segment.
 */
const QUANT_SUFFIX = /-(?:bnb-4bit|bnb-8bit|unsloth|[2-8]bit|int4|int8|gptq|awq|fp16|bf16|mlx|dwq)$/i;

function lastSegment(name: string): string {
  const parts = name.split(/[/\\]+/).filter((p) => p.length > 0);
  // A Hugging Face cache path names the repo in a `models--<org>--<name>` folder, then a snapshot hash.
  for (let i = parts.length - 1; i >= 0; i--) {
    const cached = /^models--.+--(.+)$/.exec(parts[i]!);
    if (cached) return cached[1]!;
  }
  return parts[parts.length - 1] ?? '';
}

function normalise(segment: string): string {
  let s = segment.toLowerCase();
  let stripped = s.replace(QUANT_SUFFIX, '');
  while (stripped !== s) {
    s = stripped;
    stripped = s.replace(QUANT_SUFFIX, '');
  }
  return s;
}

type Entry = (typeof BASE_MODELS)[number];
let index: { exact: Map<string, Entry>; bySegment: Map<string, Entry> } | null = null;

function lookup(): NonNullable<typeof index> {
  if (index) return index;
  const exact = new Map<string, Entry>();
  const bySegment = new Map<string, Entry>();
  for (const entry of BASE_MODELS) {
    for (const id of [entry.name, ...entry.aliases]) {
      exact.set(id.toLowerCase(), entry);
      bySegment.set(normalise(lastSegment(id)), entry);
    }
  }
  index = { exact, bySegment };
  return index;
}

function factsOf(entry: Entry): BaseFacts {
  const { aliases: _aliases, ...facts } = entry;
  return facts;
}

/**
 * The table's facts for an adapter's `base_model_name_or_path`: the id or an alias, case-insensitive; else
 * the last path segment (`/models/Llama-3.2-1B`, an HF cache `models--org--name/snapshots/…` path) compared
 * with the table's, after stripping quantised re-upload suffixes (`-bnb-4bit`, `-unsloth`, `-GPTQ-Int4`).
 * Returns a copy without the aliases (it is stored with the model), or null when nothing matches.
 */
export function findBase(name: string | null): BaseFacts | null {
  if (name === null) return null;
  const trimmed = name.trim();
  if (trimmed === '') return null;
  const { exact, bySegment } = lookup();
  const hit = exact.get(trimmed.toLowerCase()) ?? bySegment.get(normalise(lastSegment(trimmed)));
  return hit ? factsOf(hit) : null;
}

/**
 * Base facts from a Hugging Face `config.json` found at the top of a training output (torchtune and others
 * copy the base's). `num_key_value_heads` defaults to the head count and `head_dim` to hidden / heads, as in
 * transformers. `tie_word_embeddings` is read only when it is a boolean: when absent it stays unknown (no
 * `tieWordEmbeddings` key), because transformers' default differs per model class (false for LlamaConfig and
 * Qwen2Config, true for Gemma2Config and the PretrainedConfig base), and guessing wrong either refuses a GGUF
 * export that would load or allows one that would not. Returns null, never throws, when the text is not a
 * usable decoder config: invalid JSON, no `model_type`, or a dimension missing or not a positive integer.
 */
export function baseFromConfigJson(text: string): BaseFacts | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const c = json as Record<string, unknown>;
  const positive = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null);
  const present = (v: unknown) => v !== undefined && v !== null;

  const modelType = typeof c.model_type === 'string' && c.model_type.trim() !== '' ? c.model_type.trim() : null;
  const hiddenSize = positive(c.hidden_size);
  const intermediateSize = positive(c.intermediate_size);
  const layers = positive(c.num_hidden_layers);
  const attentionHeads = positive(c.num_attention_heads);
  const vocabSize = positive(c.vocab_size);
  if (modelType === null || hiddenSize === null || intermediateSize === null || layers === null || attentionHeads === null || vocabSize === null) {
    return null;
  }
  // A field that is present must be valid; an absent one takes transformers' default.
  const kvHeads = present(c.num_key_value_heads) ? positive(c.num_key_value_heads) : attentionHeads;
  const headDim = present(c.head_dim) ? positive(c.head_dim) : positive(hiddenSize / attentionHeads);
  if (kvHeads === null || headDim === null) return null;

  const name = typeof c._name_or_path === 'string' && c._name_or_path.trim() !== '' ? c._name_or_path.trim() : 'base from config.json';
  const facts: BaseFacts = {
    name,
    modelType,
    hiddenSize,
    intermediateSize,
    layers,
    attentionHeads,
    kvHeads,
    headDim,
    vocabSize,
    source: 'config.json in the output',
  };
  if (typeof c.tie_word_embeddings === 'boolean') facts.tieWordEmbeddings = c.tie_word_embeddings;
  return facts;
}

/**
 * The llama.cpp architecture this service's GGUF export writes for an HF `model_type`: Llama and Mistral
 * share llama.cpp's `llama` graph (convert_hf_to_gguf.py registers LlamaForCausalLM and MistralForCausalLM on
 * one class), Qwen2 is `qwen2`. null: the export refuses, naming the type.
 */
export function llamaCppArch(modelType: string): 'llama' | 'qwen2' | null {
  switch (modelType) {
    case 'llama':
    case 'mistral':
      return 'llama';
    case 'qwen2':
      return 'qwen2';
    default:
      return null;
  }
}
