import { describe, expect, test } from 'bun:test';
import { checkpointOf, classifyFile, contentTypeFor, isMergedModelFile, skippedBy } from '../../server/ingest/inspect/classify.ts';
import type { FileKind } from '../../server/vocabulary.ts';

describe('classifyFile', () => {
  const cases: [string, FileKind][] = [
    ['adapter_model.safetensors', 'adapter_weights'],
    ['adapter_model.bin', 'adapter_weights'],
    ['final/adapter_model.safetensors', 'adapter_weights'],
    ['adapter_config.json', 'adapter_config'],
    ['tokenizer.json', 'tokenizer'],
    ['tokenizer_config.json', 'tokenizer'],
    ['special_tokens_map.json', 'tokenizer'],
    ['tokenizer.model', 'tokenizer'],
    ['vocab.json', 'tokenizer'],
    ['merges.txt', 'tokenizer'],
    ['added_tokens.json', 'tokenizer'],
    ['chat_template.jinja', 'tokenizer'],
    ['checkpoint-500/adapter_model.safetensors', 'checkpoint'],
    ['checkpoint-500/optimizer.pt', 'checkpoint'],
    ['runs/checkpoint-final/trainer_state.json', 'checkpoint'],
    ['train.log', 'log'],
    ['trainer_state.json', 'log'],
    ['training_args.bin', 'log'],
    ['training_args.json', 'log'],
    ['metrics.jsonl', 'log'],
    ['runs/Apr01/events.out.tfevents.1712000000.gpu-0.1234.0', 'log'],
    ['README.md', 'other'],
    ['checkpoint-500', 'other'], // a file named like the folder is not inside one
    ['checkpoint-/x.bin', 'other'],
    ['ADAPTER_MODEL.SAFETENSORS', 'adapter_weights'],
    // mlx-lm and unsloth-MLX
    ['adapters.safetensors', 'adapter_weights'],
    ['0000100_adapters.safetensors', 'checkpoint'],
    // torchtune, the hub's last checkpoint, a hyperparameter search
    ['epoch_0/adapter_model.safetensors', 'checkpoint'],
    ['epoch_0/model-00001-of-00002.safetensors', 'checkpoint'],
    ['step_500/adapter_model.pt', 'checkpoint'],
    ['last-checkpoint/adapter_model.safetensors', 'checkpoint'],
    ['run-3/checkpoint-20/adapter_model.safetensors', 'checkpoint'],
    ['trainer_log.jsonl', 'log'],
    ['model-00001-of-00002.safetensors', 'other'],
  ];
  test.each(cases)('%s → %s', (path, kind) => {
    expect(classifyFile(path)).toBe(kind);
  });
});

describe('the step a checkpoint is named by', () => {
  test.each([
    ['checkpoint-500/adapter_model.safetensors', 500],
    ['runs/checkpoint-1000/checkpoint-1500/x', 1500],
    ['checkpoint-final/x', null],
    ['adapter_model.safetensors', null],
    ['checkpoint-500', null],
  ] as const)('%s → %p', (path, step) => {
    expect(checkpointOf(path)?.step ?? null).toBe(step);
  });
});

describe('checkpointOf', () => {
  test.each([
    ['checkpoint-500/adapter_model.safetensors', { name: 'checkpoint-500', step: 500, unit: 'step', file: false }],
    ['run-0/checkpoint-20/optimizer.pt', { name: 'run-0/checkpoint-20', step: 20, unit: 'step', file: false }],
    ['checkpoint-500/global_step500/mp_rank_00_model_states.pt', { name: 'checkpoint-500', step: 500, unit: 'step', file: false }],
    ['last-checkpoint/trainer_state.json', { name: 'last-checkpoint', step: null, unit: 'step', file: false }],
    ['epoch_2/adapter_model.safetensors', { name: 'epoch_2', step: 2, unit: 'epoch', file: false }],
    ['step_1500/adapter_model.safetensors', { name: 'step_1500', step: 1500, unit: 'step', file: false }],
    ['0001000_adapters.safetensors', { name: '0001000_adapters.safetensors', step: 1000, unit: 'step', file: true }],
    ['adapters/0000200_adapters.safetensors', { name: 'adapters/0000200_adapters.safetensors', step: 200, unit: 'step', file: true }],
    ['adapters.safetensors', null],
    ['checkpoint-final/x', null],
    ['tmp-checkpoint-500/adapter_model.safetensors', null],
    ['epoch_0', null],
  ] as const)('%s', (path, id) => {
    expect(checkpointOf(path)).toEqual(id);
  });
});

describe('skippedBy', () => {
  test.each([
    ['.git/HEAD', '.git/'],
    ['.git/objects/ab/cdef', '.git/'],
    ['runs/Nov27_10-00-00_gpu/events.out.tfevents.1.gpu.1.0', 'runs/'],
    ['wandb/run-20261127_100000-abc/files/output.log', 'wandb/'],
    ['unsloth_compiled_cache/UnslothSFTTrainer.py', 'unsloth_compiled_cache/'],
    ['_unsloth_temporary_saved_buffers/x.pt', '_unsloth_temporary_saved_buffers/'],
    ['tmp-checkpoint-1500/adapter_model.safetensors', 'tmp-checkpoint-*/'],
    ['checkpoint-500/runs/x', 'runs/'],
    ['adapter_model.safetensors', null],
    ['runs', null], // a file named like the folder is not in it
    ['my-runs/x', null],
    ['.gitignore', null],
    ['checkpoint-500/adapter_model.safetensors', null],
  ] as const)('%s → %p', (path, rule) => {
    expect(skippedBy(path)).toBe(rule);
  });
});

describe('isMergedModelFile', () => {
  test.each([
    ['epoch_0/model-00001-of-00002.safetensors', true],
    ['model.safetensors.index.json', true],
    ['merged/pytorch_model-00003-of-00004.bin', true],
    ['pytorch_model.bin.index.json', true],
    ['adapter_model.safetensors', false],
    ['model.safetensors', false], // a single-file model is not told apart from other weights by name
    ['model-1-of-2.safetensors', false],
  ] as const)('%s → %p', (path, merged) => {
    expect(isMergedModelFile(path)).toBe(merged);
  });
});

describe('contentTypeFor', () => {
  test.each([
    ['adapter_model.safetensors', 'application/octet-stream'],
    ['adapter_config.json', 'application/json'],
    ['metrics.jsonl', 'application/x-ndjson'],
    ['README.md', 'text/markdown; charset=utf-8'],
    ['merges.txt', 'text/plain; charset=utf-8'],
    ['train.LOG', 'text/plain; charset=utf-8'],
    ['page.html', 'application/octet-stream'], // never rendered by the browser
    ['Makefile', 'application/octet-stream'],
    ['.env', 'application/octet-stream'],
    ['dir.json/file', 'application/octet-stream'],
  ])('%s → %s', (path, type) => {
    expect(contentTypeFor(path)).toBe(type);
  });
});
