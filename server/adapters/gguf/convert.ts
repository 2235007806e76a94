/**
 * PEFT LoRA adapter (adapter_model.safetensors), or mlx-lm's (adapters.safetensors) → llama.cpp LoRA GGUF, as llama.cpp's own
 * `convert_lora_to_gguf.py` writes it (read at the llama.cpp tag node-llama-cpp 3.21.1 bundles; the
 * references below are to that tree), streamed: the header is computed from the safetensors header alone,
 * then each tensor is read, converted to F16 and emitted in bounded chunks, so the output's size is known
 * before the first byte and memory does not grow with the adapter.
 *
 * What upstream does, and what this does:
 * - Metadata (convert_lora_to_gguf.py LoraModel.set_type / set_gguf_parameters, gguf-py constants.py
 *   Keys.General / Keys.Adapter): `general.architecture`, `general.type = "adapter"`,
 *   `adapter.type = "lora"`, `general.name`, `adapter.lora.alpha` (F32, the config's `lora_alpha`),
 *   `general.quantization_version` (GGML_QUANT_VERSION = 2, ModelBase.prepare_metadata).
 * - Names (get_base_tensor_name; gguf-py tensor_mapping.py, "llama-hf" rows, shared by qwen2): the PEFT
 *   module path without `base_model.model.` maps to a base tensor, then `.lora_a` / `.lora_b` is appended.
 * - Layout (LoraTorchTensor, modify_tensors): lora_a holds PEFT's lora_A [r, in] as is (GGUF dims
 *   [in, r]), lora_b PEFT's lora_B [out, r] as is (dims [r, out]). llama.cpp computes
 *   y += (adapter scale · alpha / r) · B·(A·x), r taken from lora_b (src/llama-adapter.h get_scale).
 * - Embeddings (mergekit-extract-lora and PEFT `lora_embedding_A` [r, V] / `lora_embedding_B` [H, r]):
 *   upstream transposes lora_a only (`if "token_embd.weight" in dest_name: lora_a = lora_a.T`), so
 *   token_embd.weight.lora_a has dims [r, V] with the data of Aᵀ, and lora_b dims [r, H] with B as is
 *   (src/llama-adapter.cpp checks exactly these shapes; llm_build_inp_embd gathers rows of lora_a).
 * - Llama Q/K (conversion/llama.py LlamaModel.modify_tensors, undo_permute = True for Llama/Mistral/
 *   TinyLlama HF checkpoints): the base's q_proj/k_proj rows are permuted for ggml's rope; through
 *   LoraTorchTensor.reshape/permute that permutation lands on lora_B's rows, so it is applied here too
 *   (permute(weights, n_head, n_head_kv)). Qwen2 (conversion/qwen.py Qwen2Model) permutes nothing.
 * - Output type: `--outtype f16` puts every 2-D tensor in F16 (ModelBase.prepare_tensors; BF16 goes via
 *   F32 first). Here F32/BF16/F16/F64 in, F16 out (F32 on request), round to nearest even; a value beyond
 *   F16's range or non-finite fails the export naming the tensor, where numpy's astype would silently give
 *   ±Inf.
 * - Non-LoRA tensors: upstream skips `.base_layer.weight`, passes `_layernorm`/`.norm` vectors through
 *   (which llama.cpp's loader then ignores: "TODO: add support for norm vector"), and refuses anything else,
 *   notably a saved lm_head / embed_tokens (modules_to_save). This skips `.base_layer.weight` and refuses
 *   the rest, norms included: an export that silently drops trained weights would not behave like the
 *   adapter.
 * - Deliberate difference: upstream writes `lora_alpha` and ignores `alpha_pattern` and `use_rslora`, so
 *   such adapters come out with the wrong scale. One GGUF alpha cannot express them, so the per-module
 *   factor s_m / (alpha / r_m) (s_m = α_m / r_m, or α_m / √r_m with rslora) is folded into that module's
 *   lora_b, in F32 before the F16 cast.
 * - mlx-lm adapters (no upstream converter): `<module>.lora_a` [in, r] and `.lora_b` [r, out] are PEFT's lora_A
 *   and lora_B transposed (mlx_lm/tuner/lora.py LoRALinear: y = W·x + scale·(x·A)·B; LoRAEmbedding: A [V, r],
 *   B [r, H]), and the module paths are PEFT's without `base_model.model.`. Each is transposed into PEFT's layout
 *   on the way (an mlx embedding A already has the layout token_embd.weight.lora_a wants), then handled as above;
 *   the config's alpha is mlx's scale × rank (adapter-config.ts), so alpha / r is mlx's scale. DoRA (`.m`
 *   magnitude vectors) and full fine-tunes have no llama.cpp LoRA form and are refused.
 */
