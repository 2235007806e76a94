/**
 * A tiny llama-family base model, a PEFT LoRA adapter for it and the base with that adapter merged in, all
 * seeded and small (hidden 64, 2 layers, 288-token vocabulary), for tests that run llama.cpp on a GGUF
 * export: base + exported adapter must behave exactly like the merged base.
 *
 * Weights live in Hugging Face layout (`model.layers.0.self_attn.q_proj.weight`, PyTorch [out, in],
 * row-major). writeTinyModelGguf writes a model the way convert_hf_to_gguf.py would: GGUF names, dims
 * reversed, and llama's q_proj/k_proj rows permuted for ggml's rope (conversion/llama.py
 * LlamaModel.permute) — so an exported adapter only matches the merged model when the export permutes
 * lora_B the same way. The vocabulary and keys satisfy llama.cpp's loader
 * (/work/shared/research/llama-cpp-lora.md): `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then a few
 * normal ones.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type GgufMetadata, type GgufTensorSpec, ggufLayout } from '../../server/adapters/gguf/writer.ts';
import { adapterConfig, type FixtureDtype, mulberry32, writeSafetensors } from '../fixtures/lora.ts';

/** A PyTorch-layout tensor (row-major, `shape` as PyTorch prints it). */
interface Tensor {
  shape: number[];
  data: Float32Array;
}

interface TinyDims {
  arch: 'llama' | 'qwen2';
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  contextLength: number;
  rmsEps: number;
}

export interface TinyModel {
  dims: TinyDims;
  /** Hugging Face tensor names → weights. */
  weights: Map<string, Tensor>;
}

const DEFAULT_DIMS: TinyDims = {
  arch: 'llama',
  vocab: 288,
  hidden: 64,
  intermediate: 128,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  contextLength: 256,
  rmsEps: 1e-5,
};

/** Byte tokens start here: <unk> 0, <s> 1, </s> 2. */
const FIRST_BYTE_TOKEN = 3;

// ---------------------------------------------------------------------------------------------------
// Seeded numbers

function seeded(seed: number, label: string): () => number {
  let h = seed >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return mulberry32(h);
}

