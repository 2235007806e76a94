import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkRankAgainstTensors,
  inferFromTensors,
  loraTensorName,
  parseAdapterConfig,
  type TensorShape,
} from '../../server/ingest/inspect/adapter-config.ts';
import { fileRangeReader, InspectionError, readSafetensorsHeader } from '../../server/ingest/inspect/safetensors.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { buildTinyModel, writeTinyLlamaOutput, writeTinyMlxOutput } from '../helpers/tiny-llama.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'adapter-config-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readOutput(out: string) {
  const config = parseAdapterConfig(await Bun.file(join(out, 'adapter_config.json')).text());
  const path = join(out, 'adapter_model.safetensors');
  const info = await readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'adapter_model.safetensors');
  return { config, info };
}

const lora = (module: string, r: number, inDim = 896, outDim = 896): TensorShape[] => [
  { name: `base_model.model.model.layers.0.self_attn.${module}.lora_A.weight`, shape: [r, inDim] },
  { name: `base_model.model.model.layers.0.self_attn.${module}.lora_B.weight`, shape: [outDim, r] },
];

describe('parseAdapterConfig', () => {
  test('a real PEFT config written by the fixture generator', async () => {
    const out = join(dir, 'qwen');
    await writeLoraOutput(out, { rank: 16, alpha: 32, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], layers: 2 });
    const { config, info } = await readOutput(out);
    expect(config).toEqual({
      format: 'peft',
      baseModel: 'Qwen/Qwen2.5-0.5B',
      rank: 16,
      alpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      peftType: 'LORA',
      taskType: 'CAUSAL_LM',
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
      numLayers: null,
      fineTuneType: null,
    });
    const inferred = inferFromTensors(info.tensors);
    expect(inferred.rank).toBe(16);
    expect(inferred.ranks).toEqual([16]);
    expect(inferred.targetModules).toEqual(['k_proj', 'o_proj', 'q_proj', 'v_proj']);
    expect(inferred.moduleCount).toBe(8);
    expect(() => checkRankAgainstTensors(config, inferred)).not.toThrow();
  });

  test('a padded adapter: the saved lm_head is not mistaken for a LoRA module', async () => {
    const out = join(dir, 'padded');
    await writeLoraOutput(out, { layers: 2, padToBytes: 3_000_000 });
    const { config, info } = await readOutput(out);
    const inferred = inferFromTensors(info.tensors);
    expect(info.tensors.some((t) => t.name === 'base_model.model.lm_head.weight')).toBe(true);
    expect(inferred).toMatchObject({ rank: 8, targetModules: ['q_proj', 'v_proj'], moduleCount: 4 });
    expect(() => checkRankAgainstTensors(config, inferred)).not.toThrow();
  });

  test('target_modules as a regex string, missing optional fields as null', () => {
    const config = parseAdapterConfig(JSON.stringify({ r: 4, target_modules: '.*\\.(q|v)_proj' }));
    expect(config).toEqual({
      format: 'peft',
      baseModel: null,
      rank: 4,
      alpha: null,
      targetModules: ['.*\\.(q|v)_proj'],
      peftType: null,
      taskType: null,
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
      numLayers: null,
      fineTuneType: null,
    });
    expect(parseAdapterConfig('{}').targetModules).toEqual([]);
  });

  test('use_rslora: read when true, false when absent or null', () => {
    expect(parseAdapterConfig('{"use_rslora": true}').useRslora).toBe(true);
    expect(parseAdapterConfig('{"use_rslora": false}').useRslora).toBe(false);
    expect(parseAdapterConfig('{"use_rslora": null}').useRslora).toBe(false);
  });

  const invalid: [string, string, RegExp][] = [
    ['invalid JSON', '{"r": 8,', /^adapter_config\.json: not valid JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['r as a string', '{"r": "8"}', /r is not a positive number/],
    ['r zero', '{"r": 0}', /r is not a positive number/],
    ['r fractional', '{"r": 8.5}', /r is not an integer/],
    ['lora_alpha negative', '{"lora_alpha": -16}', /lora_alpha is not a positive number/],
    ['target_modules of numbers', '{"target_modules": [1, 2]}', /target_modules is neither/],
    ['base model not a string', '{"base_model_name_or_path": 5}', /base_model_name_or_path is not a string/],
    ['rank_pattern value not an integer', '{"rank_pattern": {"q_proj": "x"}}', /rank_pattern.q_proj is not a positive integer/],
    ['use_rslora as a string', '{"use_rslora": "true"}', /use_rslora is not a boolean/],
  ];
  test.each(invalid)('rejects %s', (_name, text, message) => {
    expect(() => parseAdapterConfig(text)).toThrow(InspectionError);
    expect(() => parseAdapterConfig(text)).toThrow(message);
  });
});

