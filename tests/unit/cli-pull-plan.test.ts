// What `lora pull` takes (--checkpoint, --include), where it may write, and the part file's record of the bytes
// on disk, which a resumed pull trusts only when it matches.
import { afterAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '../../server/cli/errors.ts';
import { PartFile } from '../../server/cli/part-file.ts';
import { selectFiles, targetPath } from '../../server/cli/pull.ts';

const FILES = [
  { path: 'adapter_model.safetensors', kind: 'adapter_weights' },
  { path: 'adapter_config.json', kind: 'adapter_config' },
  { path: 'tokenizer.json', kind: 'tokenizer' },
  { path: 'tokenizer_config.json', kind: 'tokenizer' },
  { path: 'README.md', kind: 'model_card' },
  { path: 'trainer_state.json', kind: 'log' },
  { path: 'checkpoint-100/adapter_model.safetensors', kind: 'checkpoint' },
  { path: 'checkpoint-100/adapter_config.json', kind: 'checkpoint' },
  { path: 'checkpoint-1000/adapter_model.safetensors', kind: 'checkpoint' },
];
const paths = (files: { path: string }[]) => files.map((f) => f.path).sort();

describe('selectFiles', () => {
  test('everything by default', () => {
    expect(selectFiles(FILES, { include: [] })).toHaveLength(FILES.length);
  });

  test('--include: a name pattern matches at any depth, a path pattern the whole path; repeated patterns add up', () => {
    expect(paths(selectFiles(FILES, { include: ['*.safetensors'] }))).toEqual([
      'adapter_model.safetensors',
      'checkpoint-100/adapter_model.safetensors',
      'checkpoint-1000/adapter_model.safetensors',
    ]);
    expect(paths(selectFiles(FILES, { include: ['checkpoint-100/*'] }))).toEqual([
      'checkpoint-100/adapter_config.json',
      'checkpoint-100/adapter_model.safetensors',
    ]);
    expect(paths(selectFiles(FILES, { include: ['adapter_*', 'README.md'] }))).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'checkpoint-100/adapter_config.json',
      'checkpoint-100/adapter_model.safetensors',
      'checkpoint-1000/adapter_model.safetensors',
    ]);
  });

  test('--checkpoint: the folder (not a folder sharing its prefix), its tokenizer and the card; --include narrows it', () => {
    expect(paths(selectFiles(FILES, { checkpoint: 'checkpoint-100/', include: [] }))).toEqual([
      'README.md',
      'checkpoint-100/adapter_config.json',
      'checkpoint-100/adapter_model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(paths(selectFiles(FILES, { checkpoint: 'checkpoint-100', include: ['*.safetensors'] }))).toEqual([
      'checkpoint-100/adapter_model.safetensors',
    ]);
  });

  test('an unknown checkpoint is "not found", naming those there are', () => {
    const unknown = () => selectFiles(FILES, { checkpoint: 'checkpoint-5', include: [] }, ['checkpoint-100', 'checkpoint-1000']);
    expect(unknown).toThrow(CliError);
    expect(unknown).toThrow('its checkpoints are checkpoint-100, checkpoint-1000');
  });
});

describe('targetPath', () => {
  test('keeps the path under the folder', () => {
    expect(targetPath('/tmp/out', 'checkpoint-100/adapter_config.json')).toBe('/tmp/out/checkpoint-100/adapter_config.json');
  });

  test.each(['../escape', 'a/../../escape', '/etc/passwd', 'a//b', './a', 'a\\b', 'a\0b'])('refuses %p', (bad) => {
    expect(() => targetPath('/tmp/out', bad)).toThrow('refusing a file path');
  });
});

describe('PartFile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-part-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('records written ranges; a reopened part resumes from them, and asks only for the gaps', async () => {
    const final = path.join(dir, 'a.bin');
    const part = await PartFile.open(final, 100, 'aa');
    part.write(0, new Uint8Array(10).fill(1));
    part.write(50, new Uint8Array(20).fill(2));
    part.write(10, new Uint8Array(5).fill(3));
    expect(part.contiguous).toBe(15);
    expect(part.missing()).toEqual([
      [15, 50],
      [70, 100],
    ]);
    await part.save();
    part.close();

    const again = await PartFile.open(final, 100, 'aa');
    expect(again.bytesDone).toBe(35);
    expect(again.missing()).toEqual([
      [15, 50],
      [70, 100],
    ]);
    again.write(15, new Uint8Array(35).fill(4));
    again.write(70, new Uint8Array(30).fill(5));
    expect(again.complete).toBe(true);
    await again.finish();
    const bytes = fs.readFileSync(final);
    expect([bytes[0], bytes[12], bytes[20], bytes[60], bytes[99]]).toEqual([1, 3, 4, 2, 5]);
    expect(fs.existsSync(`${final}.part`) || fs.existsSync(`${final}.part.json`)).toBe(false);
  });

  test('a sidecar for other content, a damaged one, or none at all starts from zero', async () => {
    const final = path.join(dir, 'b.bin');
    const part = await PartFile.open(final, 100, 'bb');
    part.write(0, new Uint8Array(40));
    await part.save();
    part.close();
    // Another version of the file (other SHA-256) into the same folder.
    expect((await PartFile.open(final, 100, 'other')).bytesDone).toBe(0);

    const c = await PartFile.open(path.join(dir, 'c.bin'), 100, 'cc');
    c.write(0, new Uint8Array(40));
    await c.save();
    c.close();
    fs.writeFileSync(path.join(dir, 'c.bin.part.json'), '{"v":1,"sha256":"cc","size":100,"done":[[0,400]]}');
    expect((await PartFile.open(path.join(dir, 'c.bin'), 100, 'cc')).bytesDone).toBe(0);

    fs.writeFileSync(path.join(dir, 'd.bin.part'), new Uint8Array(100));
    expect((await PartFile.open(path.join(dir, 'd.bin'), 100, 'dd')).bytesDone).toBe(0);
  });
});