function normal(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function randomTensor(shape: number[], rng: () => number, sample: (u: () => number) => number): Tensor {
  const data = new Float32Array(shape.reduce((a, d) => a * d, 1));
  for (let i = 0; i < data.length; i++) data[i] = sample(rng);
  return { shape, data };
}

// ---------------------------------------------------------------------------------------------------
// The base model

/** A seeded tiny base with Hugging Face names; `dims` overrides the defaults (llama, GQA 4 heads / 2 KV). */
export function buildTinyModel(opts: { seed?: number; dims?: Partial<TinyDims> } = {}): TinyModel {
  const dims = { ...DEFAULT_DIMS, ...opts.dims };
  const seed = opts.seed ?? 1;
  const { vocab: V, hidden: H, intermediate: I } = dims;
  const headDim = H / dims.heads;
  const kv = dims.kvHeads * headDim;
  const weights = new Map<string, Tensor>();
  const gaussian = (std: number) => (u: () => number) => std * normal(u);
  const put = (name: string, shape: number[], sample: (u: () => number) => number) => {
    weights.set(name, randomTensor(shape, seeded(seed, name), sample));
  };
  const norm = (u: () => number) => 1 + 0.1 * normal(u);

  put('model.embed_tokens.weight', [V, H], gaussian(1));
  for (let i = 0; i < dims.layers; i++) {
    const p = `model.layers.${i}`;
    put(`${p}.input_layernorm.weight`, [H], norm);
    put(`${p}.self_attn.q_proj.weight`, [H, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.self_attn.k_proj.weight`, [kv, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.self_attn.v_proj.weight`, [kv, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.self_attn.o_proj.weight`, [H, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.post_attention_layernorm.weight`, [H], norm);
    put(`${p}.mlp.gate_proj.weight`, [I, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.mlp.up_proj.weight`, [I, H], gaussian(1 / Math.sqrt(H)));
    put(`${p}.mlp.down_proj.weight`, [H, I], gaussian(1 / Math.sqrt(I)));
  }
  put('model.norm.weight', [H], norm);
  // Logits with a spread of a few units: greedy choices are clear, probabilities not all near 0 or 1.
  put('lm_head.weight', [V, H], gaussian(2 / Math.sqrt(H)));
  return { dims, weights };
}

/** The base's Hugging Face config.json, as the product reads base facts from an output's top level. */
export function tinyConfigJson(model: TinyModel, nameOrPath = '/models/tiny-llama'): string {
  const d = model.dims;
  const config = {
    _name_or_path: nameOrPath,
    architectures: [d.arch === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: d.arch,
    hidden_size: d.hidden,
    intermediate_size: d.intermediate,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads,
    head_dim: d.hidden / d.heads,
    vocab_size: d.vocab,
    max_position_embeddings: d.contextLength,
    rms_norm_eps: d.rmsEps,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * convert_hf_to_gguf.py's LlamaModel.permute(weights, n_head, n_head_kv) on the rows of a [out, in]
 * weight: reshape(n_head, 2, out / n_head / 2, in).swapaxes(1, 2).reshape(out, in).
 */
function permuteRows(t: Tensor, nHead: number): Tensor {
  const [out, cols] = t.shape as [number, number];
  const half = out / nHead / 2;
  const data = new Float32Array(t.data.length);
  // Destination index (h, i, j) of the swapped array holds source (h, j, i).
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const to = (h * half * 2 + i * 2 + j) * cols;
        const from = (h * 2 * half + j * half + i) * cols;
        data.set(t.data.subarray(from, from + cols), to);
      }
    }
  }
  return { shape: t.shape, data };
}

/** Writes an F32 GGUF file (small files: built in memory) with the writer under test's layout. */
export async function writeGgufFile(path: string, meta: GgufMetadata, tensors: readonly { name: string; shape: number[]; data: Float32Array }[]) {
  const specs: GgufTensorSpec[] = tensors.map((t) => ({ name: t.name, dims: [...t.shape].reverse(), type: 'F32' }));
  const layout = ggufLayout(meta, specs);
  const file = new Uint8Array(layout.totalBytes);
  file.set(layout.header);
  tensors.forEach((t, i) => {
    file.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), layout.header.length + layout.offsets[i]!);
  });
  await Bun.write(path, file);
}

/**
 * The model as a llama.cpp GGUF (F32), named and laid out as convert_hf_to_gguf.py does. `tiedEmbeddings`
 * writes it as a base with `tie_word_embeddings: true` converts: no `output.weight` (llama.cpp then uses
 * `token_embd.weight` for the output, so lm_head's weights are not used).
 */
export async function writeTinyModelGguf(path: string, model: TinyModel, opts: { tiedEmbeddings?: boolean } = {}): Promise<void> {
  const d = model.dims;
  const a = d.arch;
  const w = (name: string) => model.weights.get(name)!;
  const tokens = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  while (tokens.length < d.vocab) tokens.push(`▁t${tokens.length}`);
  const tokenTypes = tokens.map((_, i) => (i === 0 ? 2 : i < FIRST_BYTE_TOKEN ? 3 : i < FIRST_BYTE_TOKEN + 256 ? 6 : 1));
  const scores = tokens.map((_, i) => (i < FIRST_BYTE_TOKEN + 256 ? 0 : -i));

  const meta: GgufMetadata = {
    'general.architecture': { type: 'string', value: a },
    'general.name': { type: 'string', value: 'tiny-llama' },
    'general.file_type': { type: 'u32', value: 0 },
    [`${a}.context_length`]: { type: 'u32', value: d.contextLength },
    [`${a}.embedding_length`]: { type: 'u32', value: d.hidden },
    [`${a}.block_count`]: { type: 'u32', value: d.layers },
    [`${a}.feed_forward_length`]: { type: 'u32', value: d.intermediate },
    [`${a}.attention.head_count`]: { type: 'u32', value: d.heads },
    [`${a}.attention.head_count_kv`]: { type: 'u32', value: d.kvHeads },
    [`${a}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: d.rmsEps },
    [`${a}.rope.dimension_count`]: { type: 'u32', value: d.hidden / d.heads },
    [`${a}.vocab_size`]: { type: 'u32', value: d.vocab },
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'string[]', value: tokens },
    'tokenizer.ggml.scores': { type: 'f32[]', value: scores },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: tokenTypes },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
  };

  const permute = (t: Tensor, n: number) => (a === 'llama' ? permuteRows(t, n) : t);
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  const add = (name: string, t: Tensor) => tensors.push({ name, shape: t.shape, data: t.data });
  add('token_embd.weight', w('model.embed_tokens.weight'));
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    add(`blk.${i}.attn_norm.weight`, w(`${p}.input_layernorm.weight`));
    add(`blk.${i}.attn_q.weight`, permute(w(`${p}.self_attn.q_proj.weight`), d.heads));
    add(`blk.${i}.attn_k.weight`, permute(w(`${p}.self_attn.k_proj.weight`), d.kvHeads));
    add(`blk.${i}.attn_v.weight`, w(`${p}.self_attn.v_proj.weight`));
    add(`blk.${i}.attn_output.weight`, w(`${p}.self_attn.o_proj.weight`));
    add(`blk.${i}.ffn_norm.weight`, w(`${p}.post_attention_layernorm.weight`));
    add(`blk.${i}.ffn_gate.weight`, w(`${p}.mlp.gate_proj.weight`));
    add(`blk.${i}.ffn_up.weight`, w(`${p}.mlp.up_proj.weight`));
    add(`blk.${i}.ffn_down.weight`, w(`${p}.mlp.down_proj.weight`));
  }
  add('output_norm.weight', w('model.norm.weight'));
  if (!opts.tiedEmbeddings) add('output.weight', w('lm_head.weight'));
  await writeGgufFile(path, meta, tensors);
}

// ---------------------------------------------------------------------------------------------------
// The adapter

/** Every module PEFT can target on a llama/qwen2 model (linear layers, the embedding and lm_head). */
const ALL_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'embed_tokens', 'lm_head'] as const;

