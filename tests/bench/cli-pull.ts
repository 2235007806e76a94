/**
 * `lora pull` of a ~2 GB model against the pair a careful user would otherwise run: `curl` of the same signed
 * link into a file, then `openssl dgst -sha256` of it. The pull verifies the SHA-256 too, so it can only keep up
 * if hashing overlaps the download (goal: ≥ 0.9 × the pair's speed). Both are timed as whole commands (process
 * start, and for the pull its two calls to the service), alternating, best of 3, page cache hot, the output
 * deleted after each round. The pull runs the compiled binary (`bun build --compile`, as `bun run build:cli`).
 * Standalone: `bun tests/bench/cli-pull.ts`; `CLI_PULL_BYTES=256000000` for a quick run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { artifactFiles, modelArtifacts } from '../../db/schema/index.ts';
import { writeRandomFile } from '../fixtures/lora.ts';
import { CLI_MAIN } from '../helpers/cli.ts';
import { insertArtifact } from '../helpers/factories.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import { emit, info, mbPerSecond, tempDir } from './lib.ts';

const BENCH = 'cli-pull';
const BYTES = Number(process.env.CLI_PULL_BYTES ?? 2_000_000_000);
const ROUNDS = 3;

/** Runs a command to the end; its wall time in ms (a failure throws with its stderr). */
async function timedRun(cmd: string[], env: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const proc = Bun.spawn(cmd, { stdout: 'ignore', stderr: 'pipe', env: { ...process.env, ...env } });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}: ${stderr.slice(-500)}`);
  return ms;
}

export async function main() {
  const svc = await startTestService({ label: 'bench_cli_pull' });
  const work = tempDir('cli-pull');
  try {
    const { api, userId, token } = await newUser(svc, 'bench-cli-pull');
    const model = await insertArtifact(svc.deps, userId, {
      name: 'bench-pull',
      files: [{ path: 'adapter_model.safetensors', kind: 'adapter_weights' }],
    });
    const file = model.files[0]!;
    const stored = path.join(svc.dataDir, 'storage', ...file.key.split('/'));
    info(BENCH, `writing ${BYTES} bytes`);
    const { sha256 } = await writeRandomFile(stored, BYTES, 'cli-pull');
    const db = svc.deps.database.db;
    await db.update(artifactFiles).set({ sizeBytes: BYTES, sha256 }).where(eq(artifactFiles.id, file.id));
    await db.update(modelArtifacts).set({ totalBytes: BYTES }).where(eq(modelArtifacts.id, model.id));

    const binary = path.join(work.dir, 'lora');
    const build = Bun.spawnSync(['bun', 'build', '--compile', CLI_MAIN, path.join(path.dirname(CLI_MAIN), 'hash.worker.ts'), '--outfile', binary]);
    if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString()}`);
    const cliEnv = { LORA_URL: svc.url, LORA_TOKEN: token, XDG_CONFIG_HOME: path.join(work.dir, 'config') };

    const out = path.join(work.dir, 'out');
    const curlFile = path.join(work.dir, 'curl.bin');
    const ours = async () => {
      const ms = await timedRun([binary, 'pull', model.id, '--to', out, '--json'], cliEnv);
      if (fs.statSync(path.join(out, file.path)).size !== BYTES) throw new Error('the pull wrote the wrong size');
      fs.rmSync(out, { recursive: true, force: true });
      return ms;
    };
    const pair = async () => {
      // A fresh link per round, as a user would have; signing it is not timed (the pull's own signing is).
      const url = (await api.models.download.mutate({ modelId: model.id })).files[0]!.url;
      const t = performance.now();
      await timedRun(['curl', '-sf', '-o', curlFile, url]);
      const proc = Bun.spawn(['openssl', 'dgst', '-sha256', curlFile], { stdout: 'pipe' });
      const digest = await new Response(proc.stdout).text();
      if ((await proc.exited) !== 0 || !digest.includes(sha256)) throw new Error(`openssl dgst did not print ${sha256}: ${digest}`);
      const ms = performance.now() - t;
      fs.rmSync(curlFile, { force: true });
      return ms;
    };

    // One unmeasured round each: the stored file in the page cache, the binary and curl paged in.
    await ours();
    await pair();
    const best = { ours: Infinity, pair: Infinity };
    for (let round = 0; round < ROUNDS; round++) {
      best.ours = Math.min(best.ours, await ours());
      best.pair = Math.min(best.pair, await pair());
      info(BENCH, `round ${round + 1}: pull ${Math.round(best.ours)} ms, curl + openssl ${Math.round(best.pair)} ms (best so far)`);
    }
    const label = `${(BYTES / 1e9).toFixed(BYTES >= 1e9 ? 0 : 2)} GB`;
    emit(BENCH, `lora pull ${label}, verified (best of ${ROUNDS})`, mbPerSecond(BYTES, best.ours), 'MB/s');
    emit(BENCH, `anchor: curl + openssl dgst -sha256, same link (best of ${ROUNDS})`, mbPerSecond(BYTES, best.pair), 'MB/s');
    emit(BENCH, 'ratio lora pull / (curl + openssl)', best.pair / best.ours, 'x', '>= 0.9', 'loopback, fs storage, page cache hot');
  } finally {
    await svc.stop();
    work.done();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
