import { describe, expect, test } from 'bun:test';
import { analyseInWorker } from '../../server/ingest/inspect/inspect-runner.ts';
import { InspectionError } from '../../server/ingest/inspect/safetensors.ts';

const config = (text: string) => ({ path: 'adapter_config.json', bytes: new TextEncoder().encode(text) });
const input = (text: string) => ({ headers: [], weightsPath: null, pickled: null, config: config(text), baseConfig: null });

describe('inspection on a worker thread, with a deadline', () => {
  test('answers with what the worker found', async () => {
    const { adapter } = await analyseInWorker(input(JSON.stringify({ r: 8, lora_alpha: 16, base_model_name_or_path: 'Qwen/Qwen2.5-0.5B' })));
    expect(adapter).toMatchObject({ rank: 8, alpha: 16, baseModel: 'Qwen/Qwen2.5-0.5B' });
  });

  test('a file the worker refuses comes back as the InspectionError it raised, naming the file', async () => {
    const error = await analyseInWorker(input('{"r": "eight"}')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectionError);
    expect((error as InspectionError).fileName).toBe('adapter_config.json');
  });

  test('past the deadline the worker is stopped and the file blamed', async () => {
    const error = await analyseInWorker(input('{"r": 8}'), 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectionError);
    expect((error as Error).message).toContain('took longer than');
  });
});