export interface TinyAdapterOptions {
  rank?: number;
  alpha?: number;
  targets?: readonly string[];
  dtype?: FixtureDtype;
  seed?: number;
  useRslora?: boolean;
  /** PEFT `rank_pattern` / `alpha_pattern`: keys are Python regexes matching a dotted suffix of the module name. */
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
}

/** A PEFT adapter: its adapter_config.json fields and its tensors (values exactly as stored). */
export interface TinyAdapter {
  rank: number;
  alpha: number;
  targets: string[];
  dtype: FixtureDtype;
  useRslora: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** In the order PEFT saves them; names as in adapter_model.safetensors. */
  tensors: { name: string; tensor: Tensor }[];
}

/** PEFT's pattern lookup: the first key with re.match(rf"(.*\.)?({key})$", module_name). */
function patternValue(patterns: Record<string, number>, moduleName: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) if (new RegExp(`^(.*\\.)?(${key})$`).test(moduleName)) return value;
  return undefined;
}

/** Round to BF16, nearest even (PyTorch's `.to(torch.bfloat16)`). */
function bf16round(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0]!;
}

/** The values as the dtype stores them (a Float32Array is F32 already). */
function quantize(t: Tensor, dtype: FixtureDtype): Tensor {
  return dtype === 'BF16' ? { shape: t.shape, data: t.data.map(bf16round) } : t;
}

interface ModuleRef {
  /** PEFT module name (`model.layers.0.self_attn.q_proj`, `lm_head`). */
  name: string;
  target: string;
  weight: string;
}

function adaptedModules(model: TinyModel, targets: readonly string[]): ModuleRef[] {
  const refs: ModuleRef[] = [];
  if (targets.includes('embed_tokens')) refs.push({ name: 'model.embed_tokens', target: 'embed_tokens', weight: 'model.embed_tokens.weight' });
  for (let i = 0; i < model.dims.layers; i++) {
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']) {
      if (!targets.includes(m)) continue;
      const parent = ['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn';
      const name = `model.layers.${i}.${parent}.${m}`;
      refs.push({ name, target: m, weight: `${name}.weight` });
    }
  }
  if (targets.includes('lm_head')) refs.push({ name: 'lm_head', target: 'lm_head', weight: 'lm_head.weight' });
  return refs;
}

/** PEFT's scale for a module: α_m / r_m, or α_m / √r_m with use_rslora. */
function moduleScale(adapter: TinyAdapter, moduleName: string, rank: number): number {
  const alpha = patternValue(adapter.alphaPattern, moduleName) ?? adapter.alpha;
  return adapter.useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
}

