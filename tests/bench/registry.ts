/**
 * The registry's two costs that grow with the data:
 * - Purge throughput: models moved to the trash and purged (`models.purge`), timed from the call until the
 *   last stored object is gone (rows, outbox job, object deletion), in objects per second. On fs the anchor
 *   is `rm -rf` of an identical tree made in the same run; on s3rver it is the bare floor of the protocol,
 *   DeleteObjects of 1,000 known keys a request (no listing), on a twin set of objects in the same bucket.
 * - `models.versions` of a family of 1,000 versions, over HTTP, against `models.get` of one model on the
 *   same server as the anchor (a 1,000-row answer against a one-row one).
 * Standalone: `bun tests/bench/registry.ts`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { insertArtifact, insertDataset, personalWorkspaceOf, seedFamily } from '../helpers/factories.ts';
import { startS3rver, S3RVER_CREDENTIALS, type TestS3 } from '../helpers/s3rver.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { emit, info, median } from './lib.ts';

const BENCH = 'registry';
const BUCKET = 'bench-registry';
const FILES_PER_MODEL = 20;
const OBJECT_BYTES = 4096;

type User = Awaited<ReturnType<typeof newUser>>;

/** `models` models of FILES_PER_MODEL small objects each, written through the service's own storage driver. */
async function seedModels(svc: TestService, user: User, models: number): Promise<string[]> {
  const datasetId = (await insertDataset(svc.deps, user.userId)).id;
  const ids: string[] = [];
  for (let m = 0; m < models; m++) {
    const files = Array.from({ length: FILES_PER_MODEL }, (_, i) => ({
      path: i === 0 ? 'adapter_model.safetensors' : `checkpoint-${i * 100}/adapter_model.safetensors`,
      bytes: new Uint8Array(OBJECT_BYTES).fill(i),
    }));
    ids.push((await insertArtifact(svc.deps, user.userId, { datasetId, files })).id);
  }
  return ids;
}

/** Trash and purge `ids` (100 a call, the API's bound), then wait until `remaining()` says no object is left. */
async function purgeAll(user: User, ids: string[], remaining: () => Promise<number>): Promise<number> {
  for (let i = 0; i < ids.length; i += 100) await user.api.models.delete.mutate({ modelIds: ids.slice(i, i + 100) });
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i += 100) await user.api.models.purge.mutate({ modelIds: ids.slice(i, i + 100) });
  const deadline = Date.now() + 300_000;
  while ((await remaining()) > 0) {
    if (Date.now() > deadline) throw new Error('purge did not finish in 5 minutes');
    await Bun.sleep(20);
  }
  return (performance.now() - t0) / 1000;
}

function countFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

async function purgeOnFs(): Promise<void> {
  const MODELS = 200;
  const svc = await startTestService({ label: 'bench_registry_fs', env: { LOG_LEVEL: 'silent' } });
  try {
    const user = await newUser(svc, 'bench-purge-fs');
    const ids = await seedModels(svc, user, MODELS);
    const objects = MODELS * FILES_PER_MODEL;
    const root = path.join(svc.dataDir, 'storage', 'artifacts');
    if (countFiles(root) !== objects) throw new Error(`expected ${objects} objects under ${root}, found ${countFiles(root)}`);
    // The anchor: the same tree, removed by rm -rf (one process, no database, no queue).
    const twin = path.join(svc.dataDir, 'anchor-artifacts');
    spawnSync('cp', ['-a', root, twin]);
    spawnSync('sync');
    const a0 = performance.now();
    spawnSync('rm', ['-rf', twin]);
    const anchorSeconds = (performance.now() - a0) / 1000;
    const seconds = await purgeAll(user, ids, async () => countFiles(root));
    const ours = objects / seconds;
    const anchor = objects / anchorSeconds;
    info(BENCH, `fs: ${objects} objects purged in ${seconds.toFixed(2)} s; rm -rf took ${anchorSeconds.toFixed(3)} s`);
    emit(BENCH, 'purge on fs (200 models × 20 objects, end to end)', ours, 'objects/s');
    emit(BENCH, 'purge on fs: rm -rf of the same tree (anchor)', anchor, 'objects/s');
    emit(BENCH, 'purge on fs / rm -rf', ours / anchor, '×', '>= 0.5', 'includes the API calls, the row deletes and the queue hop');
  } finally {
    await svc.stop();
  }
}