describe('inferFromTensors', () => {
  test('rank from lora_A [r, in] and lora_B [out, r]; module names from the path', () => {
    const inferred = inferFromTensors([...lora('q_proj', 8), ...lora('v_proj', 8, 896, 128)]);
    expect(inferred).toMatchObject({ rank: 8, ranks: [8], targetModules: ['q_proj', 'v_proj'], moduleCount: 2 });
  });

  test('the in-memory adapter-name segment and embeddings are understood', () => {
    const inferred = inferFromTensors([
      { name: 'base_model.model.model.layers.0.mlp.down_proj.lora_A.default.weight', shape: [4, 4864] },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_A', shape: [4, 151936] },
      { name: 'base_model.model.model.embed_tokens.lora_embedding_B', shape: [896, 4] },
    ]);
    expect(inferred).toMatchObject({ rank: 4, targetModules: ['down_proj', 'embed_tokens'], moduleCount: 2 });
  });

  test('no LoRA tensors: rank null, nothing inferred', () => {
    expect(inferFromTensors([{ name: 'model.embed_tokens.weight', shape: [10, 4] }])).toMatchObject({
      rank: null,
      ranks: [],
      targetModules: [],
      moduleCount: 0,
    });
  });

  test('mixed ranks: the most common one, every rank listed', () => {
    const inferred = inferFromTensors([...lora('q_proj', 8), ...lora('k_proj', 8), ...lora('v_proj', 16)]);
    expect(inferred.rank).toBe(8);
    expect(inferred.ranks).toEqual([8, 16]);
  });

  test('lora_A and lora_B disagreeing on the rank is an InspectionError', () => {
    const tensors = [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [8, 896] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [896, 16] },
    ];
    expect(() => inferFromTensors(tensors)).toThrow(/adapter_model\.safetensors: lora_A and lora_B disagree on the rank of .*q_proj \(8 vs 16\)/);
  });
});

describe('checkRankAgainstTensors', () => {
  test('config r disagreeing with the tensor shapes is an InspectionError', async () => {
    const out = join(dir, 'mismatch');
    await writeLoraOutput(out, { rank: 8, layers: 1 });
    const { info } = await readOutput(out);
    const config = parseAdapterConfig(JSON.stringify({ r: 16, target_modules: ['q_proj', 'v_proj'] }));
    expect(() => checkRankAgainstTensors(config, inferFromTensors(info.tensors))).toThrow(
      'adapter_model.safetensors: base_model.model.model.layers.0.self_attn.q_proj has rank 8 but adapter_config.json says r = 16',
    );
  });

  test('rank_pattern overrides are honoured, matched on the module-path suffix', () => {
    const inferred = inferFromTensors([...lora('q_proj', 8), ...lora('v_proj', 16)]);
    const withPattern = parseAdapterConfig(JSON.stringify({ r: 8, rank_pattern: { v_proj: 16 } }));
    expect(() => checkRankAgainstTensors(withPattern, inferred)).not.toThrow();
    const wrongPattern = parseAdapterConfig(JSON.stringify({ r: 8, rank_pattern: { v_proj: 32 } }));
    expect(() => checkRankAgainstTensors(wrongPattern, inferred)).toThrow(/has rank 16 but adapter_config.json says rank_pattern "v_proj" = 32/);
  });

  test('a config without r is not checked', () => {
    expect(() => checkRankAgainstTensors(parseAdapterConfig('{}'), inferFromTensors(lora('q_proj', 8)))).not.toThrow();
  });
});

test("torchtune's adapter_config.json (convert_weights.tune_to_peft_adapter_config: four keys, HF module names) is PEFT's", () => {
  // recipes/lora_finetune_single_device.py builds {r, lora_alpha, target_modules, peft_type}; the HF checkpointer adds
  // base_model_name_or_path and json.dump()s it on one line. Its adapter_model.safetensors has PEFT's keys
  // (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`), so nothing else is torchtune-specific.
  const text =
    '{"r": 8, "lora_alpha": 16.0, "target_modules": ["q_proj", "v_proj", "o_proj"], "peft_type": "LORA", "base_model_name_or_path": "meta-llama/Llama-3.2-1B-Instruct"}';
  expect(parseAdapterConfig(text)).toMatchObject({
    format: 'peft',
    rank: 8,
    alpha: 16,
    targetModules: ['q_proj', 'v_proj', 'o_proj'],
    taskType: null,
    numLayers: null,
  });
});

