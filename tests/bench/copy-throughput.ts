/**
 * Ingest throughput of a 2 GiB single-file output against the machine's two limits, all on the same file
 * in the same run: one core's SHA-256 (`openssl dgst -sha256 FILE`) and the disk (`cp FILE OUT && sync OUT`).
 * - end to end: the real service (startTestService, file:// output under SOURCE_FILE_ROOTS), from
 *   `jobs.complete` returning to the `model_ready` notification row (polled every ~5 ms, as ingest-latency.ts);
 *   includes queue pickup, the copy (read, SHA-256, write, fsync, rename), inspection and delivery;
 * - copyToStorage alone (file source → fs driver), the copy without the service around it.
 * Goal: end to end ≥ 0.8 × the slower anchor. The page cache cannot be dropped here, so every measurement
 * runs 3 times, alternating, and the best is kept; the source is cache-hot for all of them (see the order
 * note in main).
 * Standalone: `bun tests/bench/copy-throughput.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { copyToStorage } from '../../server/ingest/copy.ts';
import { FileSource } from '../../server/ingest/sources/file-source.ts';
import { createFsStorage } from '../../server/storage/fs.ts';
import { writeRandomFile } from '../fixtures/lora.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import { startTrainingJob } from '../helpers/training.ts';
import { emit, info, mbPerSecond, tempDir } from './lib.ts';

const BENCH = 'copy-throughput';
const BYTES = 2 * 1024 ** 3;
const ROUNDS = 3;
const FILE = 'model.bin';

async function spawnTimed(cmd: string[]): Promise<number> {
  const t = performance.now();
  const proc = Bun.spawn(cmd, { stdout: 'ignore', stderr: 'inherit' });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}`);
  return performance.now() - t;
}

export async function main() {
  const tmp = tempDir('copy');
  const srcDir = path.join(tmp.dir, 'out');
  const written = await writeRandomFile(path.join(srcDir, FILE), BYTES, 'copy-throughput');
  const srcFile = path.join(srcDir, FILE);
  // The fixture's 2 GiB are dirty in the page cache; written back now, they do not slow the first rounds.
  await spawnTimed(['sync', srcFile]);
  info(BENCH, `wrote ${BYTES} bytes`);
  const svc = await startTestService({ label: 'bench_copy', env: { LOG_LEVEL: 'silent', SOURCE_FILE_ROOTS: tmp.dir } });
  const pg = postgres(svc.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const storage = createFsStorage({ root: path.join(tmp.dir, 'storage'), publicUrl: 'http://127.0.0.1:1', secret: 'bench-secret-0123456789' });
    const source = new FileSource(`file://${srcDir}`);
    const [file] = await source.list();
    const key = 'bench-user/bench-artifact/0';
    const cpTarget = path.join(tmp.dir, 'cp.out');

    const { api, userId } = await newUser(svc, 'bench-copy');
    const { id: datasetId } = await api.datasets.create.mutate({ name: 'big-run', format: 'jsonl', rowCount: 1200 });
    // The root filesystem is ext4 mounted with `discard`: deleting 2 GiB queues a TRIM that the next journal
    // commit waits for, so the next writer's fsync paid for the previous one's delete. A syncfs after each
    // delete settles it outside the measurements.
    const settle = () => spawnTimed(['sync', '-f', tmp.dir]);
    /** A training job with its metrics reported, ready to complete with the 2 GiB output. */
    const prepare = (round: number) => startTrainingJob(svc, api, { datasetId, name: `big-run-${round}` });
    /**
     * ms from `jobs.complete` returning to model_ready. Jobs are prepared up front, so the ingest starts
     * writing as soon after the previous writer's delete as cp and copyToStorage do.
     */
    const ingest = async ({ jobId, worker }: Awaited<ReturnType<typeof prepare>>, round: number): Promise<number> => {
      const link = `/models/${artifactIdFor(jobId)}`;
      await worker.jobs.complete.mutate({
        jobId,
        outputUri: `file://${srcDir}`,
        summary: { epochsCompleted: 3, totalSteps: 300, durationSeconds: 5400, costUsd: 3.42 },
      });
      const t0 = performance.now();
      for (;;) {
        const rows = await pg`select 1 from notifications where user_id = ${userId} and link = ${link} and type = 'model_ready'`;
        if (rows.length) break;
        const [failed] = await pg`select ingest_error from training_jobs where id = ${jobId} and ingest_status = 'failed'`;
        if (failed) throw new Error(`ingest failed: ${failed.ingest_error}`);
        if (performance.now() - t0 > 300_000) throw new Error(`round ${round}: no model_ready after 300 s`);
        await Bun.sleep(5);
      }
      const ms = performance.now() - t0;
      const [phase] = await pg`
        select extract(epoch from (t.ingest_started_at - b.created_on)) * 1000 as before_copy,
               extract(epoch from (n.created_at - t.ingest_started_at)) * 1000 as copy_to_delivery
        from pgboss.job b, training_jobs t, notifications n
        where b.name = 'ingest-artifact' and b.data->>'jobId' = ${jobId} and t.id = ${jobId} and n.link = ${link}`;
      info(
        BENCH,
        `ingest ${round + 1}: queued → ingest started ${Number(phase?.before_copy).toFixed(0)} ms, → delivered ${Number(phase?.copy_to_delivery).toFixed(0)} ms`,
      );
      const [stored] = await pg`select sha256 from artifact_files where artifact_id = ${artifactIdFor(jobId)}`;
      if (stored?.sha256 !== written.sha256) throw new Error('the service stored different bytes');
      fs.rmSync(path.join(svc.dataDir, 'storage', storagePrefix(artifactIdFor(jobId))), { recursive: true, force: true });
      await settle();
      return ms;
    };

    const e2e: number[] = [];
    const app: number[] = [];
    const sha: number[] = [];
    const cpSync: number[] = [];
    // openssl writes nothing: measured on its own. The three writers take turns in a rotating order, each
    // first once: on this VM the writer that follows cp + sync's delete was measured 1.5x slower whichever
    // it was (the same copy 3.2-3.5 s first, 2.0-2.3 s second; `perf` shows the difference in the kernel's
    // copy into the page cache, copy_folio_from_iter_atomic, 19 % of samples against 3 %), a state of the
    // VM's memory, not of the writer. Best of ROUNDS each, so every writer is judged in its fair position.
    for (let round = 0; round < ROUNDS; round++) sha.push(await spawnTimed(['openssl', 'dgst', '-sha256', srcFile]));
    const jobs: Awaited<ReturnType<typeof prepare>>[] = [];
    for (let round = 0; round < ROUNDS; round++) jobs.push(await prepare(round));
    const writers = {
      cp: async () => {
        cpSync.push(await spawnTimed(['sh', '-c', 'cp "$1" "$2" && sync "$2"', 'sh', srcFile, cpTarget]));
        fs.rmSync(cpTarget, { force: true });
        await settle();
      },
      ingest: async (round: number) => {
        e2e.push(await ingest(jobs[round]!, round));
      },
      copy: async () => {
        const t = performance.now();
        const result = await copyToStorage({ source, file: file!, storage, key, contentType: 'application/octet-stream', fileName: FILE });
        app.push(performance.now() - t);
        if (result.sha256 !== written.sha256) throw new Error('copyToStorage stored different bytes');
        await storage.deletePrefix(key);
        await settle();
      },
    };
    const names = Object.keys(writers) as (keyof typeof writers)[];
    for (let round = 0; round < ROUNDS; round++) {
      const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
      for (const name of order) await writers[name](round);
      info(
        BENCH,
        `round ${round + 1} (${order.join(', ')}): cp+sync ${cpSync[round]!.toFixed(0)} ms, ingest ${e2e[round]!.toFixed(0)} ms, copyToStorage ${app[round]!.toFixed(0)} ms ` +
          `(openssl ${sha[round]!.toFixed(0)} ms)`,
      );
    }
    const best = (xs: number[]) => mbPerSecond(BYTES, Math.min(...xs));
    const e2eMBs = best(e2e);
    const appMBs = best(app);
    const shaMBs = best(sha);
    const cpSyncMBs = best(cpSync);
    const slower = Math.min(shaMBs, cpSyncMBs);
    const note = `best of ${ROUNDS}, page cache not dropped`;
    emit(BENCH, 'anchor: openssl dgst -sha256, 2 GiB', shaMBs, 'MB/s', null, note);
    emit(BENCH, 'anchor: cp + sync, 2 GiB', cpSyncMBs, 'MB/s', null, note);
    emit(BENCH, 'ingest 2 GiB single file: jobs.complete → model_ready', e2eMBs, 'MB/s', null, note);
    emit(BENCH, 'copyToStorage 2 GiB (file → fs driver)', appMBs, 'MB/s', null, note);
    emit(
      BENCH,
      'ratio ingest / slower of (openssl, cp + sync)',
      e2eMBs / slower,
      'x',
      '>= 0.8',
      `slower anchor: ${shaMBs < cpSyncMBs ? 'openssl' : 'cp + sync'}`,
    );
    emit(BENCH, 'ratio copyToStorage / slower of (openssl, cp + sync)', appMBs / slower, 'x');
  } finally {
    await pg.end();
    await svc.stop();
    tmp.done();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