async function countObjects(s3: TestS3, prefix: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function purgeOnS3(): Promise<void> {
  const MODELS = 50;
  const s3 = await startS3rver([BUCKET]);
  const svc = await startTestService({
    label: 'bench_registry_s3',
    env: {
      LOG_LEVEL: 'silent',
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    },
  });
  try {
    const user = await newUser(svc, 'bench-purge-s3');
    const ids = await seedModels(svc, user, MODELS);
    const objects = MODELS * FILES_PER_MODEL;
    // The anchor's twin set, and its removal with known keys: 1,000 a request, nothing listed.
    const keys = Array.from({ length: objects }, (_, i) => `anchor/${Math.floor(i / FILES_PER_MODEL)}/${i % FILES_PER_MODEL}`);
    const body = new Uint8Array(OBJECT_BYTES);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((Key) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: body }))));
    }
    const a0 = performance.now();
    for (let i = 0; i < keys.length; i += 1000) {
      await s3.client.send(
        new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
      );
    }
    const anchorSeconds = (performance.now() - a0) / 1000;
    if ((await countObjects(s3, 'artifacts/')) !== objects) throw new Error('seeded objects missing');
    const seconds = await purgeAll(user, ids, () => countObjects(s3, 'artifacts/'));
    const ours = objects / seconds;
    const anchor = objects / anchorSeconds;
    info(BENCH, `s3rver: ${objects} objects purged in ${seconds.toFixed(2)} s; bare DeleteObjects took ${anchorSeconds.toFixed(3)} s`);
    emit(BENCH, 'purge on s3rver (50 models × 20 objects, end to end)', ours, 'objects/s');
    emit(BENCH, 'purge on s3rver: DeleteObjects of known keys (anchor)', anchor, 'objects/s');
    emit(BENCH, 'purge on s3rver / bare DeleteObjects', ours / anchor, '×', '>= 0.1', 'ours lists each model prefix (8 at a time) before deleting');
  } finally {
    await svc.stop();
    await s3.stop();
  }
}

async function versionsOfThousand(): Promise<void> {
  const N = 1000;
  const ROUNDS = 40;
  const svc = await startTestService({ label: 'bench_registry_versions', env: { LOG_LEVEL: 'silent' } });
  try {
    const user = await newUser(svc, 'bench-versions');
    const workspaceId = await personalWorkspaceOf(svc.deps, user.userId);
    const datasetId = (await insertDataset(svc.deps, user.userId)).id;
    await seedFamily(svc.deps, { workspaceId, userId: user.userId, datasetId, family: 'thousand', versions: N });
    const one = (await user.api.models.versions.query({ family: 'thousand' }))[0]!;
    if (one.version !== N) throw new Error('the family was not seeded');
    // Interleaved, after a warm-up of each, so both see the same state of caches and JIT.
    for (let i = 0; i < 5; i++) {
      await user.api.models.versions.query({ family: 'thousand' });
      await user.api.models.get.query({ modelId: one.id });
    }
    const versions: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      let t0 = performance.now();
      await user.api.models.versions.query({ family: 'thousand' });
      versions.push(performance.now() - t0);
      t0 = performance.now();
      await user.api.models.get.query({ modelId: one.id });
      get.push(performance.now() - t0);
    }
    emit(BENCH, 'models.versions, family of 1,000 (p50, HTTP)', median(versions), 'ms');
    emit(BENCH, 'models.get of one model (p50, HTTP; anchor)', median(get), 'ms');
    emit(BENCH, 'models.versions(1,000) / models.get', median(versions) / median(get), '×', '<= 8');
  } finally {
    await svc.stop();
  }
}

export async function main() {
  await versionsOfThousand();
  await purgeOnFs();
  await purgeOnS3();
}

if (import.meta.main) {
  await main();
  // The test cluster and the S3 client's sockets would keep the process alive.
  process.exit(0);
}
