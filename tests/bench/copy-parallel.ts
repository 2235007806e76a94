/**
 * Parallel copies, each against its one-at-a-time self in the same run:
 * - Multi-file output: 200 files of 2 MB from a local https:// server (self-signed certificate, 50 ms added
 *   before every response) into fs storage, through `copyConcurrently` + `copyToStorage` as the ingest job
 *   runs them, with concurrency 1 (one by one) and with the default (COPY_CONCURRENCY). Goal: ≥ 3×.
 * - S3 multipart: a 256 MiB file copied by `copyToStorage` into the S3 driver against s3rver (same process,
 *   loopback), parts of 16 MiB with queueSize 1 and with the driver's default 4; a raw single PutObject of the
 *   same bytes is the anchor. s3rver runs in a child process; reported, no goal: on loopback with two cores
 *   s3rver's own CPU is the limit, so it says little about R2, where each part's round trip is what parallel
 *   parts hide.
 * Standalone: `bun tests/bench/copy-parallel.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { copyToStorage } from '../../server/ingest/copy.ts';
import { COPY_CONCURRENCY, copyConcurrently } from '../../server/ingest/copy-files.ts';
import { FileSource, HttpsSource, type Source, type SourceFile } from '../../server/ingest/sources/index.ts';
import { createFsStorage } from '../../server/storage/fs.ts';
import { createS3Storage } from '../../server/storage/s3.ts';
import type { StorageDriver } from '../../server/storage/storage.ts';
import { writeRandomFile } from '../fixtures/lora.ts';
import { createS3Client } from '../../server/storage/s3-client.ts';
import { S3RVER_CREDENTIALS } from '../helpers/s3rver.ts';
import { emit, info, mbPerSecond, tempDir } from './lib.ts';

const BENCH = 'copy-parallel';
const FILES = 200;
const FILE_BYTES = 2_000_000;
const LATENCY_MS = 50;
const S3_BYTES = 256 * 1024 * 1024;

/** A self-signed certificate for 127.0.0.1, made by openssl (the one the copy anchors use too). */
async function selfSigned(dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const proc = Bun.spawn(
    [
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdout: 'ignore', stderr: 'ignore' },
  );
  if ((await proc.exited) !== 0) throw new Error('openssl could not make a certificate');
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
}

/** Copies every file of `source` into `storage` as the ingest job does, `concurrency` at a time; returns ms. */
async function copyAll(source: Source, files: SourceFile[], storage: StorageDriver, prefix: string, concurrency: number): Promise<number> {
  const t = performance.now();
  await copyConcurrently(files, (file, n, signal) => copyToStorage({ source, file, storage, key: `${prefix}${n}`, signal }), { concurrency });
  return performance.now() - t;
}

async function multiFile(dir: string): Promise<void> {
  const outDir = path.join(dir, 'out');
  const manifest: SourceFile[] = [];
  for (let i = 0; i < FILES; i++) {
    const name = `shard-${String(i).padStart(3, '0')}.bin`;
    const { sha256 } = await writeRandomFile(path.join(outDir, name), FILE_BYTES, `parallel-${i}`);
    manifest.push({ path: name, size: FILE_BYTES, sha256 });
  }
  const tls = await selfSigned(dir);
  // The bench's own certificate; this process trusts it (a bench process, never the service).
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  let requests = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls,
    async fetch(req) {
      requests++;
      await Bun.sleep(LATENCY_MS);
      const name = new URL(req.url).pathname.replace(/^\/out\//, '');
      if (name === 'manifest.json') return Response.json({ files: manifest });
      const file = Bun.file(path.join(outDir, name));
      if (!(await file.exists())) return new Response('not found', { status: 404 });
      return new Response(file);
    },
  });
  try {
    const source = new HttpsSource(`https://127.0.0.1:${server.port}/out/`, { allowPrivateHosts: true });
    const files = await source.list();
    const storage = createFsStorage({ root: path.join(dir, 'storage'), publicUrl: 'http://127.0.0.1:1', secret: 'bench-secret-0123456789' });
    const serial: number[] = [];
    const parallel: number[] = [];
    for (let round = 0; round < 2; round++) {
      serial.push(await copyAll(source, files, storage, `u/serial-${round}/`, 1));
      parallel.push(await copyAll(source, files, storage, `u/parallel-${round}/`, COPY_CONCURRENCY));
      info(BENCH, `round ${round + 1}: one by one ${serial[round]!.toFixed(0)} ms, ${COPY_CONCURRENCY} at a time ${parallel[round]!.toFixed(0)} ms`);
      await storage.deletePrefix('u/');
    }
    const one = Math.min(...serial);
    const many = Math.min(...parallel);
    emit(BENCH, `${FILES} × 2 MB over https (+${LATENCY_MS} ms/request), one by one`, one, 'ms');
    emit(BENCH, `${FILES} × 2 MB over https, ${COPY_CONCURRENCY} at a time`, many, 'ms');
    emit(BENCH, 'speed-up, concurrent / one by one', one / many, 'x', '>= 3', `best of 2 each; ${requests} requests served`);
  } finally {
    server.stop(true);
  }
}

