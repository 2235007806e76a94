import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_MODELS, baseFromConfigJson, findBase, llamaCppArch } from '../../server/adapters/bases.ts';
import { checkFit } from '../../server/adapters/fit.ts';
import { runtimesFor } from '../../server/adapters/runtimes.ts';
import type { BaseFacts, FitCheck } from '../../server/adapters/types.ts';
import { parseAdapterConfig } from '../../server/ingest/inspect/adapter-config.ts';
import { analyseOutput } from '../../server/ingest/inspect/analyse.ts';
import { fileRangeReader, readSafetensorsHeader, readSafetensorsHeaderBytes } from '../../server/ingest/inspect/safetensors.ts';
import { type LoraOutputOptions, writeLoraOutput } from '../fixtures/lora.ts';
import { buildTinyModel, tinyConfigJson, writeTinyLlamaOutput, writeTinyMlxOutput } from '../helpers/tiny-llama.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'adapter-fit-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Tensor = { name: string; shape: number[] };

/** The module shapes [in, out] of an adapter, written out by hand for each architecture (not computed by fit.ts). */
type Layout = Record<string, { parent: string; in: number; out: number }>;

/** PEFT's names and shapes: lora_A [r, in], lora_B [out, r], for `layers` layers. */
function adapter(layout: Layout, layers: number, r: number, suffix = 'weight'): Tensor[] {
  const tensors: Tensor[] = [];
  for (let i = 0; i < layers; i++) {
    for (const [module, { parent, in: inDim, out }] of Object.entries(layout)) {
      const path = `base_model.model.model.layers.${i}.${parent}.${module}`;
      tensors.push({ name: `${path}.lora_A.${suffix}`, shape: [r, inDim] });
      tensors.push({ name: `${path}.lora_B.${suffix}`, shape: [out, r] });
    }
  }
  return tensors;
}

/** mlx-lm's names and shapes: `model.layers.N.<parent>.<module>.lora_a` [in, r], `.lora_b` [r, out]. */
function mlxAdapter(layout: Layout, layers: number, r: number): Tensor[] {
  const tensors: Tensor[] = [];
  for (let i = 0; i < layers; i++) {
    for (const [module, { parent, in: inDim, out }] of Object.entries(layout)) {
      const path = `model.layers.${i}.${parent}.${module}`;
      tensors.push({ name: `${path}.lora_a`, shape: [inDim, r] });
      tensors.push({ name: `${path}.lora_b`, shape: [r, out] });
    }
  }
  return tensors;
}

// Llama-3.2-1B: hidden 2048, 32 heads × 64, 8 KV heads × 64 = 512, intermediate 8192.
const LLAMA_1B: Layout = {
  q_proj: { parent: 'self_attn', in: 2048, out: 2048 },
  k_proj: { parent: 'self_attn', in: 2048, out: 512 },
  v_proj: { parent: 'self_attn', in: 2048, out: 512 },
  o_proj: { parent: 'self_attn', in: 2048, out: 2048 },
  gate_proj: { parent: 'mlp', in: 2048, out: 8192 },
  up_proj: { parent: 'mlp', in: 2048, out: 8192 },
  down_proj: { parent: 'mlp', in: 8192, out: 2048 },
};
// Qwen2.5-0.5B: hidden 896, 14 heads × 64, 2 KV heads × 64 = 128.
const QWEN_05B_QV: Layout = {
  q_proj: { parent: 'self_attn', in: 896, out: 896 },
  v_proj: { parent: 'self_attn', in: 896, out: 128 },
};
// Phi-3-mini: hidden 3072, 32 heads × 96 (no GQA): qkv_proj 3 × 3072 out, gate_up_proj 2 × 8192 out.
const PHI3_MINI: Layout = {
  qkv_proj: { parent: 'self_attn', in: 3072, out: 9216 },
  o_proj: { parent: 'self_attn', in: 3072, out: 3072 },
  gate_up_proj: { parent: 'mlp', in: 3072, out: 16384 },
  down_proj: { parent: 'mlp', in: 8192, out: 3072 },
};

const base = (id: string): BaseFacts => {
  const facts = findBase(id);
  if (facts === null) throw new Error(`${id} is not in the table`);
  return facts;
};