import type { LoraLayout } from '../../ingest/inspect/adapter-config.ts';
import { compileModulePatterns, findModulePattern } from '../../ingest/inspect/module-patterns.ts';
import { InspectionError, parseSafetensorsHeader, type RangeReader, readSafetensorsHeaderBytes } from '../../ingest/inspect/safetensors.ts';
import { type GgufMetadata, type GgufTensorSpec, ggufLayout } from './writer.ts';

/** Why an adapter cannot be exported. The message is for the user: it names tensors, never server paths. */
export class ExportError extends Error {
  override readonly name: string = 'ExportError';
}

/** llama.cpp architectures this service exports LoRA adapters for. */
export type LlamaCppArch = 'llama' | 'qwen2';

/** The adapter_config.json figures the export needs (AdapterConfig's fields, plus `use_rslora`). */
export interface GgufExportConfig {
  alpha: number | null;
  rank: number | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRslora: boolean;
  /** Whose config it is (absent: PEFT's): names the weights file in messages. */
  format?: LoraLayout;
  /** mlx `fine_tune_type` (absent or null: LoRA). */
  fineTuneType?: string | null;
}

/**
 * What the export needs to know of the base (from its BaseFacts): the attention heads, on which llama's Q/K row
 * permutation depends, and whether it ties its input and output embeddings.
 */
export interface BaseHeads {
  attentionHeads: number;
  kvHeads: number;
  /**
   * HF `tie_word_embeddings`. true: the base GGUF has no `output.weight`, so a LoRA on lm_head is refused (llama.cpp
   * would refuse to load it). Absent: unknown, and the export proceeds.
   */
  tieWordEmbeddings?: boolean;
}

/** A tensor of the safetensors file, with its data's absolute byte range in the file. */
interface SourceTensor {
  name: string;
  dtype: string;
  shape: readonly number[];
  begin: number;
  end: number;
}

/** How a source tensor's elements are arranged in the output. */
type TensorTransform =
  | { kind: 'copy' }
  /** Rows permuted within each of `heads` blocks, as conversion/llama.py LlamaModel.permute. */
  | { kind: 'permute-rows'; heads: number }
  /** [rows, cols] → [cols, rows] (token_embd.lora_a, mlx's A and B), then with `heads` the rows permuted as permute-rows does. */
  | { kind: 'transpose'; heads: number | null };

/** One output tensor: what the header says, where its data comes from and how it is converted. */
interface PlannedTensor extends GgufTensorSpec {
  source: SourceTensor;
  transform: TensorTransform;
  /** Multiplies every element (a lora_b's folded scale, see the file comment); 1 elsewhere. */
  factor: number;
}

export interface ExportOptions {
  /**
   * F16 (the default, `convert_lora_to_gguf.py --outtype f16`) or F32 (upstream's default outtype): llama.cpp
   * rounds activations to F16 for F16 weights, so only an F32 file matches a merged F32 model to 1e-5.
   */
  outType?: 'F16' | 'F32';
}

interface GgufPlan {
  metadata: GgufMetadata;
  tensors: PlannedTensor[];
}

/** gguf-py/gguf/constants.py GGML_QUANT_VERSION, which ModelBase.prepare_metadata writes. */
const GGML_QUANT_VERSION = 2;

/** The names this service gives the adapter weights in messages (never a storage key or path). */
const FILE_NAMES: Readonly<Record<LoraLayout, string>> = { peft: 'adapter_model.safetensors', mlx: 'adapters.safetensors' };

const LINEAR_LORA = /^(.+)\.lora_([AB])(?:\.([^.]+))?\.weight$/;
const EMBEDDING_LORA = /^(.+)\.lora_embedding_([AB])(?:\.([^.]+))?$/;
/** mlx-lm: linear layers and embeddings alike (adapter-config.ts MLX_LORA_TENSOR). */
const MLX_LORA = /^(.+)\.lora_([ab])$/;
const SAVED_PREFIX = 'base_model.model.';

