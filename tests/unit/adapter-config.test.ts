import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRankAgainstTensors, inferFromTensors, parseAdapterConfig, type TensorShape } from '../../server/ingest/inspect/adapter-config.ts';
import { fileRangeReader, InspectionError, readSafetensorsHeader } from '../../server/ingest/inspect/safetensors.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';

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
      baseModel: 'Qwen/Qwen2.5-0.5B',
      rank: 16,
      alpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      peftType: 'LORA',
      taskType: 'CAUSAL_LM',
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
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
      baseModel: null,
      rank: 4,
      alpha: null,
      targetModules: ['.*\\.(q|v)_proj'],
      peftType: null,
      taskType: null,
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
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
