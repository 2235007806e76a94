// The "download all" zip: checked by the real unzip and sha256sum tools, not by our own reader.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictLength } from 'client-zip';
import { CHECKSUMS_NAME, zipBundle, type ZipBundleEntry } from '../../server/storage/zip-bundle.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zip-bundle-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fileOf(size: number, seed: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(size).map((_, i) => (i * seed + (i >> 8)) & 0xff);
}

async function run(cmd: string[], cwd: string): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: 'pipe', stderr: 'pipe' });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out: out + err };
}

test('a bundle of three files unzips, verifies with sha256sum -c, and matches its predicted size', async () => {
  const files: Record<string, Uint8Array<ArrayBuffer>> = {
    'adapter_model.safetensors': fileOf(3 * 1024 * 1024 + 17, 13),
    'adapter_config.json': new TextEncoder().encode('{"r":16,"lora_alpha":32}\n'),
    'checkpoint-100/trainer_state.json': fileOf(70_000, 7),
  };
  const opened: string[] = [];
  const entries: ZipBundleEntry[] = Object.entries(files).map(([name, data]) => ({
    name,
    size: data.byteLength,
    lastModified: new Date('2025-01-02T03:04:06Z'),
    open: async () => {
      opened.push(name);
      return new Response(data).body as ReadableStream<Uint8Array>;
    },
  }));
  const sha256s = Object.fromEntries(Object.entries(files).map(([name, data]) => [name, createHash('sha256').update(data).digest('hex')]));

  const bundle = zipBundle(entries, sha256s);
  expect(opened).toEqual([]); // nothing is opened until the stream is read

  const zipPath = join(dir, 'bundle.zip');
  await Bun.write(zipPath, new Response(bundle.stream));
  expect(opened).toEqual(Object.keys(files));
  expect(Bun.file(zipPath).size).toBe(bundle.size);

  const tested = await run(['unzip', '-t', zipPath], dir);
  expect(tested.out).toContain('No errors detected');
  expect(tested.code).toBe(0);

  const out = join(dir, 'out');
  await mkdir(out);
  expect((await run(['unzip', '-q', zipPath, '-d', out], dir)).code).toBe(0);
  for (const [name, data] of Object.entries(files)) {
    expect(new Uint8Array(await readFile(join(out, name)))).toEqual(data);
  }
  const sums = await readFile(join(out, CHECKSUMS_NAME), 'utf8');
  expect(sums.split('\n').filter(Boolean)).toHaveLength(3);
  const check = await run(['sha256sum', '-c', CHECKSUMS_NAME], out);
  expect(check.code).toBe(0);
  expect(check.out).toContain('adapter_model.safetensors: OK');
});

test('a source that delivers fewer bytes than declared fails the stream instead of a short zip', async () => {
  const bundle = zipBundle([{ name: 'a.bin', size: 10, open: async () => new Response(new Uint8Array(5)).body as ReadableStream<Uint8Array> }], {
    'a.bin': 'a'.repeat(64),
  });
  await expect(new Response(bundle.stream).arrayBuffer()).rejects.toThrow(/declared 10/);
});

test('unsafe names, duplicates and missing checksums are refused up front', () => {
  const open = async (): Promise<ReadableStream<Uint8Array>> => new Response('').body as ReadableStream<Uint8Array>;
  const sum = 'b'.repeat(64);
  for (const name of ['../evil', '/abs', 'a\\b', 'a\nb', 'a//b', CHECKSUMS_NAME]) {
    expect(() => zipBundle([{ name, size: 0, open }], { [name]: sum })).toThrow();
  }
  expect(() => zipBundle([{ name: 'a', size: 0, open }], {})).toThrow(/sha256/);
  expect(() =>
    zipBundle(
      [
        { name: 'a', size: 0, open },
        { name: 'a', size: 0, open },
      ],
      { a: sum },
    ),
  ).toThrow(/duplicate/);
});

test('a 5 GB entry: size is predicted with ZIP64 records and nothing is read', async () => {
  const five = 5 * 1024 ** 3;
  let opened = false;
  const open = async () => {
    opened = true;
    return new ReadableStream<Uint8Array>();
  };
  const bundle = zipBundle([{ name: 'big.safetensors', size: five, open }], { 'big.safetensors': 'c'.repeat(64) });
  const sumsSize = `${'c'.repeat(64)}  big.safetensors\n`.length;
  const plain =
    Number(
      predictLength([
        { name: 'big.safetensors', size: 1 },
        { name: CHECKSUMS_NAME, size: sumsSize },
      ]),
    ) - 1;
  expect(opened).toBe(false);
  // Past 4 GiB the archive grows by the ZIP64 extra fields and end records, not just by the data.
  expect(bundle.size).toBeGreaterThan(plain + five);
  expect(bundle.size - (plain + five)).toBeLessThan(200);
  await bundle.stream.cancel();
});

test('cancelling the bundle mid-way cancels the entry being read', async () => {
  const { promise: cancelled, resolve: onCancel } = Promise.withResolvers<void>();
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(64 * 1024));
    },
    cancel() {
      onCancel();
    },
  });
  const bundle = zipBundle([{ name: 'endless.bin', size: 10 * 1024 * 1024, open: async () => source }], { 'endless.bin': 'd'.repeat(64) });
  const reader = bundle.stream.getReader();
  for (let i = 0; i < 5; i++) await reader.read();
  await reader.cancel(new Error('client went away'));
  // Awaited, not slept on: the source's cancel() resolves it (the test times out if it never does).
  await cancelled;
});
