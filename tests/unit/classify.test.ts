import { describe, expect, test } from 'bun:test';
import { checkpointStep, classifyFile, contentTypeFor } from '../../server/ingest/inspect/classify.ts';
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
  ];
  test.each(cases)('%s → %s', (path, kind) => {
    expect(classifyFile(path)).toBe(kind);
  });
});

describe('checkpointStep', () => {
  test.each([
    ['checkpoint-500/adapter_model.safetensors', 500],
    ['runs/checkpoint-1000/checkpoint-1500/x', 1500],
    ['checkpoint-final/x', null],
    ['adapter_model.safetensors', null],
    ['checkpoint-500', null],
  ] as const)('%s → %p', (path, step) => {
    expect(checkpointStep(path)).toBe(step);
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