/**
 * PEFT module path (without `base_model.model.`) → llama.cpp base tensor, gguf-py tensor_mapping.py:
 * MODEL_TENSOR.ATTN_Q/K/V/OUT, FFN_GATE/UP/DOWN ("model.layers.{bid}.self_attn.q_proj" … # llama-hf),
 * OUTPUT ("lm_head"), TOKEN_EMBD ("model.embed_tokens"); names from constants.py TENSOR_NAMES.
 */
function baseTensorName(modulePath: string): { gguf: string; module: string } | null {
  const layer = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj$/.exec(modulePath);
  if (layer) {
    const bid = Number(layer[1]);
    const attn: Record<string, string> = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output' };
    const mlp: Record<string, string> = { gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' };
    const target = layer[2] === 'self_attn' ? attn[layer[3]!] : mlp[layer[3]!];
    return target ? { gguf: `blk.${bid}.${target}.weight`, module: `${layer[3]}_proj` } : null;
  }
  if (modulePath === 'lm_head') return { gguf: 'output.weight', module: 'lm_head' };
  if (modulePath === 'model.embed_tokens') return { gguf: 'token_embd.weight', module: 'embed_tokens' };
  return null;
}

type ModuleParts = { path: string; layout: LoraLayout; embedding: boolean; A?: SourceTensor; B?: SourceTensor };

/**
 * Maps the adapter's tensors to the GGUF tensors and metadata llama.cpp expects. Throws ExportError naming
 * the tensor on anything that cannot be mapped.
 */
export function peftToGgufPlan(
  tensors: readonly SourceTensor[],
  config: GgufExportConfig,
  arch: LlamaCppArch,
  heads: BaseHeads,
  name: string,
  options: ExportOptions = {},
): GgufPlan {
  const type = options.outType ?? 'F16';
  const fileName = FILE_NAMES[config.format ?? 'peft'];
  if (config.fineTuneType === 'dora') {
    throw new ExportError(
      'this is a DoRA adapter (mlx fine_tune_type "dora"): its magnitude vectors have no llama.cpp LoRA form, so it cannot be exported to GGUF',
    );
  }
  if (config.fineTuneType === 'full') {
    throw new ExportError(`this is an mlx full fine-tune (fine_tune_type "full"): ${fileName} holds whole weights, not a LoRA adapter`);
  }
  const alpha = config.alpha;
  if (alpha === null || !Number.isFinite(alpha) || alpha <= 0) {
    // convert_lora_to_gguf.py reads lparams["lora_alpha"] unconditionally: without it there is no scale.
    throw new ExportError('adapter_config.json has no lora_alpha, so the adapter’s scale is unknown');
  }
  const alphaPatterns = compilePatterns(config.alphaPattern, 'alpha_pattern');
  const rankPatterns = compilePatterns(config.rankPattern, 'rank_pattern');

  // In file order (the header is sorted by offset), so modules keep the order they were saved in.
  const modules = new Map<string, ModuleParts>();
  const adapterNames = new Set<string | null>();
  for (const t of tensors) {
    const linear = LINEAR_LORA.exec(t.name);
    const embedding = linear ? null : EMBEDDING_LORA.exec(t.name);
    const mlx = linear || embedding ? null : MLX_LORA.exec(t.name);
    const m = linear ?? embedding ?? mlx;
    if (m === null) {
      if (t.name.endsWith('.base_layer.weight')) continue; // the frozen base weight; upstream skips it too
      throw new ExportError(nonLoraMessage(t.name));
    }
    const path = m[1]!.startsWith(SAVED_PREFIX) ? m[1]!.slice(SAVED_PREFIX.length) : m[1]!;
    const adapterName = m[3] === undefined || m[3] === 'weight' ? null : m[3];
    adapterNames.add(adapterName);
    const key = `${path}\u0000${adapterName ?? ''}`;
    const layout: LoraLayout = mlx ? 'mlx' : 'peft';
    // mlx names an embedding's pair like a linear layer's: the module it adapts tells them apart.
    const isEmbedding = mlx ? path === 'model.embed_tokens' : embedding !== null;
    const parts = modules.get(key) ?? { path, layout, embedding: isEmbedding };
    if (parts.layout !== layout) throw new ExportError(`${t.name}: ${path} mixes PEFT (lora_A/lora_B) and mlx (lora_a/lora_b) weights`);
    if (parts.embedding !== isEmbedding) throw new ExportError(`${t.name}: a module cannot hold both lora_A/B and lora_embedding_A/B`);
    const part = `lora_${m[2]}`;
    if (m[2] === 'A' || m[2] === 'a') {
      if (parts.A) throw new ExportError(`${t.name}: ${part} of ${path} appears twice`);
      parts.A = t;
    } else {
      if (parts.B) throw new ExportError(`${t.name}: ${part} of ${path} appears twice`);
      parts.B = t;
    }
    modules.set(key, parts);
  }
  if (modules.size === 0) throw new ExportError(`${fileName} holds no LoRA weights (no lora_A / lora_B tensors)`);
  if (adapterNames.size > 1) {
    throw new ExportError(
      `${fileName} holds weights of several adapters (${[...adapterNames].map((n) => n ?? '(unnamed)').join(', ')}); export one at a time`,
    );
  }

  const planned: PlannedTensor[] = [];
  const seen = new Set<string>();
  for (const parts of modules.values()) {
    const { path, A, B } = parts;
    const mlx = parts.layout === 'mlx';
    if (!A || !B) {
      const have = (A ?? B)!.name;
      const missing = mlx ? (A ? 'lora_b' : 'lora_a') : A ? 'lora_B' : 'lora_A';
      throw new ExportError(`${have}: its ${missing} counterpart is missing`);
    }
    const target = baseTensorName(path);
    if (target === null) {
      throw new ExportError(`${A.name}: module ${path} has no llama.cpp counterpart in the ${arch} architecture`);
    }
    if (target.module === 'lm_head' && heads.tieWordEmbeddings === true) {
      // src/llama-adapter.cpp: "LoRA tensor 'output.weight' does not exist in base model" (see runtimes.ts TIED_LM_HEAD).
      throw new ExportError(
        `${A.name}: this adapter has a LoRA on lm_head, but its base ties its input and output embeddings (tie_word_embeddings), ` +
          'so llama.cpp has no output.weight to apply it to and would refuse to load the GGUF; retrain without lm_head in ' +
          'target_modules, or use the adapter with PEFT',
      );
    }
    if (parts.embedding !== (target.module === 'embed_tokens')) {
      throw new ExportError(
        `${A.name}: ${parts.embedding ? 'embedding LoRA on a linear module' : 'linear LoRA on the embedding'} cannot be converted`,
      );
    }
    if (seen.has(target.gguf)) throw new ExportError(`${A.name}: a second adapter for ${target.gguf}`);
    seen.add(target.gguf);
    checkSource(A);
    checkSource(B);

    // PEFT: lora_A [r, in] / lora_B [out, r]; embeddings lora_embedding_A [r, V] / lora_embedding_B [H, r]. mlx: the transposes.
    const [rA, inDim] = (mlx ? [A.shape[1], A.shape[0]] : A.shape) as [number, number];
    const [outDim, rB] = (mlx ? [B.shape[1], B.shape[0]] : B.shape) as [number, number];
    if (rA !== rB) throw new ExportError(`${B.name}: lora_A and lora_B of ${path} disagree on the rank (${rA} vs ${rB})`);
    const rank = rA;
    if (rank === 0 || inDim === 0 || outDim === 0) throw new ExportError(`${A.name}: ${path} has an empty LoRA weight`);
    if (config.rank !== null) {
      const expected = findModulePattern(rankPatterns, path)?.value ?? config.rank;
      if (expected !== rank) throw new ExportError(`${A.name}: rank ${rank} but adapter_config.json says ${expected}`);
    }

    // llama.cpp scales by alpha / r; PEFT by α_m / r (or α_m / √r with use_rslora). Fold the ratio into B.
    const moduleAlpha = findModulePattern(alphaPatterns, path)?.value ?? alpha;
    const factor = (moduleAlpha / alpha) * (config.useRslora ? Math.sqrt(rank) : 1);

    // mlx's B is PEFT's transposed: transposed back, its Q/K rows then permuted like PEFT's.
    let transformB: TensorTransform = mlx ? { kind: 'transpose', heads: null } : { kind: 'copy' };
    if (arch === 'llama' && (target.module === 'q_proj' || target.module === 'k_proj')) {
      // LlamaModel.permute(weights, n_head, n_head_kv): q uses n_head, k uses n_head_kv when it differs.
      const n = target.module === 'q_proj' ? heads.attentionHeads : heads.kvHeads;
      if (!Number.isInteger(n) || n <= 0 || outDim % (2 * n) !== 0) {
        throw new ExportError(
          `${B.name}: ${outDim} output rows do not split into ${n} attention heads of even size; the adapter does not fit the base`,
        );
      }
      transformB = mlx ? { kind: 'transpose', heads: n } : { kind: 'permute-rows', heads: n };
    }

    // token_embd.lora_a wants Aᵀ of PEFT's embedding A, which is mlx's A as stored; a linear lora_a wants PEFT's A.
    planned.push({
      name: `${target.gguf}.lora_a`,
      dims: parts.embedding ? [rank, inDim] : [inDim, rank],
      type,
      source: A,
      transform: parts.embedding !== mlx ? { kind: 'transpose', heads: null } : { kind: 'copy' },
      factor: 1,
    });
    planned.push({ name: `${target.gguf}.lora_b`, dims: [rank, outDim], type, source: B, transform: transformB, factor });
  }

  const metadata: Record<string, GgufMetadata[string]> = {
    'general.architecture': { type: 'string', value: arch },
    'general.type': { type: 'string', value: 'adapter' },
    'adapter.type': { type: 'string', value: 'lora' },
  };
  // gguf_writer.add_string skips an empty value.
  if (name !== '') metadata['general.name'] = { type: 'string', value: name };
  metadata['adapter.lora.alpha'] = { type: 'f32', value: alpha };
  metadata['general.quantization_version'] = { type: 'u32', value: GGML_QUANT_VERSION };
  return { metadata, tensors: planned };
}

function compilePatterns(patterns: Record<string, number>, field: string) {
  try {
    return compileModulePatterns(patterns, field);
  } catch (error) {
    if (error instanceof InspectionError) throw new ExportError(error.message);
    throw error;
  }
}

function nonLoraMessage(tensor: string): string {
  const base = `${tensor} is not a LoRA weight (lora_A / lora_B): a llama.cpp LoRA adapter cannot carry it, and llama.cpp's convert_lora_to_gguf.py refuses it too`;
  if (tensor.includes('.lora_magnitude_vector')) return `${base}: DoRA adapters (use_dora) have no llama.cpp LoRA form`;
  // mlx_lm/tuner/dora.py DoRALinear / DoRAEmbedding: the magnitude `m` beside lora_a and lora_b.
  if (tensor.endsWith('.m')) {
    return `${base}: it is a DoRA magnitude vector (mlx fine_tune_type "dora"), and DoRA adapters have no llama.cpp LoRA form`;
  }
  if (/\.(embed_tokens|lm_head)(\.modules_to_save\.[^.]+)?\.weight$/.test(tensor)) {
    return `${base}. Full embeddings are saved when tokens were added during fine-tuning (modules_to_save); such an adapter needs the merged model instead`;
  }
  return base;
}

const SOURCE_DTYPES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function checkSource(t: SourceTensor): void {
  if (!Object.hasOwn(SOURCE_DTYPES, t.dtype))
    throw new ExportError(`${t.name}: dtype ${t.dtype} cannot be converted (F32, F16, BF16 or F64 expected)`);
  if (t.shape.length !== 2) throw new ExportError(`${t.name}: shape ${JSON.stringify(t.shape)} is not 2-D`);
}

// ---------------------------------------------------------------------------------------------------
// Streaming

/** Elements converted per chunk: ≤ 8 MiB read (F64), ≤ 4 MiB written (F32). */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * Reads the safetensors header through `read`, plans the GGUF, and returns its exact size and a stream of
 * its bytes: the header, then every tensor read, converted and emitted chunk by chunk. Throws ExportError
 * (before any byte) on a corrupt or truncated header or an adapter that cannot be mapped; the stream errors
 * with ExportError when a tensor's data is truncated or holds values F16 cannot carry.
 */
export async function exportGguf(
  read: RangeReader,
  size: number,
  config: GgufExportConfig,
  arch: LlamaCppArch,
  name: string,
  heads: BaseHeads,
  options: ExportOptions = {},
): Promise<{ size: number; stream: ReadableStream<Uint8Array> }> {
  const fileName = FILE_NAMES[config.format ?? 'peft'];
  const sources = await readSources(read, size, fileName);
  const plan = peftToGgufPlan(sources, config, arch, heads, name, options);
  const layout = ggufLayout(plan.metadata, plan.tensors);

  async function* bytes(): AsyncGenerator<Uint8Array> {
    yield layout.header;
    for (const [i, t] of plan.tensors.entries()) {
      let written = 0;
      for await (const chunk of convertTensor(read, t, fileName)) {
        written += chunk.length;
        yield chunk;
      }
      if (written !== layout.sizes[i]) throw new Error(`${t.name}: wrote ${written} bytes, planned ${layout.sizes[i]}`);
      const next = (layout.offsets[i + 1] ?? layout.totalBytes - layout.header.length) - layout.offsets[i]!;
      if (next > written) yield new Uint8Array(next - written);
    }
  }
  const iterator = bytes();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await iterator.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        await iterator.return(undefined);
      },
    },
    // Pull only when the consumer asks: at most one converted chunk exists at a time.
    { highWaterMark: 0 },
  );
  return { size: layout.totalBytes, stream };
}