describe('BASE_MODELS', () => {
  test('holds the published figures of the issue list', () => {
    // [hidden, intermediate, layers, heads, kv heads, head_dim, vocab, tie_word_embeddings]
    const expected: Record<string, [string, number, number, number, number, number, number, number, boolean]> = {
      'meta-llama/Llama-2-7b-hf': ['llama', 4096, 11008, 32, 32, 32, 128, 32000, false],
      'meta-llama/Llama-2-13b-hf': ['llama', 5120, 13824, 40, 40, 40, 128, 32000, false],
      'meta-llama/Meta-Llama-3-8B': ['llama', 4096, 14336, 32, 32, 8, 128, 128256, false],
      'meta-llama/Llama-3.1-8B': ['llama', 4096, 14336, 32, 32, 8, 128, 128256, false],
      'meta-llama/Llama-3.2-1B': ['llama', 2048, 8192, 16, 32, 8, 64, 128256, true],
      'meta-llama/Llama-3.2-3B': ['llama', 3072, 8192, 28, 24, 8, 128, 128256, true],
      'mistralai/Mistral-7B-v0.1': ['mistral', 4096, 14336, 32, 32, 8, 128, 32000, false],
      'mistralai/Mistral-7B-v0.3': ['mistral', 4096, 14336, 32, 32, 8, 128, 32768, false],
      'Qwen/Qwen2.5-0.5B': ['qwen2', 896, 4864, 24, 14, 2, 64, 151936, true],
      'Qwen/Qwen2.5-1.5B': ['qwen2', 1536, 8960, 28, 12, 2, 128, 151936, true],
      'Qwen/Qwen2.5-7B': ['qwen2', 3584, 18944, 28, 28, 4, 128, 152064, false],
      'TinyLlama/TinyLlama-1.1B-Chat-v1.0': ['llama', 2048, 5632, 22, 32, 4, 64, 32000, false],
      'google/gemma-2-2b': ['gemma2', 2304, 9216, 26, 8, 4, 256, 256000, true],
      'microsoft/Phi-3-mini-4k-instruct': ['phi3', 3072, 8192, 32, 32, 32, 96, 32064, false],
    };
    expect(BASE_MODELS.map((b) => b.name).sort()).toEqual(Object.keys(expected).sort());
    for (const [
      id,
      [modelType, hiddenSize, intermediateSize, layers, attentionHeads, kvHeads, headDim, vocabSize, tieWordEmbeddings],
    ] of Object.entries(expected)) {
      expect({ id, ...base(id) }).toEqual({
        id,
        name: id,
        modelType,
        hiddenSize,
        intermediateSize,
        layers,
        attentionHeads,
        kvHeads,
        headDim,
        vocabSize,
        tieWordEmbeddings,
        source: `https://huggingface.co/${id}/blob/main/config.json`,
      });
    }
  });

  test('every entry is self-consistent and each alias resolves to its own entry', () => {
    for (const entry of BASE_MODELS) {
      for (const n of [entry.hiddenSize, entry.intermediateSize, entry.layers, entry.attentionHeads, entry.kvHeads, entry.headDim, entry.vocabSize]) {
        expect(Number.isSafeInteger(n) && n > 0).toBe(true);
      }
      // Optional in the type (facts stored before it existed), never unknown for a table entry.
      expect({ name: entry.name, tie: typeof entry.tieWordEmbeddings }).toEqual({ name: entry.name, tie: 'boolean' });
      expect(entry.attentionHeads % entry.kvHeads).toBe(0);
      // Only Gemma 2 states a head_dim that is not hidden / heads (256, against 2304 / 8 = 288).
      if (entry.modelType !== 'gemma2') expect(entry.headDim * entry.attentionHeads).toBe(entry.hiddenSize);
      for (const alias of entry.aliases) expect({ alias, resolved: findBase(alias)?.name }).toEqual({ alias, resolved: entry.name });
    }
  });
});

describe('findBase', () => {
  test('matches the id or an alias, case-insensitively', () => {
    expect(findBase('META-LLAMA/llama-3.2-1b')?.name).toBe('meta-llama/Llama-3.2-1B');
    expect(findBase('meta-llama/Meta-Llama-3-8B-Instruct')?.name).toBe('meta-llama/Meta-Llama-3-8B');
    expect(findBase('  Qwen/Qwen2.5-7B-Instruct ')?.name).toBe('Qwen/Qwen2.5-7B');
    expect(findBase('mistralai/Mistral-7B-Instruct-v0.3')?.name).toBe('mistralai/Mistral-7B-v0.3');
    expect(findBase('mistralai/Mistral-7B-Instruct-v0.2')?.name).toBe('mistralai/Mistral-7B-v0.1');
  });

  test('strips quantised re-upload suffixes', () => {
    expect(findBase('unsloth/llama-3-8b-bnb-4bit')?.name).toBe('meta-llama/Meta-Llama-3-8B');
    expect(findBase('unsloth/Llama-3.2-1B-Instruct-unsloth-bnb-4bit')?.name).toBe('meta-llama/Llama-3.2-1B');
    expect(findBase('unsloth/mistral-7b-v0.3-bnb-4bit')?.name).toBe('mistralai/Mistral-7B-v0.3');
    expect(findBase('Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4')?.name).toBe('Qwen/Qwen2.5-7B');
    expect(findBase('unsloth/gemma-2-2b-it-bnb-4bit')?.name).toBe('google/gemma-2-2b');
    // mlx conversions, as an mlx-lm adapter_config.json names its `model`.
    expect(findBase('mlx-community/Llama-3.2-1B-Instruct-4bit')?.name).toBe('meta-llama/Llama-3.2-1B');
    expect(findBase('mlx-community/Qwen2.5-0.5B-Instruct-6bit')?.name).toBe('Qwen/Qwen2.5-0.5B');
    expect(findBase('mlx-community/Qwen2.5-7B-Instruct-4bit-DWQ')?.name).toBe('Qwen/Qwen2.5-7B');
    expect(findBase('lmstudio-community/Qwen2.5-7B-Instruct-MLX-4bit')?.name).toBe('Qwen/Qwen2.5-7B');
    expect(findBase('/Users/me/mlx_models/Llama-3.2-1B-Instruct-bf16')?.name).toBe('meta-llama/Llama-3.2-1B');
  });

  test('matches the last segment of a local path', () => {
    expect(findBase('/models/Llama-3.2-1B')?.name).toBe('meta-llama/Llama-3.2-1B');
    expect(findBase('/models/Llama-3.2-1B/')?.name).toBe('meta-llama/Llama-3.2-1B');
    expect(findBase('C:\\models\\Qwen2.5-0.5B-Instruct')?.name).toBe('Qwen/Qwen2.5-0.5B');
    expect(findBase('/root/.cache/huggingface/hub/models--Qwen--Qwen2.5-1.5B/snapshots/8faed761d45a2631')?.name).toBe('Qwen/Qwen2.5-1.5B');
  });

  test('returns null for nothing, or a name not in the table', () => {
    for (const name of [null, '', '   ', 'org/unknown-7b', 'Llama-3.2', 'meta-llama/Llama-3.2-1B-extra', 'Qwen/Qwen2.5-3B', '/']) {
      expect({ name, facts: findBase(name) }).toEqual({ name, facts: null });
    }
  });

  test('returns a copy without aliases', () => {
    const facts = base('google/gemma-2-2b') as BaseFacts & { aliases?: unknown };
    expect(facts.aliases).toBeUndefined();
    facts.hiddenSize = 1;
    expect(base('google/gemma-2-2b').hiddenSize).toBe(2304);
  });
});

