// A real ZIP64 run, too slow and too big (about 4.5 GB of temp disk) for `bun run test`:
// `bun tests/bench/zip64-check.ts [sizeGiB]`. Prints one JSON line; exits 1 if unzip -t disagrees.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipBundle } from '../../server/storage/zip-bundle.ts';

const size = Math.round(Number(process.argv[2] ?? '4.5') * 1024 ** 3);
const chunk = new Uint8Array(8 * 1024 * 1024).map((_, i) => i & 0xff);

function source(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) return controller.close();
      const part = sent + chunk.byteLength <= size ? chunk : chunk.subarray(0, size - sent);
      sent += part.byteLength;
      controller.enqueue(part);
    },
  });
}

// The digest is computed once over the same generator, as ingest would have stored it.
const hash = createHash('sha256');
const reader = source().getReader();
for (let next = await reader.read(); !next.done; next = await reader.read()) hash.update(next.value);

const dir = await mkdtemp(join(tmpdir(), 'zip64-'));
try {
  const started = performance.now();
  const bundle = zipBundle([{ name: 'big.safetensors', size, open: async () => source() }], { 'big.safetensors': hash.digest('hex') });
  const path = join(dir, 'big.zip');
  await Bun.write(path, new Response(bundle.stream));
  const seconds = (performance.now() - started) / 1000;
  const written = Bun.file(path).size;
  const unzip = Bun.spawnSync(['unzip', '-t', path]);
  const ok = written === bundle.size && unzip.exitCode === 0;
  console.log(
    JSON.stringify({
      bench: 'zip64-check',
      size,
      predicted: bundle.size,
      written,
      unzipOk: unzip.exitCode === 0,
      seconds: Number(seconds.toFixed(1)),
      peakRssMiB: Math.round(process.memoryUsage().rss / 1024 / 1024),
    }),
  );
  if (!ok) process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
