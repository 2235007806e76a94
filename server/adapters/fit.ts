/**
 * Does an adapter fit its base model? Every LoRA tensor is checked against the shape of the base module it
 * adapts, computed from the base's config figures: an adapter trained for another base (a 4096-wide model
 * against a 2048-wide one, 28 layers against 24) loads nowhere, or worse, a server silently ignores it.
 */
import { type LoraTensorName, loraTensorName } from '../ingest/inspect/adapter-config.ts';
import type { BaseFacts, FitCheck, Mismatch } from './types.ts';

// PEFT tensor names (server/ingest/inspect/adapter-config.ts): `<module path>.lora_A.weight` [r, in],
// `.lora_B.weight` [out, r], and for embeddings `lora_embedding_A` [r, num_embeddings] / `lora_embedding_B`
// [embedding_dim, r]. mlx-lm's `<module path>.lora_a` / `.lora_b` are the transposes: [in, r] / [r, out].
const LAYER = /(?:^|\.)layers\.(\d+)(?:\.|$)/;

/** At most this many mismatches are kept (the count stays exact): the jsonb and the card stay small. */
const MAX_MISMATCHES = 50;

/** A base module as a linear map: lora_A is [r, in], lora_B is [out, r]. */
type Dims = { in: number; out: number };

/** Decoder layouts with separate q/k/v and gate/up projections (transformers' LlamaAttention / LlamaMLP shape). */
const LLAMA_LIKE = new Set(['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'gemma2']);

/** Module (leaf name) → dims for the architectures whose layout is known; null: the module is not part of it. */
function layerModuleDims(f: BaseFacts, leaf: string): Dims | null | undefined {
  const H = f.hiddenSize;
  const I = f.intermediateSize;
  const q = f.attentionHeads * f.headDim;
  const kv = f.kvHeads * f.headDim;
  if (LLAMA_LIKE.has(f.modelType)) {
    switch (leaf) {
      case 'q_proj':
        return { in: H, out: q };
      case 'k_proj':
      case 'v_proj':
        return { in: H, out: kv };
      case 'o_proj':
        return { in: q, out: H };
      case 'gate_proj':
      case 'up_proj':
        return { in: H, out: I };
      case 'down_proj':
        return { in: I, out: H };
      default:
        return null;
    }
  }
  if (f.modelType === 'phi3') {
    // Phi-3 fuses q, k and v into qkv_proj and gate and up into gate_up_proj (transformers' modeling_phi3).
    switch (leaf) {
      case 'qkv_proj':
        return { in: H, out: q + 2 * kv };
      case 'o_proj':
        return { in: q, out: H };
      case 'gate_up_proj':
        return { in: H, out: 2 * I };
      case 'down_proj':
        return { in: I, out: H };
      default:
        return null;
    }
  }
  // An architecture whose layout this table does not know (a config.json in the output may name any): its
  // projections are not shape-checked, but the layer index, lm_head and embed_tokens still are.
  return undefined;
}

function moduleDims(f: BaseFacts, leaf: string): Dims | null | undefined {
  // Every causal LM: lm_head maps hidden states to the vocabulary; embed_tokens is a [vocab, hidden] table,
  // adapted as lora_embedding_A [r, vocab] and lora_embedding_B [hidden, r].
  if (leaf === 'lm_head') return { in: f.hiddenSize, out: f.vocabSize };
  if (leaf === 'embed_tokens') return { in: f.vocabSize, out: f.hiddenSize };
  return layerModuleDims(f, leaf);
}

const shapeText = (dims: readonly (number | string)[]) => `[${dims.join(', ')}]`;

/** The one mismatch of a LoRA tensor, or null when it fits: an unknown module first, then the layer, then the shape. */
function checkTensor(f: BaseFacts, lora: LoraTensorName, shape: readonly number[]): Omit<Mismatch, 'tensor'> | null {
  const { modulePath, part: kind } = lora;
  const leaf = modulePath.slice(modulePath.lastIndexOf('.') + 1);
  const dims = moduleDims(f, leaf);
  if (dims === null) return { expected: `a module of ${f.modelType}`, got: leaf };

  const layer = LAYER.exec(modulePath);
  if (layer) {
    const n = Number(layer[1]);
    if (n >= f.layers) return { expected: `layer < ${f.layers}`, got: `layer ${n}` };
  }
  if (dims === undefined) return null;

  if (lora.layout === 'mlx') {
    const isA = lora.side === 'A';
    if (shape.length !== 2) return { expected: isA ? shapeText([dims.in, 'r']) : shapeText(['r', dims.out]), got: shapeText(shape) };
    const expected = isA ? [dims.in, shape[1]!] : [shape[0]!, dims.out];
    if (expected[0] !== shape[0] || expected[1] !== shape[1]) return { expected: shapeText(expected), got: shapeText(shape) };
    return null;
  }
  const isA = kind === 'lora_A' || kind === 'lora_embedding_A';
  if (shape.length !== 2) return { expected: isA ? shapeText(['r', dims.in]) : shapeText([dims.out, 'r']), got: shapeText(shape) };
  const expected = isA ? [shape[0]!, dims.in] : [dims.out, shape[1]!];
  if (expected[0] !== shape[0] || expected[1] !== shape[1]) return { expected: shapeText(expected), got: shapeText(shape) };
  return null;
}

/**
 * Checks each LoRA tensor against the base: lora_A [r, in], lora_B [out, r] (mlx: lora_a [in, r], lora_b [r, out]), the layer index below the
 * layer count, and the module one of the architecture's. Tensors that are not LoRA (a saved lm_head) are
 * ignored. No LoRA tensor at all is `unchecked`. Without facts the verdict is `unknown_base`: the tensors are counted, nothing is judged. At most
 * one mismatch per tensor, so `mismatchCount` is the number of tensors that differ.
 */
export function checkFit(baseName: string | null, facts: BaseFacts | null, tensors: readonly { name: string; shape: readonly number[] }[]): FitCheck {
  const mismatched: Mismatch[] = [];
  let mismatchCount = 0;
  let checked = 0;
  for (const t of tensors) {
    const lora = loraTensorName(t.name);
    if (lora === null) continue;
    checked++;
    if (facts === null) continue;
    const problem = checkTensor(facts, lora, t.shape);
    if (problem === null) continue;
    mismatchCount++;
    if (mismatched.length < MAX_MISMATCHES) mismatched.push({ tensor: t.name, ...problem });
  }
  // Nothing read is nothing judged: "fits" needs at least one tensor that fits.
  const verdict = checked === 0 ? 'unchecked' : facts === null ? 'unknown_base' : mismatchCount > 0 ? 'mismatch' : 'fits';
  return { base: { name: baseName, facts }, verdict, checked, mismatched, mismatchCount };
}