describe('checkFit', () => {
  test('an all-linear adapter for Llama-3.2-1B, with lm_head and embed_tokens, fits', () => {
    const tensors = [
      ...adapter(LLAMA_1B, 16, 16),
      { name: 'base_model.model.lm_head.lora_A.weight', shape: [16, 2048] },
      { name: 'base_model.model.lm_head.lora_B.weight', shape: [128256, 16] },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_A', shape: [16, 128256] },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_B', shape: [2048, 16] },
    ];
    const fit = checkFit('meta-llama/Llama-3.2-1B', base('meta-llama/Llama-3.2-1B'), tensors);
    expect(fit).toEqual({
      base: { name: 'meta-llama/Llama-3.2-1B', facts: base('meta-llama/Llama-3.2-1B') },
      verdict: 'fits',
      checked: 16 * 7 * 2 + 4,
      mismatched: [],
      mismatchCount: 0,
    });
  });

  test('an adapter trained on a 4096-wide model does not fit Llama-3.2-1B (wrong hidden size)', () => {
    // Made for hidden 4096 (32 heads × 128, 8 KV heads × 128 = 1024), the Llama 3 8B shapes, on 16 layers.
    const wide: Layout = { q_proj: { parent: 'self_attn', in: 4096, out: 4096 }, v_proj: { parent: 'self_attn', in: 4096, out: 1024 } };
    const fit = checkFit('meta-llama/Llama-3.2-1B', base('meta-llama/Llama-3.2-1B'), adapter(wide, 16, 16));
    expect(fit.verdict).toBe('mismatch');
    expect(fit.checked).toBe(64);
    expect(fit.mismatchCount).toBe(64);
    expect(fit.mismatched).toHaveLength(50); // capped; the count stays exact
    expect(fit.mismatched.slice(0, 4)).toEqual([
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', expected: '[16, 2048]', got: '[16, 4096]' },
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', expected: '[2048, 16]', got: '[4096, 16]' },
      { tensor: 'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight', expected: '[16, 2048]', got: '[16, 4096]' },
      { tensor: 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight', expected: '[512, 16]', got: '[1024, 16]' },
    ]);
  });

  test('an adapter with 28 layers does not fit Qwen2.5-0.5B (24 layers): the layers past the end are named', () => {
    const fit = checkFit('Qwen/Qwen2.5-0.5B', base('Qwen/Qwen2.5-0.5B'), adapter(QWEN_05B_QV, 28, 8));
    expect(fit.verdict).toBe('mismatch');
    expect(fit.checked).toBe(28 * 2 * 2);
    expect(fit.mismatchCount).toBe(4 * 2 * 2);
    expect(fit.mismatched[0]).toEqual({
      tensor: 'base_model.model.model.layers.24.self_attn.q_proj.lora_A.weight',
      expected: 'layer < 24',
      got: 'layer 24',
    });
    expect(fit.mismatched.map((m) => m.got)).toEqual(['layer 24', 'layer 25', 'layer 26', 'layer 27'].flatMap((l) => [l, l, l, l]));
    // The same adapter cut to 24 layers fits.
    expect(checkFit('Qwen/Qwen2.5-0.5B', base('Qwen/Qwen2.5-0.5B'), adapter(QWEN_05B_QV, 24, 8)).verdict).toBe('fits');
  });

  test("Phi-3-mini's fused qkv_proj and gate_up_proj fit; a separate q_proj is not a phi3 module", () => {
    const phi3 = base('microsoft/Phi-3-mini-4k-instruct');
    // The adapter-name segment of an in-memory state dict (lora_A.default.weight) is accepted.
    expect(checkFit(phi3.name, phi3, adapter(PHI3_MINI, 32, 8, 'default.weight'))).toMatchObject({ verdict: 'fits', checked: 32 * 4 * 2 });

    const llamaStyle = adapter({ q_proj: { parent: 'self_attn', in: 3072, out: 3072 } }, 1, 8);
    const fit = checkFit(phi3.name, phi3, llamaStyle);
    expect(fit.verdict).toBe('mismatch');
    expect(fit.mismatched).toEqual([
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', expected: 'a module of phi3', got: 'q_proj' },
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', expected: 'a module of phi3', got: 'q_proj' },
    ]);
  });

  test("Gemma 2's q_proj maps to heads × head_dim (2048), not to the hidden size (2304)", () => {
    const gemma = base('google/gemma-2-2b');
    const right = adapter({ q_proj: { parent: 'self_attn', in: 2304, out: 2048 }, o_proj: { parent: 'self_attn', in: 2048, out: 2304 } }, 26, 8);
    expect(checkFit(gemma.name, gemma, right).verdict).toBe('fits');
    const wrong = adapter({ q_proj: { parent: 'self_attn', in: 2304, out: 2304 } }, 1, 8);
    expect(checkFit(gemma.name, gemma, wrong).mismatched).toEqual([
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', expected: '[2048, 8]', got: '[2304, 8]' },
    ]);
  });

  test('embeddings: lora_embedding_A is [r, vocab] and lora_embedding_B [hidden, r]', () => {
    const qwen = base('Qwen/Qwen2.5-0.5B');
    const swapped = [
      { name: 'base_model.model.model.embed_tokens.lora_embedding_A', shape: [8, 896] },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_B', shape: [151936, 8] },
    ];
    expect(checkFit(qwen.name, qwen, swapped).mismatched).toEqual([
      { tensor: 'base_model.model.model.embed_tokens.lora_embedding_A', expected: '[8, 151936]', got: '[8, 896]' },
      { tensor: 'base_model.model.model.embed_tokens.lora_embedding_B', expected: '[896, 8]', got: '[151936, 8]' },
    ]);
  });

  test('a tensor that is not 2-D is a mismatch; tensors that are not LoRA are ignored', () => {
    const llama = base('meta-llama/Llama-3.2-1B');
    const fit = checkFit(llama.name, llama, [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [16, 2048, 1] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [2048, 16] },
      // A saved lm_head (modules_to_save) of the wrong size is not a LoRA tensor: not checked.
      { name: 'base_model.model.lm_head.weight', shape: [5, 5] },
    ]);
    expect(fit).toMatchObject({ verdict: 'mismatch', checked: 2, mismatchCount: 1 });
    expect(fit.mismatched).toEqual([
      { tensor: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', expected: '[r, 2048]', got: '[16, 2048, 1]' },
    ]);
  });

  test('without base facts the verdict is unknown_base: tensors counted, nothing judged', () => {
    const tensors = [...adapter(LLAMA_1B, 2, 8), { name: 'base_model.model.lm_head.weight', shape: [10, 10] }];
    expect(checkFit('someone/custom-7b', null, tensors)).toEqual({
      base: { name: 'someone/custom-7b', facts: null },
      verdict: 'unknown_base',
      checked: 2 * 7 * 2,
      mismatched: [],
      mismatchCount: 0,
    });
  });

  test('no LoRA tensor at all is unchecked, never "fits" (an output with only a pickled adapter_model.bin)', () => {
    expect(checkFit(null, null, []).verdict).toBe('unchecked');
    const qwen = findBase('Qwen/Qwen2.5-0.5B');
    expect(checkFit('Qwen/Qwen2.5-0.5B', qwen, [{ name: 'base_model.model.lm_head.weight', shape: [151936, 896] }])).toMatchObject({
      verdict: 'unchecked',
      checked: 0,
    });
  });

  test('an architecture of unknown layout (from a config.json) still gets the layer, lm_head and embedding checks', () => {
    const facts = baseFromConfigJson(
      JSON.stringify({ model_type: 'olmo2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 300 }),
    )!;
    const tensors = [
      ...adapter({ att_proj: { parent: 'self_attn', in: 64, out: 999 } }, 3, 4),
      { name: 'base_model.model.lm_head.lora_B.weight', shape: [301, 4] },
    ];
    const fit = checkFit(facts.name, facts, tensors);
    expect(fit.mismatched.map((m) => [m.expected, m.got])).toEqual([
      ['layer < 2', 'layer 2'],
      ['layer < 2', 'layer 2'],
      ['[300, 4]', '[301, 4]'],
    ]);
  });

  test('the fixture adapter (tests/fixtures/lora.ts, Qwen/Qwen2.5-0.5B) fits its base', async () => {
    const cases: [string, LoraOutputOptions][] = [
      ['defaults', {}],
      ['all-linear', { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }],
    ];
    for (const [name, options] of cases) {
      const out = join(dir, name);
      await writeLoraOutput(out, options);
      const config = parseAdapterConfig(await Bun.file(join(out, 'adapter_config.json')).text());
      const path = join(out, 'adapter_model.safetensors');
      const info = await readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'adapter_model.safetensors');
      const fit = checkFit(config.baseModel, findBase(config.baseModel), info.tensors);
      expect({ name, verdict: fit.verdict, mismatched: fit.mismatched }).toEqual({ name, verdict: 'fits', mismatched: [] });
      expect(fit.checked).toBe(24 * (config.targetModules.length * 2));
      expect(fit.base.facts?.name).toBe('Qwen/Qwen2.5-0.5B');
    }
  });
});

describe('baseFromConfigJson', () => {
  const llama32 = {
    _name_or_path: 'meta-llama/Llama-3.2-1B-Instruct',
    architectures: ['LlamaForCausalLM'],
    head_dim: 64,
    hidden_size: 2048,
    intermediate_size: 8192,
    model_type: 'llama',
    num_attention_heads: 32,
    num_hidden_layers: 16,
    num_key_value_heads: 8,
    rope_scaling: { factor: 32.0, rope_type: 'llama3' },
    tie_word_embeddings: true,
    vocab_size: 128256,
  };

  test("reads a base's config.json into the same figures as the table", () => {
    const facts = baseFromConfigJson(JSON.stringify(llama32));
    expect(facts).toEqual({ ...base('meta-llama/Llama-3.2-1B'), name: 'meta-llama/Llama-3.2-1B-Instruct', source: 'config.json in the output' });
  });

  test('defaults num_key_value_heads to the heads and head_dim to hidden / heads', () => {
    const { head_dim: _h, num_key_value_heads: _k, ...bare } = llama32;
    expect(baseFromConfigJson(JSON.stringify(bare))).toMatchObject({ kvHeads: 32, headDim: 64 });
    expect(baseFromConfigJson(JSON.stringify({ ...llama32, head_dim: null }))).toMatchObject({ headDim: 64 });
  });

  test('reads tie_word_embeddings when it is a boolean; otherwise leaves it unknown (no key)', () => {
    expect(baseFromConfigJson(JSON.stringify(llama32))?.tieWordEmbeddings).toBe(true);
    expect(baseFromConfigJson(JSON.stringify({ ...llama32, tie_word_embeddings: false }))?.tieWordEmbeddings).toBe(false);
    // Absent: transformers' default depends on the model class (LlamaConfig false, Gemma2Config true), so it is not guessed.
    const { tie_word_embeddings: _t, ...untold } = llama32;
    for (const config of [
      untold,
      { ...llama32, tie_word_embeddings: 'true' },
      { ...llama32, tie_word_embeddings: null },
      { ...llama32, tie_word_embeddings: 1 },
    ]) {
      const facts = baseFromConfigJson(JSON.stringify(config));
      expect(facts).not.toBeNull();
      expect(Object.hasOwn(facts!, 'tieWordEmbeddings')).toBe(false);
    }
  });

  test('names a config without _name_or_path', () => {
    const { _name_or_path: _n, ...unnamed } = llama32;
    expect(baseFromConfigJson(JSON.stringify(unnamed))?.name).toBe('base from config.json');
  });

  test('returns null, without throwing, for anything that is not a usable decoder config', () => {
    const cases: string[] = [
      'not json',
      '',
      'null',
      '[]',
      '"llama"',
      JSON.stringify({ model_type: 'llama' }),
      JSON.stringify({ ...llama32, model_type: '' }),
      JSON.stringify({ ...llama32, model_type: 7 }),
      JSON.stringify({ ...llama32, hidden_size: '2048' }),
      JSON.stringify({ ...llama32, hidden_size: 2048.5 }),
      JSON.stringify({ ...llama32, num_hidden_layers: 0 }),
      JSON.stringify({ ...llama32, vocab_size: -1 }),
      JSON.stringify({ ...llama32, intermediate_size: undefined }),
      JSON.stringify({ ...llama32, num_key_value_heads: 0 }),
      JSON.stringify({ ...llama32, head_dim: 'auto' }),
      // No head_dim and a hidden size the heads do not divide: no integer head dimension.
      JSON.stringify({ ...llama32, head_dim: undefined, hidden_size: 2050 }),
      JSON.stringify({ ...llama32, hidden_size: 2 ** 60 }),
    ];
    for (const text of cases) expect({ text, facts: baseFromConfigJson(text) }).toEqual({ text, facts: null });
  });
});

test('llamaCppArch maps llama and mistral to llama, qwen2 to qwen2, and nothing else', () => {
  expect(['llama', 'mistral', 'qwen2', 'gemma2', 'phi3', 'qwen3', ''].map(llamaCppArch)).toEqual(['llama', 'llama', 'qwen2', null, null, null, null]);
});

describe('runtimesFor', () => {
  const fitsFor = (id: string): FitCheck => ({ base: { name: id, facts: base(id) }, verdict: 'fits', checked: 2, mismatched: [], mismatchCount: 0 });
  const byName = (fits: ReturnType<typeof runtimesFor>) => Object.fromEntries(fits.map((f) => [f.name, f]));

  test('a rank-8 attention adapter that fits Llama-3.2-1B runs everywhere, in the documented order', () => {
    const fits = runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 8, targetModules: ['q_proj', 'v_proj'] });
    expect(fits.map((f) => [f.name, f.ok])).toEqual([
      ['PEFT', true],
      ['vLLM', true],
      ['llama.cpp', true],
      ['Ollama', true],
      ['Fireworks', true],
    ]);
    expect(byName(fits).vLLM!.reason).toBe("rank 8 ≤ vLLM's default max_lora_rank 16");
    expect(byName(fits)['llama.cpp']!.reason).toContain('GGUF export available (llama.cpp architecture llama)');
  });

  test("rank 64 exceeds vLLM's default and names the flag; Fireworks takes up to 64", () => {
    const fits = byName(runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 64, targetModules: ['q_proj', 'v_proj'] }));
    expect(fits.vLLM).toEqual({ name: 'vLLM', ok: false, reason: "rank 64 > vLLM's default max_lora_rank 16: start vLLM with --max-lora-rank 64" });
    expect(fits.Fireworks!.ok).toBe(true);
  });

  test('rank 128 is refused by Fireworks too; vLLM is told a value it accepts', () => {
    const at = (maxRank: number) => byName(runtimesFor({ fit: fitsFor('Qwen/Qwen2.5-7B'), maxRank, targetModules: ['q_proj'] }));
    expect(at(128).vLLM!.reason).toBe("rank 128 > vLLM's default max_lora_rank 16: start vLLM with --max-lora-rank 128");
    expect(at(128).Fireworks).toEqual({ name: 'Fireworks', ok: false, reason: "rank 128 is outside Fireworks' r 4–64" });
    // vLLM accepts only 1, 8, 16, 32, 64, 128, 256, 320, 512 as --max-lora-rank.
    expect(at(48).vLLM!.reason).toEndWith('--max-lora-rank 64');
    expect(at(300).vLLM!.reason).toEndWith('--max-lora-rank 320');
    expect(at(1024).vLLM).toEqual({ name: 'vLLM', ok: false, reason: 'rank 1024 > 512, the largest --max-lora-rank vLLM accepts' });
    expect(at(2).Fireworks!.ok).toBe(false);
    expect(at(4).Fireworks!.ok).toBe(true);
  });

  test('a mismatch fails every runtime, saying how many tensors differ', () => {
    const llama = base('meta-llama/Llama-3.2-1B');
    const fit = checkFit('meta-llama/Llama-3.2-1B', llama, adapter(QWEN_05B_QV, 2, 8));
    const fits = runtimesFor({ fit, maxRank: 8, targetModules: ['q_proj', 'v_proj'] });
    expect(fits).toEqual(
      ['PEFT', 'vLLM', 'llama.cpp', 'Ollama', 'Fireworks'].map((name) => ({
        name,
        ok: false,
        reason: 'does not fit meta-llama/Llama-3.2-1B: 8 tensors differ',
      })),
    );
    const one = checkFit(llama.name, llama, [{ name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [8, 7] }]);
    expect(runtimesFor({ fit: one, maxRank: 8, targetModules: ['q_proj'] })[0]!.reason).toBe(
      'does not fit meta-llama/Llama-3.2-1B: 1 tensor differs',
    );
  });

  test('an unknown base fails only the runtimes that need its architecture', () => {
    const fit = checkFit('someone/custom-7b', null, adapter(LLAMA_1B, 1, 8));
    const fits = byName(runtimesFor({ fit, maxRank: 8, targetModules: ['q_proj', 'v_proj'] }));
    expect(fits.PEFT!.ok).toBe(true);
    expect(fits.vLLM!.ok).toBe(true);
    expect(fits.Fireworks!.ok).toBe(true);
    for (const name of ['llama.cpp', 'Ollama']) {
      expect(fits[name]!.ok).toBe(false);
      expect(fits[name]!.reason).toStartWith('base model unknown (someone/custom-7b)');
    }
  });

  test('architectures: qwen2 goes to Ollama through the GGUF export; phi3 is converted by hand; gemma2 imports as Safetensors', () => {
    const qwen = byName(runtimesFor({ fit: fitsFor('Qwen/Qwen2.5-0.5B'), maxRank: 8, targetModules: ['q_proj'] }));
    expect(qwen['llama.cpp']).toMatchObject({ ok: true, reason: expect.stringContaining('llama.cpp architecture qwen2') });
    expect(qwen.Ollama).toMatchObject({ ok: true, reason: expect.stringContaining('use the GGUF export') });

    const phi = byName(
      runtimesFor({ fit: fitsFor('microsoft/Phi-3-mini-4k-instruct'), maxRank: 8, targetModules: ['qkv_proj', 'o_proj', 'gate_up_proj'] }),
    );
    expect(phi['llama.cpp']).toMatchObject({ ok: true, reason: expect.stringContaining('convert_lora_to_gguf.py converts phi3 adapters') });
    expect(phi.Ollama).toMatchObject({ ok: false, reason: expect.stringContaining('no GGUF export for phi3') });
    expect(phi.Fireworks).toEqual({ name: 'Fireworks', ok: false, reason: 'Fireworks does not take target modules qkv_proj, gate_up_proj' });

    const gemma = byName(runtimesFor({ fit: fitsFor('google/gemma-2-2b'), maxRank: 8, targetModules: ['q_proj'] }));
    expect(gemma.Ollama).toEqual({ name: 'Ollama', ok: true, reason: 'imports this Safetensors adapter (Modelfile FROM <base> + ADAPTER <folder>)' });
  });

  test('a LoRA on lm_head over a base with tied embeddings fails llama.cpp and Ollama, saying why', () => {
    const withHead = ['q_proj', 'v_proj', 'lm_head'];
    for (const id of ['meta-llama/Llama-3.2-1B', 'Qwen/Qwen2.5-0.5B', 'google/gemma-2-2b']) {
      const fits = byName(runtimesFor({ fit: fitsFor(id), maxRank: 8, targetModules: withHead }));
      expect({ id, llamaCpp: fits['llama.cpp']!.ok, ollama: fits.Ollama!.ok, peft: fits.PEFT!.ok, vllm: fits.vLLM!.ok }).toEqual({
        id,
        llamaCpp: false,
        ollama: false,
        peft: true,
        vllm: true,
      });
      const reason = fits['llama.cpp']!.reason;
      for (const part of [
        'lm_head',
        'tie_word_embeddings',
        'output.weight',
        'does not exist in base model',
        'src/llama-adapter.cpp',
        'retrain without lm_head',
      ]) {
        expect(reason).toContain(part);
      }
      expect(fits.Ollama!.reason).toStartWith('Ollama runs adapters through llama.cpp: ');
      expect(fits.Ollama!.reason).toContain('tie_word_embeddings');
    }
    // A dotted module path names lm_head too (PEFT matches the name's suffix).
    const dotted = byName(
      runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 8, targetModules: ['q_proj', 'base_model.model.lm_head'] }),
    );
    expect(dotted['llama.cpp']!.ok).toBe(false);
  });

  test('lm_head is fine on an untied base, and a tied base is fine without lm_head; unknown tying warns but allows', () => {
    const untied = byName(runtimesFor({ fit: fitsFor('meta-llama/Llama-3.1-8B'), maxRank: 8, targetModules: ['q_proj', 'lm_head'] }));
    expect(untied['llama.cpp']).toEqual({
      name: 'llama.cpp',
      ok: true,
      reason: 'GGUF export available (llama.cpp architecture llama): load it with --lora',
    });
    expect(untied.Ollama!.ok).toBe(true);
    const noHead = byName(runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 8, targetModules: ['q_proj', 'v_proj', 'embed_tokens'] }));
    expect([noHead['llama.cpp']!.ok, noHead.Ollama!.ok]).toEqual([true, true]);
    expect(noHead['llama.cpp']!.reason).not.toContain('lm_head');

    // Facts stored before tieWordEmbeddings existed, or a config.json that does not say: allowed, with the caveat.
    const { tieWordEmbeddings: _t, ...older } = base('meta-llama/Llama-3.2-1B');
    const unknown = byName(
      runtimesFor({
        fit: { ...fitsFor('meta-llama/Llama-3.2-1B'), base: { name: older.name, facts: older } },
        maxRank: 8,
        targetModules: ['lm_head'],
      }),
    );
    expect(unknown['llama.cpp']!.ok).toBe(true);
    expect(unknown['llama.cpp']!.reason).toEndWith(
      '; it adapts lm_head, which llama.cpp cannot load if the base ties its embeddings (tie_word_embeddings)',
    );
    expect(unknown.Ollama!.ok).toBe(true);
  });

  test('an unknown rank fails the runtimes with a rank limit', () => {
    const fits = byName(runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: null, targetModules: ['q_proj'] }));
    expect([fits.PEFT!.ok, fits.vLLM!.ok, fits.Fireworks!.ok]).toEqual([true, false, false]);
  });
});