/** The header's tensors with absolute byte ranges; InspectionError (corrupt, truncated) → ExportError. */
async function readSources(read: RangeReader, size: number, fileName: string): Promise<SourceTensor[]> {
  try {
    const { bytes, dataSize } = await readSafetensorsHeaderBytes(read, size, fileName);
    // Validated (dtype, shape, data_offsets within the data area, no overlaps); offsets made absolute.
    const info = parseSafetensorsHeader(bytes, dataSize, fileName);
    const dataStart = 8 + bytes.length;
    return info.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, begin: dataStart + t.begin, end: dataStart + t.end }));
  } catch (error) {
    if (error instanceof InspectionError) throw new ExportError(`the adapter weights cannot be read: ${error.message}`);
    throw error;
  }
}

async function readExactly(read: RangeReader, t: SourceTensor, offset: number, length: number, fileName: string): Promise<Uint8Array> {
  const bytes = await read(offset, length);
  if (bytes.byteLength < length) throw new ExportError(`${fileName} is truncated: ${t.name} ends past the end of the file`);
  return bytes.byteLength === length ? bytes : bytes.subarray(0, length);
}

/** Yields the tensor's bytes in output order and type, one bounded chunk at a time. */
async function* convertTensor(read: RangeReader, t: PlannedTensor, fileName: string): AsyncGenerator<Uint8Array> {
  const src = t.source;
  const width = SOURCE_DTYPES[src.dtype]!;
  const [rows, cols] = src.shape as [number, number];
  const values = async (offset: number, elements: number) => {
    const decoded = decodeF32(await readExactly(read, src, src.begin + offset * width, elements * width, fileName), src.dtype);
    if (t.factor !== 1) {
      // In F32, as upstream multiplies its F32 tensors, before the cast to the output type.
      const f = Math.fround(t.factor);
      for (let i = 0; i < decoded.length; i++) decoded[i] = decoded[i]! * f;
    }
    return decoded;
  };
  const encode = (v: Float32Array) => (t.type === 'F16' ? encodeF16(v, t) : encodeF32(v, t));

  if (t.transform.kind === 'copy') {
    const total = rows * cols;
    for (let at = 0; at < total; at += CHUNK_ELEMENTS) yield encode(await values(at, Math.min(CHUNK_ELEMENTS, total - at)));
    return;
  }

  if (t.transform.kind === 'permute-rows') {
    // reshape(n_head, 2, rows_per_head / 2, cols).swapaxes(1, 2): within a head, output row 2i + j is
    // input row j·(rows_per_head / 2) + i. Whole heads per chunk, so each chunk is one contiguous read.
    const perHead = rows / t.transform.heads;
    const half = perHead / 2;
    const headsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / (perHead * cols)));
    for (let h = 0; h < t.transform.heads; h += headsPerChunk) {
      const count = Math.min(headsPerChunk, t.transform.heads - h);
      const input = await values(h * perHead * cols, count * perHead * cols);
      const output = new Float32Array(input.length);
      for (let k = 0; k < count; k++) {
        const head = k * perHead * cols;
        for (let p = 0; p < perHead; p++) {
          const from = head + ((p & 1) * half + (p >> 1)) * cols;
          output.set(input.subarray(from, from + cols), head + p * cols);
        }
      }
      yield encode(output);
    }
    return;
  }

  // transpose: input [rows, cols] row-major → output [cols, rows]; a chunk is a range of input columns,
  // read as one slice per input row. With heads, output row p of a head comes from the head's column
  // (p & 1)·(per head / 2) + (p >> 1), as in permute-rows; chunks hold whole heads, so that column is in the chunk.
  const heads = t.transform.heads;
  const perHead = heads === null ? 1 : cols / heads;
  const colsPerChunk = Math.max(perHead, Math.floor(CHUNK_ELEMENTS / rows / perHead) * perHead);
  for (let c = 0; c < cols; c += colsPerChunk) {
    const n = Math.min(colsPerChunk, cols - c);
    const from = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const p = j % perHead;
      from[j] = heads === null ? j : j - p + (p & 1) * (perHead / 2) + (p >> 1);
    }
    const output = new Float32Array(n * rows);
    for (let r = 0; r < rows; r++) {
      const slice = await values(r * cols + c, n);
      for (let j = 0; j < n; j++) output[j * rows + r] = slice[from[j]!]!;
    }
    yield encode(output);
  }
}