/** The first line a child prints. */
async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'));
  }
  throw new Error('s3rver child ended without printing its endpoint');
}

async function s3Parts(dir: string): Promise<void> {
  const srcDir = path.join(dir, 's3-src');
  const written = await writeRandomFile(path.join(srcDir, 'adapter.safetensors'), S3_BYTES, 'copy-parallel-s3');
  // s3rver in a process of its own, so its work does not queue behind the copy's on one event loop.
  const helper = path.join(import.meta.dir, '../helpers/s3rver.ts');
  const child = Bun.spawn(
    [
      'bun',
      '-e',
      `const s = await (await import(${JSON.stringify(helper)})).startS3rver(['bench']); console.log(s.endpoint); setInterval(() => {}, 1 << 30);`,
    ],
    { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, TMPDIR: dir } },
  );
  const endpoint = (await readLine(child.stdout)).trim();
  const s3 = { endpoint, client: createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, ...S3RVER_CREDENTIALS }) };
  try {
    const source = new FileSource(`file://${srcDir}`);
    const [file] = await source.list();
    const connection = { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, bucket: 'bench', ...S3RVER_CREDENTIALS };
    const one = createS3Storage({ ...connection, queueSize: 1 });
    const four = createS3Storage(connection);
    const bytes = fs.readFileSync(path.join(srcDir, 'adapter.safetensors'));
    const raw: number[] = [];
    const serial: number[] = [];
    const parallel: number[] = [];
    for (let round = 0; round < 2; round++) {
      let t = performance.now();
      await s3.client.send(new PutObjectCommand({ Bucket: 'bench', Key: `raw-${round}`, Body: bytes }));
      raw.push(performance.now() - t);
      t = performance.now();
      const a = await copyToStorage({ source, file: file!, storage: one, key: `u/q1-${round}/0` });
      serial.push(performance.now() - t);
      t = performance.now();
      const b = await copyToStorage({ source, file: file!, storage: four, key: `u/q4-${round}/0` });
      parallel.push(performance.now() - t);
      if (a.sha256 !== written.sha256 || b.sha256 !== written.sha256) throw new Error('S3 copy stored different bytes');
      info(
        BENCH,
        `s3 round ${round + 1}: PutObject ${raw[round]!.toFixed(0)} ms, queueSize 1 ${serial[round]!.toFixed(0)} ms, 4 ${parallel[round]!.toFixed(0)} ms`,
      );
      await four.deletePrefix('u/');
      await four.deletePrefix('raw-');
    }
    const rawMBs = mbPerSecond(S3_BYTES, Math.min(...raw));
    const oneMBs = mbPerSecond(S3_BYTES, Math.min(...serial));
    const fourMBs = mbPerSecond(S3_BYTES, Math.min(...parallel));
    emit(BENCH, 's3rver: raw PutObject 256 MiB (anchor)', rawMBs, 'MB/s');
    emit(BENCH, 's3rver: copyToStorage 256 MiB, 16 MiB parts, queueSize 1', oneMBs, 'MB/s');
    emit(BENCH, 's3rver: copyToStorage 256 MiB, 16 MiB parts, queueSize 4', fourMBs, 'MB/s');
    emit(BENCH, 's3rver: queueSize 4 / queueSize 1', fourMBs / oneMBs, 'x', null, 's3rver in a child process, loopback, 2 cores');
    emit(BENCH, 's3rver: queueSize 4 / raw PutObject', fourMBs / rawMBs, 'x');
  } finally {
    s3.client.destroy();
    child.kill();
    await child.exited;
  }
}

export async function main() {
  const tmp = tempDir('parallel');
  try {
    await multiFile(tmp.dir);
    await s3Parts(tmp.dir);
  } finally {
    tmp.done();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
