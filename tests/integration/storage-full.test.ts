import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { serveOutput } from '../helpers/output-server.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

// A full disk. The storage folder (DATA_DIR/storage) is a real 8 MiB tmpfs; outputs
// stay in DATA_DIR/outputs, on the ordinary disk. We run as root (as CI does), so mount works.
let svc: TestService;
let storageDir: string;
let mounted = false;
beforeAll(async () => {
  svc = await startTestService({ label: 'diskfull' });
  storageDir = path.join(svc.dataDir, 'storage');
  fs.mkdirSync(storageDir, { recursive: true });
  const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', storageDir]);
  if (mount.exitCode !== 0) throw new Error(`mount tmpfs failed: ${mount.stderr.toString()}`);
  mounted = true;
});
afterAll(async () => {
  if (mounted) Bun.spawnSync(['umount', storageDir]);
  await svc?.stop();
});

const FILLER = () => path.join(storageDir, 'filler');
/** Writes a file into the tmpfs until the disk refuses, leaving `leave` bytes free. */
function fill(leave = 0) {
  const fd = fs.openSync(FILLER(), 'a');
  try {
    const free = () => {
      const s = fs.statfsSync(storageDir);
      return s.bavail * s.bsize;
    };
    const chunk = Buffer.alloc(64 * 1024, 1);
    while (free() - leave >= 4096) {
      try {
        fs.writeSync(fd, chunk, 0, Math.min(chunk.length, free() - leave));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}
/** What the ingest of `jobId` left in storage: every attempt writes under the one prefix derived from the job. */
const storedObjects = (jobId: string) => {
  const dir = path.join(storageDir, storagePrefix(artifactIdFor(jobId)));
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }) : [];
};

async function readyz() {
  const res = await fetch(`${svc.url}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; checks: { storage: { ok: boolean; freeBytes?: number; degraded?: boolean } } },
  };
}

describe('a full disk', () => {
  test('/readyz reports the storage free space, and degraded (still ready) when it runs low', async () => {
    const ok = await readyz();
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('ready');
    expect(ok.body.checks.storage.freeBytes).toBeGreaterThan(7 * 1024 * 1024);
    expect(ok.body.checks.storage.freeBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(ok.body.checks.storage.degraded).toBe(false);

    fill(64 * 1024); // below 2 % of 8 MiB (168 KB)
    try {
      const low = await readyz();
      expect(low.status).toBe(200);
      expect(low.body.status).toBe('degraded');
      expect(low.body.checks.storage).toMatchObject({ ok: true, degraded: true });
      expect(low.body.checks.storage.freeBytes).toBeLessThan(168 * 1024);
    } finally {
      fs.rmSync(FILLER());
    }
  });

  test('an output that cannot fit fails at once, before copying, with sizes, and is not retried', async () => {
    expectErrorLog(/ingest failed .*(Not enough storage space|ran out of space)/);
    const u = await newUser(svc, 'full');
    const run = await runTrainingJob(svc, u.api, { steps: 100, lora: { padToBytes: 12_000_000 } });
    const job = await waitForIngest(u.api, run.jobId, 20_000);
    expect(job.ingestStatus).toBe('failed');
    expect(job.ingestError).toMatch(/^Not enough storage space for this model: it needs 1[23](\.\d)? MB, [78](\.\d)? MB free\./);
    expect(job.ingestAttempts).toBe(1);
    expect(storedObjects(run.jobId)).toEqual([]);
  }, 60_000);

  test('the disk filling up during the copy fails with a clear message, once, and leaves nothing behind', async () => {
    expectErrorLog(/ingest failed .*(Not enough storage space|ran out of space)/);
    const u = await newUser(svc, 'enospc');
    // The GPU node's HTTP file server holds the bytes back mid-file until another writer has filled the disk.
    const nodeDir = path.join(svc.dataDir, 'outputs', 'gpu-node');
    const { files } = await writeLoraOutput(nodeDir, { layers: 2, padToBytes: 5_000_000 });
    let reachedGate!: () => void;
    const atGate = new Promise<void>((r) => (reachedGate = r));
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const server = serveOutput(nodeDir, files, {
      intercept: (p) => {
        if (p !== 'adapter_model.safetensors') return undefined;
        const bytes = fs.readFileSync(path.join(nodeDir, p));
        let sent = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(c) {
              if (sent === 1024 * 1024) {
                reachedGate();
                await gate;
              }
              const end = Math.min(sent + 256 * 1024, bytes.length);
              c.enqueue(bytes.subarray(sent, end));
              sent = end;
              if (sent === bytes.length) c.close();
            },
          }),
          { headers: { 'content-length': String(bytes.length) } },
        );
      },
    });
    try {
      const run = await runTrainingJob(svc, u.api, { steps: 100, writeFiles: false, outputUri: server.uri });
      await Promise.race([
        atGate,
        waitForIngest(u.api, run.jobId, 20_000).then((j) => Promise.reject(new Error(`ingest ended before the gate: ${j.ingestError}`))),
      ]);
      // Files are copied several at a time: let every other file be stored, so the gated one is the copy the
      // full disk stops (the one the message must name).
      const committed = () => storedObjects(run.jobId).filter((entry) => /^\d+$/.test(path.basename(String(entry)))).length;
      while (committed() < files.length - 1) await Bun.sleep(10);
      fill();
      openGate();
      const job = await waitForIngest(u.api, run.jobId, 20_000);
      expect(job.ingestStatus).toBe('failed');
      expect(job.ingestError).toBe('Storage ran out of space while copying adapter_model.safetensors. Retry the ingest once space is freed.');
      expect(job.ingestAttempts).toBe(1);
      expect(storedObjects(run.jobId)).toEqual([]);
    } finally {
      openGate();
      server.stop();
      fs.rmSync(FILLER(), { force: true });
    }
  }, 60_000);
});