// ---------------------------------------------------------------------------------------------------
// Number formats

// Typed arrays use the platform's byte order, while safetensors and GGUF are little-endian.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let f16Table: Float32Array | null = null;
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 31) table[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/** Little-endian F32/F16/BF16/F64 bytes → a fresh Float32Array. */
function decodeF32(bytes: Uint8Array, dtype: string): Float32Array {
  if (!LITTLE_ENDIAN) throw new Error('GGUF export needs a little-endian platform');
  // A fresh copy is aligned for any typed-array view, wherever `bytes` sat in its buffer.
  const own = bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(own.buffer);
    case 'F64':
      return Float32Array.from(new Float64Array(own.buffer));
    case 'BF16': {
      const halves = new Uint16Array(own.buffer);
      const bits = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F16': {
      const table = f16ToF32Table();
      const halves = new Uint16Array(own.buffer);
      const out = new Float32Array(halves.length);
      for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]!]!;
      return out;
    }
    default:
      throw new Error(`unsupported dtype ${dtype}`);
  }
}

/**
 * F32 bit pattern → F16 bit pattern, rounded to nearest, ties to even (subnormals included). Returns -1
 * for NaN, ±Inf and values that round beyond F16's largest finite value (65504).
 */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return -1;
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return -1;
  if (e <= 0) {
    // F16 subnormal (or zero): the value in units of 2^-24 is (1.mant) · 2^(e - 14 + 24 - 24).
    if (e < -10) return sign; // below half the smallest subnormal (2^-25)
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right
  if (h >= 0x7c00) return -1;
  return sign | h;
}

function nonFinite(t: PlannedTensor, v: number): ExportError {
  const folded = t.factor !== 1 ? ` (after folding the module's scale factor ${t.factor})` : '';
  return new ExportError(`${t.source.name} holds a non-finite value (${v})${folded}; the adapter's weights are broken`);
}

/** F32 values → F16 bytes; ExportError naming the tensor on a value F16 cannot hold. */
function encodeF16(values: Float32Array, t: PlannedTensor): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const h = f32BitsToF16Bits(bits[i]!);
    if (h < 0) {
      const v = values[i]!;
      if (!Number.isFinite(v)) throw nonFinite(t, v);
      const folded = t.factor !== 1 ? ` after folding the module's scale factor ${t.factor}` : '';
      throw new ExportError(`${t.source.name} holds ${v}${folded}, beyond the F16 range (±65504) of a llama.cpp LoRA GGUF`);
    }
    out[i] = h;
  }
  return new Uint8Array(out.buffer);
}

/** F32 values → their bytes, refusing NaN and ±Inf. */
function encodeF32(values: Float32Array, t: PlannedTensor): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) throw nonFinite(t, values[i]!);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