describe('mlx-lm adapters: fit check and runtimes', () => {
  const header = async (path: string) => (await readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'adapters.safetensors')).tensors;
  const llama = () => base('meta-llama/Llama-3.2-1B');

  test('lora_a [in, r] and lora_b [r, out] fit; PEFT-shaped tensors under mlx names, or another width, do not', () => {
    expect(checkFit(llama().name, llama(), mlxAdapter(LLAMA_1B, 16, 8))).toMatchObject({ verdict: 'fits', checked: 16 * 7 * 2, mismatchCount: 0 });
    const untransposed = adapter(LLAMA_1B, 1, 8).map((t) => ({
      name: t.name.replace('base_model.model.', '').replace('.lora_A.weight', '.lora_a').replace('.lora_B.weight', '.lora_b'),
      shape: t.shape,
    }));
    const fit = checkFit(llama().name, llama(), untransposed);
    expect(fit.verdict).toBe('mismatch');
    // Every tensor differs; the rank is read where mlx keeps it (lora_a's second dimension), so [in, r] = [2048, 2048].
    expect(fit.mismatchCount).toBe(14);
    expect(fit.mismatched[0]).toEqual({ tensor: 'model.layers.0.self_attn.q_proj.lora_a', expected: '[2048, 2048]', got: '[8, 2048]' });
    const wide = checkFit(llama().name, llama(), [
      { name: 'model.layers.0.self_attn.k_proj.lora_a', shape: [4096, 8] },
      { name: 'model.layers.0.self_attn.k_proj.lora_b', shape: [8, 1024] },
      { name: 'model.layers.0.self_attn.k_proj.m', shape: [1024] }, // a DoRA magnitude: not a LoRA factor, not counted
      { name: 'model.embed_tokens.lora_a', shape: [128256, 8] },
      { name: 'model.embed_tokens.lora_b', shape: [8, 2048] },
      { name: 'lm_head.lora_b', shape: [8, 2, 2] },
    ]);
    expect(wide.checked).toBe(5);
    expect(wide.mismatched.map((m) => [m.tensor, m.expected, m.got])).toEqual([
      ['model.layers.0.self_attn.k_proj.lora_a', '[2048, 8]', '[4096, 8]'],
      ['model.layers.0.self_attn.k_proj.lora_b', '[8, 512]', '[8, 1024]'],
      ['lm_head.lora_b', '[r, 128256]', '[8, 2, 2]'],
    ]);
  });

  test('the same adapter in PEFT and in mlx form: the same verdict and counts, on its base and on a wrong one', async () => {
    const model = buildTinyModel({ seed: 1 });
    const options = { rank: 4, alpha: 8, seed: 3 };
    await writeTinyLlamaOutput(join(dir, 'fit-peft'), { model, adapter: options });
    await writeTinyMlxOutput(join(dir, 'fit-mlx'), { model, adapter: options });
    const peft = await header(join(dir, 'fit-peft', 'adapter_model.safetensors'));
    const mlx = await header(join(dir, 'fit-mlx', 'adapters.safetensors'));
    const tiny = baseFromConfigJson(tinyConfigJson(model))!;
    for (const facts of [tiny, llama()]) {
      const a = checkFit(facts.name, facts, peft);
      const b = checkFit(facts.name, facts, mlx);
      expect({ verdict: b.verdict, checked: b.checked, mismatchCount: b.mismatchCount }).toEqual({
        verdict: a.verdict,
        checked: a.checked,
        mismatchCount: a.mismatchCount,
      });
    }
    expect(checkFit(tiny.name, tiny, mlx).verdict).toBe('fits');
    expect(checkFit(llama().name, llama(), mlx).verdict).toBe('mismatch');
  });

  test('analyseOutput on an mlx-lm adapters/ folder: format mlx, alpha = scale · rank, fitted against the base config.json', async () => {
    const analyse = async (folder: string, weights: string) => {
      const read = async (name: string) => ({ path: name, bytes: await Bun.file(join(folder, name)).bytes() });
      const path = join(folder, weights);
      const size = Bun.file(path).size;
      const { bytes, dataSize } = await readSafetensorsHeaderBytes(fileRangeReader(path), size, weights);
      return analyseOutput({
        headers: [{ path: weights, bytes, dataSize }],
        weightsPath: weights,
        pickled: null,
        config: await read('adapter_config.json'),
        baseConfig: await read('config.json'),
      });
    };
    const mlx = await analyse(join(dir, 'fit-mlx'), 'adapters.safetensors');
    expect(mlx.adapter).toMatchObject({ format: 'mlx', rank: 4, alpha: 8, maxRank: 4, baseModel: '/models/tiny-llama', taskType: null });
    expect(mlx.adapter!.targetModules).toEqual([
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
      'embed_tokens',
      'lm_head',
    ]);
    expect(mlx.fit).toMatchObject({ verdict: 'fits', base: { facts: { modelType: 'llama' } } });
    // A PEFT adapter's record is what it always was: no format key.
    const peft = await analyse(join(dir, 'fit-peft'), 'adapter_model.safetensors');
    expect(peft.adapter).not.toHaveProperty('format');
    expect({ ...mlx.adapter, format: undefined, taskType: null }).toEqual({ ...peft.adapter, format: undefined, taskType: null });
  });

  const fitsFor = (id: string): FitCheck => ({ base: { name: id, facts: base(id) }, verdict: 'fits', checked: 2, mismatched: [], mismatchCount: 0 });
  const byName = (fits: ReturnType<typeof runtimesFor>) => Object.fromEntries(fits.map((f) => [f.name, f]));

  test('runtimes: mlx-lm loads it; PEFT, vLLM and Fireworks need a conversion; llama.cpp and Ollama through the GGUF export', () => {
    const fits = runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 8, targetModules: ['q_proj', 'v_proj'], format: 'mlx' });
    expect(fits.map((f) => [f.name, f.ok])).toEqual([
      ['mlx-lm', true],
      ['PEFT', false],
      ['vLLM', false],
      ['llama.cpp', true],
      ['Ollama', true],
      ['Fireworks', false],
    ]);
    const named = byName(fits);
    expect(named['mlx-lm']!.reason).toContain('mlx_lm.generate --adapter-path');
    for (const name of ['PEFT', 'vLLM', 'Fireworks']) expect(named[name]!.reason).toContain("it loads only after conversion to PEFT's layout");
    expect(named['llama.cpp']!.reason).toContain('GGUF export available (llama.cpp architecture llama)');
    expect(named.Ollama!.reason).toStartWith('use the GGUF export with ADAPTER');
    expect(named.Ollama!.reason).toContain('scale 1');

    // No GGUF export for phi3, and llama.cpp's own converter reads PEFT adapters only.
    const phi = byName(runtimesFor({ fit: fitsFor('microsoft/Phi-3-mini-4k-instruct'), maxRank: 8, targetModules: ['qkv_proj'], format: 'mlx' }));
    expect([phi['llama.cpp']!.ok, phi.Ollama!.ok]).toEqual([false, false]);
    expect(phi['llama.cpp']!.reason).toContain("convert_lora_to_gguf.py reads PEFT adapters, not mlx-lm's");
    // Gemma 2: Ollama's Safetensors import would drop mlx's scale, and there is no GGUF export either.
    expect(byName(runtimesFor({ fit: fitsFor('google/gemma-2-2b'), maxRank: 8, targetModules: ['q_proj'], format: 'mlx' })).Ollama!.ok).toBe(false);
    // Tied embeddings and a LoRA on lm_head: refused as for PEFT.
    const tied = byName(runtimesFor({ fit: fitsFor('meta-llama/Llama-3.2-1B'), maxRank: 8, targetModules: ['lm_head'], format: 'mlx' }));
    expect([tied['llama.cpp']!.ok, tied.Ollama!.ok]).toEqual([false, false]);
    // An unknown base: mlx-lm still loads it on whatever base it names.
    const unknown = byName(
      runtimesFor({ fit: checkFit('me/custom', null, mlxAdapter(LLAMA_1B, 1, 8)), maxRank: 8, targetModules: [], format: 'mlx' }),
    );
    expect([unknown['mlx-lm']!.ok, unknown['llama.cpp']!.ok, unknown.Ollama!.ok]).toEqual([true, false, false]);
  });

  test('a mismatch fails every runtime, mlx-lm included', () => {
    const fit = checkFit(llama().name, llama(), mlxAdapter(QWEN_05B_QV, 1, 8));
    expect(runtimesFor({ fit, maxRank: 8, targetModules: [], format: 'mlx' }).map((f) => [f.name, f.ok])).toEqual(
      ['mlx-lm', 'PEFT', 'vLLM', 'llama.cpp', 'Ollama', 'Fireworks'].map((name) => [name, false]),
    );
  });
});