/** [m, k] · [k, n] in Float64. */
function matmul(a: Tensor, b: Tensor): Float64Array {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a.data[i * k + p]!;
      for (let j = 0; j < n; j++) out[i * n + j]! += x * b.data[p * n + j]!;
    }
  }
  return out;
}

function rms(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! ** 2;
  return Math.sqrt(s / values.length);
}

/**
 * A seeded adapter with non-zero A and B on `targets` (default: every module kind). B is scaled so each
 * module's update s·B·A has half the RMS of the weight it changes: enough to change greedy output.
 */
export function buildTinyAdapter(model: TinyModel, opts: TinyAdapterOptions = {}): TinyAdapter {
  const adapter: TinyAdapter = {
    rank: opts.rank ?? 8,
    alpha: opts.alpha ?? 16,
    targets: [...(opts.targets ?? ALL_TARGETS)],
    dtype: opts.dtype ?? 'F32',
    useRslora: opts.useRslora ?? false,
    rankPattern: opts.rankPattern ?? {},
    alphaPattern: opts.alphaPattern ?? {},
    tensors: [],
  };
  const seed = opts.seed ?? 2;
  const uniform = (u: () => number) => 2 * u() - 1;
  for (const ref of adaptedModules(model, adapter.targets)) {
    const weight = model.weights.get(ref.weight)!;
    const [out, inDim] = weight.shape as [number, number];
    const r = patternValue(adapter.rankPattern, ref.name) ?? adapter.rank;
    const s = moduleScale(adapter, ref.name, r);
    const prefix = `base_model.model.${ref.name}`;
    if (ref.target === 'embed_tokens') {
      // The embedding weight is [V, H]; PEFT: lora_embedding_A [r, V], lora_embedding_B [H, r], ΔW = (s·B·A)ᵀ.
      const A = quantize(randomTensor([r, out], seeded(seed, `${prefix}:A`), uniform), adapter.dtype);
      const B0 = randomTensor([inDim, r], seeded(seed, `${prefix}:B`), normal);
      const k = (0.5 * rms(weight.data)) / (s * rms(matmul(B0, A)));
      const B = quantize({ shape: B0.shape, data: B0.data.map((x) => x * k) }, adapter.dtype);
      adapter.tensors.push({ name: `${prefix}.lora_embedding_A`, tensor: A }, { name: `${prefix}.lora_embedding_B`, tensor: B });
      continue;
    }
    const A = quantize(
      randomTensor([r, inDim], seeded(seed, `${prefix}:A`), (u) => uniform(u) / Math.sqrt(inDim)),
      adapter.dtype,
    );
    const B0 = randomTensor([out, r], seeded(seed, `${prefix}:B`), normal);
    const k = (0.5 * rms(weight.data)) / (s * rms(matmul(B0, A)));
    const B = quantize({ shape: B0.shape, data: B0.data.map((x) => x * k) }, adapter.dtype);
    adapter.tensors.push({ name: `${prefix}.lora_A.weight`, tensor: A }, { name: `${prefix}.lora_B.weight`, tensor: B });
  }
  return adapter;
}

/** The base with the adapter merged as PEFT's merge_and_unload does: W + s·B·A (embedding: W + (s·B·A)ᵀ), F32. */
function mergeTinyAdapter(model: TinyModel, adapter: TinyAdapter): TinyModel {
  const weights = new Map(model.weights);
  const byName = new Map(adapter.tensors.map((t) => [t.name, t.tensor]));
  for (const ref of adaptedModules(model, adapter.targets)) {
    const prefix = `base_model.model.${ref.name}`;
    const w = model.weights.get(ref.weight)!;
    const data = new Float32Array(w.data.length);
    if (ref.target === 'embed_tokens') {
      const A = byName.get(`${prefix}.lora_embedding_A`)!;
      const B = byName.get(`${prefix}.lora_embedding_B`)!;
      const s = moduleScale(adapter, ref.name, A.shape[0]!);
      const delta = matmul(B, A); // [H, V]
      const [V, H] = w.shape as [number, number];
      for (let t = 0; t < V; t++) for (let h = 0; h < H; h++) data[t * H + h] = w.data[t * H + h]! + s * delta[h * V + t]!;
    } else {
      const A = byName.get(`${prefix}.lora_A.weight`)!;
      const B = byName.get(`${prefix}.lora_B.weight`)!;
      const s = moduleScale(adapter, ref.name, A.shape[0]!);
      const delta = matmul(B, A);
      for (let i = 0; i < data.length; i++) data[i] = w.data[i]! + s * delta[i]!;
    }
    weights.set(ref.weight, { shape: w.shape, data });
  }
  return { dims: model.dims, weights };
}