describe('mlx-lm and unsloth-MLX adapters', () => {
  const header = async (path: string) => (await readSafetensorsHeader(fileRangeReader(path), Bun.file(path).size, 'adapters.safetensors')).tensors;

  test('an mlx-lm adapter_config.json (the whole CLI config): rank and scale from lora_parameters, alpha = scale · rank', async () => {
    const out = join(dir, 'mlx-config');
    await writeTinyMlxOutput(out, { adapter: { rank: 8, alpha: 16, targets: ['q_proj', 'v_proj', 'down_proj', 'embed_tokens', 'lm_head'] } });
    expect(parseAdapterConfig(await Bun.file(join(out, 'adapter_config.json')).text())).toEqual({
      format: 'mlx',
      baseModel: '/models/tiny-llama',
      rank: 8,
      alpha: 16,
      // lora_parameters.keys `self_attn.q_proj`, `model.embed_tokens`, `lm_head` → leaf names
      targetModules: ['q_proj', 'v_proj', 'down_proj', 'embed_tokens', 'lm_head'],
      peftType: null,
      taskType: null,
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
      numLayers: 2,
      fineTuneType: 'lora',
    });
  });

  test("mlx-lm's defaults (no keys: every linear layer), a DoRA run, a full fine-tune, and unsloth-MLX's config", () => {
    // mlx_lm/lora.py CONFIG_DEFAULTS: rank 8, scale 20.0; a model given as a local path is kept as given.
    const defaults = parseAdapterConfig(
      JSON.stringify({
        fine_tune_type: 'lora',
        lora_parameters: { rank: 8, dropout: 0.0, scale: 20.0 },
        model: '/Users/me/mlx/Qwen2.5-0.5B-Instruct-4bit',
        num_layers: 16,
      }),
    );
    expect(defaults).toMatchObject({
      format: 'mlx',
      baseModel: '/Users/me/mlx/Qwen2.5-0.5B-Instruct-4bit',
      rank: 8,
      alpha: 160,
      targetModules: [],
      numLayers: 16,
    });
    expect(parseAdapterConfig('{"fine_tune_type": "dora", "lora_parameters": {"rank": 4, "scale": 10}, "num_layers": -1}')).toMatchObject({
      fineTuneType: 'dora',
      rank: 4,
      alpha: 40,
      numLayers: -1,
    });
    // mlx_lm/lora.py sets lora_parameters = None for a full fine-tune.
    expect(
      parseAdapterConfig('{"fine_tune_type": "full", "lora_parameters": null, "model": "mlx-community/Llama-3.2-1B-Instruct-4bit"}'),
    ).toMatchObject({
      format: 'mlx',
      fineTuneType: 'full',
      rank: null,
      alpha: null,
      baseModel: 'mlx-community/Llama-3.2-1B-Instruct-4bit',
    });
    // unsloth_zoo/mlx/trainer.py save_model: PEFT-ish keys beside lora_parameters, rank/scale copied to the top for mlx-vlm.
    const unsloth = parseAdapterConfig(
      JSON.stringify({
        fine_tune_type: 'lora',
        peft_type: 'LORA',
        base_model_name_or_path: 'unsloth/Llama-3.2-1B-Instruct',
        learning_rate: 0.0002,
        max_steps: 60,
        num_layers: 16,
        lora_parameters: { rank: 16, scale: 1.0, dropout: 0.0 },
        rank: 16,
        scale: 1.0,
        dropout: 0.0,
      }),
    );
    expect(unsloth).toMatchObject({
      format: 'mlx',
      baseModel: 'unsloth/Llama-3.2-1B-Instruct',
      rank: 16,
      alpha: 16,
      peftType: 'LORA',
      numLayers: 16,
    });
    // unsloth-MLX writes base_model_name_or_path "" when it knows no repo: no base named.
    expect(
      parseAdapterConfig('{"fine_tune_type": "lora", "base_model_name_or_path": "", "lora_parameters": {"rank": 8, "scale": 2}}').baseModel,
    ).toBeNull();
  });

  const invalid: [string, string, RegExp][] = [
    ['lora_parameters as a string', '{"lora_parameters": "r=8"}', /lora_parameters is not an object/],
    ['lora_parameters as a list', '{"lora_parameters": [8]}', /lora_parameters is not an object/],
    ['a fractional rank', '{"lora_parameters": {"rank": 8.5, "scale": 2}}', /lora_parameters.rank is not an integer/],
    ['a negative scale', '{"lora_parameters": {"rank": 8, "scale": -2}}', /lora_parameters.scale is not a positive number/],
    ['a rank as a string', '{"lora_parameters": {"rank": "8"}}', /lora_parameters.rank is not a positive number/],
    ['keys of numbers', '{"lora_parameters": {"rank": 8, "keys": [1]}}', /lora_parameters.keys is not a list of names/],
    ['num_layers as a string', '{"fine_tune_type": "lora", "num_layers": "16"}', /num_layers is not an integer/],
    ['model as a number', '{"fine_tune_type": "lora", "model": 5}', /model is not a string/],
    ['fine_tune_type as a number', '{"fine_tune_type": 1}', /fine_tune_type is not a string/],
  ];
  test.each(invalid)('rejects %s, naming the field', (_name, text, message) => {
    expect(() => parseAdapterConfig(text)).toThrow(InspectionError);
    expect(() => parseAdapterConfig(text)).toThrow(message);
  });

  test('loraTensorName reads mlx names as layout mlx; DoRA magnitudes and lower-case .weight names are not LoRA factors', () => {
    expect(loraTensorName('model.layers.27.self_attn.q_proj.lora_a')).toEqual({
      modulePath: 'model.layers.27.self_attn.q_proj',
      part: 'lora_a',
      side: 'A',
      adapterName: null,
      layout: 'mlx',
    });
    expect(loraTensorName('model.embed_tokens.lora_b')).toMatchObject({ modulePath: 'model.embed_tokens', side: 'B', layout: 'mlx' });
    expect(loraTensorName('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toMatchObject({ side: 'A', layout: 'peft' });
    expect(loraTensorName('model.layers.0.self_attn.q_proj.m')).toBeNull();
    // torchtune's own names (adapter_model.pt only; its safetensors are PEFT's) are not read as mlx's.
    expect(loraTensorName('layers.0.attn.q_proj.lora_a.weight')).toBeNull();
  });

  test('the same adapter in PEFT and in mlx form: inferFromTensors says the same', async () => {
    const model = buildTinyModel({ seed: 1 });
    const adapter = { rank: 8, alpha: 16, seed: 2 };
    await writeTinyLlamaOutput(join(dir, 'same-peft'), { model, adapter });
    await writeTinyMlxOutput(join(dir, 'same-mlx'), { model, adapter });
    const peft = inferFromTensors(await header(join(dir, 'same-peft', 'adapter_model.safetensors')));
    const mlx = inferFromTensors(await header(join(dir, 'same-mlx', 'adapters.safetensors')), 'adapters.safetensors');
    expect(peft.layout).toBe('peft');
    expect(mlx.layout).toBe('mlx');
    const strip = (m: Map<string, number>) => new Map([...m].map(([k, v]) => [k.replace(/^base_model\.model\./, ''), v]));
    expect({ ...mlx, layout: null, moduleRanks: mlx.moduleRanks }).toEqual({ ...peft, layout: null, moduleRanks: strip(peft.moduleRanks) });
    expect(mlx).toMatchObject({ rank: 8, ranks: [8], moduleCount: 2 * 7 + 2 });
    const config = parseAdapterConfig(await Bun.file(join(dir, 'same-mlx', 'adapter_config.json')).text());
    expect(() => checkRankAgainstTensors(config, mlx, 'adapters.safetensors')).not.toThrow();
    expect(() => checkRankAgainstTensors({ ...config, rank: 4 }, mlx, 'adapters.safetensors')).toThrow(
      'adapters.safetensors: model.embed_tokens has rank 8 but adapter_config.json says lora_parameters.rank = 4',
    );
  });

  test('mlx shapes: lora_a [in, r], lora_b [r, out]; MoE experts [E, r, in] / [E, out, r]; a disagreement names lora_a and lora_b', () => {
    const inferred = inferFromTensors([
      { name: 'model.layers.0.self_attn.q_proj.lora_a', shape: [896, 8] },
      { name: 'model.layers.0.self_attn.q_proj.lora_b', shape: [8, 896] },
      { name: 'model.layers.0.mlp.switch_mlp.gate_proj.lora_a', shape: [60, 8, 2048] },
      { name: 'model.layers.0.mlp.switch_mlp.gate_proj.lora_b', shape: [60, 1408, 8] },
      { name: 'model.layers.0.self_attn.q_proj.m', shape: [896] },
    ]);
    expect(inferred).toMatchObject({ rank: 8, ranks: [8], targetModules: ['gate_proj', 'q_proj'], moduleCount: 2, layout: 'mlx' });
    const tensors = [
      { name: 'model.layers.0.self_attn.q_proj.lora_a', shape: [896, 8] },
      { name: 'model.layers.0.self_attn.q_proj.lora_b', shape: [16, 896] },
    ];
    expect(() => inferFromTensors(tensors, 'adapters.safetensors')).toThrow(
      'adapters.safetensors: lora_a and lora_b disagree on the rank of model.layers.0.self_attn.q_proj (8 vs 16)',
    );
  });
});