/** adapter_config.json as PEFT writes it. */
export function tinyAdapterConfigJson(adapter: TinyAdapter, baseModel = '/models/tiny-llama'): string {
  return adapterConfig({
    baseModel,
    rank: adapter.rank,
    alpha: adapter.alpha,
    targetModules: adapter.targets,
    modulesToSave: null,
    rankPattern: adapter.rankPattern,
    alphaPattern: adapter.alphaPattern,
    dropout: 0,
    useRslora: adapter.useRslora,
  });
}

/** adapter_model.safetensors, in the adapter's dtype. */
export async function writeTinyAdapterSafetensors(path: string, adapter: TinyAdapter): Promise<{ size: number; sha256: string }> {
  return writeTensors(path, adapter.tensors, adapter.dtype);
}

function writeTensors(
  path: string,
  tensors: readonly { name: string; tensor: Tensor }[],
  dtype: FixtureDtype,
  metadata?: Record<string, string>,
): Promise<{ size: number; sha256: string }> {
  return writeSafetensors(
    path,
    tensors.map(({ name, tensor }) => {
      let bytes: Uint8Array;
      if (dtype === 'F32') {
        bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
      } else {
        // The values are BF16-exact already: the top half of each F32 is the BF16.
        const words = new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length);
        bytes = new Uint8Array(Uint16Array.from(words, (w) => w >>> 16).buffer);
      }
      return { name, dtype, shape: tensor.shape, fill: (chunk, at) => chunk.set(bytes.subarray(at, at + chunk.length)) };
    }),
    metadata,
  );
}

/**
 * Writes a training output folder for the tiny base: adapter_config.json (base_model_name_or_path =
 * `baseModel`, a local path by default), adapter_model.safetensors and the base's HF config.json. Returns
 * the models, so a caller can write base and merged GGUFs (writeTinyModelGguf) and compare them.
 */
export async function writeTinyLlamaOutput(
  dir: string,
  opts: { model?: TinyModel; adapter?: TinyAdapterOptions; baseModel?: string } = {},
): Promise<{ base: TinyModel; adapter: TinyAdapter; merged: TinyModel; files: string[] }> {
  const base = opts.model ?? buildTinyModel();
  const adapter = buildTinyAdapter(base, opts.adapter);
  const baseModel = opts.baseModel ?? '/models/tiny-llama';
  await mkdir(dir, { recursive: true });
  await Bun.write(join(dir, 'adapter_config.json'), tinyAdapterConfigJson(adapter, baseModel));
  await writeTinyAdapterSafetensors(join(dir, 'adapter_model.safetensors'), adapter);
  await Bun.write(join(dir, 'config.json'), tinyConfigJson(base, baseModel));
  return { base, adapter, merged: mergeTinyAdapter(base, adapter), files: ['adapter_config.json', 'adapter_model.safetensors', 'config.json'] };
}

// ---------------------------------------------------------------------------------------------------
// The same adapter in mlx-lm's form

/** Where mlx-lm's `lora_parameters.keys` name each target (mlx_lm/tuner/utils.py linear_to_lora_layers: block-relative, or from the root). */
const MLX_KEYS: Record<string, string> = {
  q_proj: 'self_attn.q_proj',
  k_proj: 'self_attn.k_proj',
  v_proj: 'self_attn.v_proj',
  o_proj: 'self_attn.o_proj',
  gate_proj: 'mlp.gate_proj',
  up_proj: 'mlp.up_proj',
  down_proj: 'mlp.down_proj',
  embed_tokens: 'model.embed_tokens',
  lm_head: 'lm_head',
};

function transpose(t: Tensor): Tensor {
  const [rows, cols] = t.shape as [number, number];
  const data = new Float32Array(t.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = t.data[r * cols + c]!;
  return { shape: [cols, rows], data };
}

/**
 * The adapter's tensors as mlx-lm saves them (mlx_lm/tuner/lora.py LoRALinear / LoRAEmbedding, saved from
 * tree_flatten(model.trainable_parameters())): PEFT's module path without `base_model.model.`, `.lora_a` / `.lora_b`
 * for linear layers and the embedding alike, each PEFT tensor transposed (lora_a [in, r], lora_b [r, out]; the
 * embedding's [V, r] / [r, H]). mlx has one rank and one scale, so the adapter must have no patterns and no rsLoRA.
 */
function tinyAdapterAsMlx(adapter: TinyAdapter): { name: string; tensor: Tensor }[] {
  if (adapter.useRslora || Object.keys(adapter.rankPattern).length > 0 || Object.keys(adapter.alphaPattern).length > 0) {
    throw new Error('mlx-lm has one rank and one scale: no rank_pattern, alpha_pattern or rsLoRA');
  }
  return adapter.tensors.map(({ name, tensor }) => {
    const m = /^base_model\.model\.(.+)\.lora_(?:embedding_)?([AB])(?:\.weight)?$/.exec(name);
    if (!m) throw new Error(`not a PEFT LoRA tensor: ${name}`);
    return { name: `${m[1]}.lora_${m[2]!.toLowerCase()}`, tensor: transpose(tensor) };
  });
}

/**
 * adapter_config.json as mlx_lm/lora.py writes it: `vars(args)` sorted, the whole training config, with
 * `lora_parameters: {rank, scale, dropout, keys}` where scale = alpha / rank (the same update as PEFT's).
 */
function tinyMlxAdapterConfigJson(adapter: TinyAdapter, model: TinyModel, baseModel = '/models/tiny-llama'): string {
  const config = {
    adapter_path: 'adapters',
    batch_size: 4,
    config: null,
    data: 'data',
    fine_tune_type: 'lora',
    grad_accumulation_steps: 1,
    grad_checkpoint: false,
    iters: 100,
    learning_rate: 1e-5,
    lora_parameters: { rank: adapter.rank, dropout: 0, scale: adapter.alpha / adapter.rank, keys: adapter.targets.map((t) => MLX_KEYS[t]!) },
    lr_schedule: null,
    mask_prompt: false,
    max_seq_length: 2048,
    model: baseModel,
    num_layers: model.dims.layers,
    optimizer: 'adam',
    resume_adapter_file: null,
    save_every: 100,
    seed: 0,
    steps_per_eval: 200,
    steps_per_report: 10,
    test: false,
    train: true,
    val_batches: 25,
  };
  return JSON.stringify(config, null, 4);
}

/** adapters.safetensors in mlx-lm's form (`{"format": "mlx"}` metadata, as mx.save_safetensors writes), in the adapter's dtype. */
async function writeTinyMlxSafetensors(path: string, adapter: TinyAdapter): Promise<{ size: number; sha256: string }> {
  return writeTensors(path, tinyAdapterAsMlx(adapter), adapter.dtype, { format: 'mlx' });
}

/**
 * Writes an mlx-lm `adapters/` folder for the tiny base (adapter_config.json, adapters.safetensors) plus the base's
 * config.json: the same adapter as writeTinyLlamaOutput writes in PEFT's form, for the same options.
 */
export async function writeTinyMlxOutput(
  dir: string,
  opts: { model?: TinyModel; adapter?: TinyAdapterOptions; baseModel?: string } = {},
): Promise<{ base: TinyModel; adapter: TinyAdapter; merged: TinyModel; files: string[] }> {
  const base = opts.model ?? buildTinyModel();
  const adapter = buildTinyAdapter(base, opts.adapter);
  const baseModel = opts.baseModel ?? '/models/tiny-llama';
  await mkdir(dir, { recursive: true });
  await Bun.write(join(dir, 'adapter_config.json'), tinyMlxAdapterConfigJson(adapter, base, baseModel));
  await writeTinyMlxSafetensors(join(dir, 'adapters.safetensors'), adapter);
  await Bun.write(join(dir, 'config.json'), tinyConfigJson(base, baseModel));
  return { base, adapter, merged: mergeTinyAdapter(base, adapter), files: ['adapter_config.json', 'adapters.safetensors', 'config.json'] };
}
