// `lora pull` against a running service, its signed links passing through a proxy that counts, throttles, holds
// or refuses them: resume after kill -9, links renewed when they expire, corruption caught, --include, aliases,
// checkpoints, a repeated pull, and the compiled binary run from a folder without node_modules.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_MAIN, cliHome, runCli, spawnCli } from '../helpers/cli.ts';
import { fileBytes, type InsertedArtifact, insertArtifact } from '../helpers/factories.ts';
import { startProxy, type TestProxy } from '../helpers/http-proxy.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';

const MiB = 1024 * 1024;
const json = (text: string) => new TextEncoder().encode(text);

let proxy: TestProxy;
let svc: TestService;
let home: ReturnType<typeof cliHome>;
let env: Record<string, string>;
let resumeBot: InsertedArtifact;
let aliasBot: InsertedArtifact;
let corruptBot: InsertedArtifact;
let slowBot: InsertedArtifact;

beforeAll(async () => {
  proxy = await startProxy();
  // Links live 3 s, and point at the proxy (PUBLIC_URL), as a CDN in front of storage would see them.
  svc = await startTestService({ label: 'cli_pull', env: { PUBLIC_URL: proxy.url, SIGNED_URL_TTL_SECONDS: '3' } });
  proxy.setUpstream(svc.url);
  // Sign-up checks the Origin against PUBLIC_URL: everything goes through the proxy.
  const user = await newUser({ ...svc, url: proxy.url }, 'cli-pull');
  home = cliHome();
  env = { LORA_URL: proxy.url, LORA_TOKEN: user.token };
  // Large enough (80 MiB ≥ the 64 MiB ranged threshold) to be fetched in parallel ranges and hashed on a worker.
  resumeBot = await insertArtifact(svc.deps, user.userId, {
    name: 'resume-bot',
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes('resume', 80 * MiB), kind: 'adapter_weights' },
      { path: 'adapter_config.json', bytes: json('{"r":8,"lora_alpha":16}'), kind: 'adapter_config' },
      { path: 'tokenizer.json', bytes: fileBytes('tok', MiB), kind: 'tokenizer' },
    ],
  });
  aliasBot = await insertArtifact(svc.deps, user.userId, {
    name: 'alias-bot',
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes('alias', 2 * MiB), kind: 'adapter_weights' },
      { path: 'adapter_config.json', bytes: json('{"r":8}'), kind: 'adapter_config' },
      { path: 'tokenizer.json', bytes: fileBytes('alias-tok', 300_000), kind: 'tokenizer' },
      { path: 'checkpoint-100/adapter_model.safetensors', bytes: fileBytes('ck100', MiB), kind: 'checkpoint' },
      { path: 'checkpoint-100/adapter_config.json', bytes: json('{"r":8,"step":100}'), kind: 'checkpoint' },
      { path: 'checkpoint-200/adapter_model.safetensors', bytes: fileBytes('ck200', MiB), kind: 'checkpoint' },
    ],
  });
  await user.api.models.setAlias.mutate({ modelId: aliasBot.id, alias: 'production' });
  corruptBot = await insertArtifact(svc.deps, user.userId, {
    name: 'corrupt-bot',
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes('corrupt', 3 * MiB), kind: 'adapter_weights' },
      { path: 'adapter_config.json', bytes: json('{"r":4}'), kind: 'adapter_config' },
    ],
  });
  slowBot = await insertArtifact(svc.deps, user.userId, {
    name: 'slow-bot',
    files: [
      { path: 'a.safetensors', bytes: fileBytes('slow-a', 3 * MiB), kind: 'adapter_weights' },
      { path: 'b.safetensors', bytes: fileBytes('slow-b', 3 * MiB), kind: 'other' },
    ],
  });
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  await proxy?.stop();
  home?.done();
});

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every file under `dir`, relative, sorted. */
function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join('/'))
    .sort();
}

function expectVerified(dir: string, model: InsertedArtifact, paths = model.files.map((f) => f.path)) {
  expect(listing(dir)).toEqual([...paths].sort());
  for (const p of paths) expect(sha256(path.join(dir, p))).toBe(model.files.find((f) => f.path === p)!.sha256);
}

describe('lora pull', () => {
  test('a pull killed with SIGKILL half-way resumes from the bytes on disk and verifies', async () => {
    const dir = path.join(home.home, 'resume');
    const total = resumeBot.files.reduce((s, f) => s + f.size, 0);
    proxy.reset();
    // 20 MiB go through, then every connection stalls: the kill lands mid-way whatever the machine's speed.
    proxy.holdAfter(20 * MiB);
    const first = spawnCli(['pull', 'resume-bot', '--to', dir], { home, env });
    // Progress keeps coming while no byte does, and says so; by then the sidecar holds what was written.
    const stalled = await first.waitFor(
      (e) =>
        e.event === 'progress' &&
        Array.isArray(e.files) &&
        e.files.some((f: { state: string; bytes: number }) => f.state === 'stalled' && f.bytes > 0),
    );
    expect(stalled.bytes as number).toBeGreaterThan(0);
    expect(stalled.bytes as number).toBeLessThan(total);
    first.proc.kill('SIGKILL');
    const killed = await first.result();
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(dir, 'adapter_model.safetensors'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'adapter_model.safetensors.part.json'))).toBe(true);

    proxy.release();
    proxy.reset();
    const second = await runCli(['pull', 'resume-bot', '--to', dir], { home, env });
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const starts = second.events.filter((e) => e.event === 'file_start') as { path: string; size: number; resumeFrom: number }[];
    const weights = starts.find((s) => s.path === 'adapter_model.safetensors')!;
    expect(weights.resumeFrom).toBeGreaterThan(0);
    // Only the missing bytes were asked for, as byte ranges.
    const missing = starts.reduce((s, f) => s + f.size - f.resumeFrom, 0);
    expect(proxy.served).toBe(missing);
    expect(proxy.served).toBeLessThan(total);
    expect(proxy.fileRequests.every((r) => r.range !== null && r.status === 206)).toBe(true);
    expectVerified(dir, resumeBot);
    expect(second.events.at(-1)).toMatchObject({ event: 'done', status: 'ok', downloaded: missing });
  }, 60_000);

  test('Ctrl-C stops cleanly: exit 130, one line, the part files and their record kept', async () => {
    const dir = path.join(home.home, 'interrupted');
    proxy.reset();
    proxy.holdAfter(10 * MiB);
    try {
      const run = spawnCli(['pull', 'resume-bot', '--to', dir], { home, env });
      await run.waitFor((e) => e.event === 'progress' && (e.bytes as number) > 0);
      run.proc.kill('SIGINT');
      const result = await run.result();
      expect(result.code).toBe(130);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('interrupted');
      expect(result.events.at(-1)).toMatchObject({ event: 'error', code: 130 });
      const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_model.safetensors.part.json'), 'utf8')) as { done: [number, number][] };
      expect(sidecar.done.length).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(dir, 'adapter_model.safetensors'))).toBe(false);
    } finally {
      proxy.release();
    }
  }, 30_000);

  test('links that expire during a throttled pull are renewed, and the pull completes', async () => {
    const dir = path.join(home.home, 'slow');
    proxy.reset();
    // 1 MB/s, one connection: each 3 MiB file takes > 3 s, so the second one's link has expired when its turn comes.
    proxy.throttle(1_000_000);
    try {
      const run = await runCli(['pull', 'slow-bot', '--to', dir, '--parallel', '1'], { home, env });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.events.some((e) => e.event === 'refresh_links' && e.reason === 'expiring')).toBe(true);
      expectVerified(dir, slowBot);
    } finally {
      proxy.throttle(null);
    }
  }, 60_000);

  test('a link storage refuses (an expired signature) is renewed and the request made again', async () => {
    const dir = path.join(home.home, 'refused');
    proxy.reset();
    proxy.refuseNext(1);
    const run = await runCli(['pull', 'corrupt-bot', '--to', dir, '--include', '*.json'], { home, env });
    expect(run.code).toBe(0);
    expect(proxy.fileRequests.map((r) => r.status)).toEqual([403, 206]);
    expect(run.events.some((e) => e.event === 'refresh_links' && e.reason === 'refused')).toBe(true);
    expectVerified(dir, corruptBot, ['adapter_config.json']);
  }, 30_000);

  test('a stored object corrupted on disk fails the pull, names the file and leaves nothing under its name', async () => {
    const dir = path.join(home.home, 'corrupt');
    const weights = corruptBot.files.find((f) => f.path === 'adapter_model.safetensors')!;
    const stored = path.join(svc.dataDir, 'storage', ...weights.key.split('/'));
    const bytes = fs.readFileSync(stored);
    bytes[bytes.length >> 1]! ^= 0xff;
    fs.writeFileSync(stored, bytes);
    const run = await runCli(['pull', 'corrupt-bot', '--to', dir], { home, env });
    expect(run.code).toBe(5);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('adapter_model.safetensors');
    expect(run.events).toContainEqual(expect.objectContaining({ event: 'error', path: 'adapter_model.safetensors', code: 5 }));
    // The file, its part and sidecar are gone; the other file verified and stays.
    expect(listing(dir)).toEqual(['adapter_config.json']);
  }, 30_000);

  test('--include and family@alias choose the files; a second pull checks the hashes and downloads nothing', async () => {
    const some = path.join(home.home, 'alias-json');
    const run = await runCli(['pull', 'alias-bot@production', '--to', some, '--include', '*.json'], { home, env });
    expect(run.code).toBe(0);
    // A pattern without `/` matches file names at any depth.
    expectVerified(some, aliasBot, ['adapter_config.json', 'checkpoint-100/adapter_config.json', 'tokenizer.json']);

    const nested = path.join(home.home, 'alias-nested');
    expect((await runCli(['pull', aliasBot.id, '--to', nested, '--include', 'checkpoint-*/*.safetensors'], { home, env })).code).toBe(0);
    expectVerified(nested, aliasBot, ['checkpoint-100/adapter_model.safetensors', 'checkpoint-200/adapter_model.safetensors']);

    // The default folder is ./<family>, under the working directory.
    const cwd = fs.mkdtempSync(path.join(home.home, 'cwd-'));
    expect((await runCli(['pull', 'alias-bot@production'], { home, env, cwd })).code).toBe(0);
    expectVerified(path.join(cwd, 'alias-bot'), aliasBot);

    proxy.reset();
    const again = await runCli(['pull', 'alias-bot@production'], { home, env, cwd });
    expect(again.code).toBe(0);
    expect(proxy.fileRequests).toEqual([]);
    expect(again.events.filter((e) => e.event === 'verified' && e.already === true)).toHaveLength(aliasBot.files.length);
    expect(again.events.at(-1)).toMatchObject({ event: 'done', status: 'nothing_to_download', downloaded: 0 });
  }, 60_000);

  test('--checkpoint takes that folder and the top-level tokenizer; an unknown one exits 4 naming the others', async () => {
    const dir = path.join(home.home, 'checkpoint');
    const run = await runCli(['pull', 'alias-bot', '--to', dir, '--checkpoint', 'checkpoint-100'], { home, env });
    expect(run.code).toBe(0);
    expectVerified(dir, aliasBot, ['checkpoint-100/adapter_config.json', 'checkpoint-100/adapter_model.safetensors', 'tokenizer.json']);

    const unknown = await runCli(['pull', 'alias-bot', '--to', dir, '--checkpoint', 'checkpoint-999'], { home, env });
    expect(unknown.code).toBe(4);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('checkpoint-100, checkpoint-200');
  }, 30_000);

  test('a reference to no model exits 4, a malformed one 2, with one line each', async () => {
    const missing = await runCli(['pull', 'no-such-family', '--to', path.join(home.home, 'none')], { home, env });
    expect(missing.code).toBe(4);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const malformed = await runCli(['pull', 'Not A Ref!', '--to', path.join(home.home, 'none')], { home, env });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  test('the compiled binary runs from a folder with no node_modules: --help, and a ranged, worker-hashed pull', async () => {
    const bin = fs.mkdtempSync(path.join(home.home, 'bin-'));
    const outfile = path.join(bin, 'lora');
    const build = Bun.spawnSync(['bun', 'build', '--compile', CLI_MAIN, path.join(path.dirname(CLI_MAIN), 'hash.worker.ts'), '--outfile', outfile], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    expect(build.exitCode, build.stderr.toString()).toBe(0);
    expect(fs.readdirSync(bin)).toEqual(['lora']);

    const help = await runCli(['--help'], { home, env: {}, cwd: bin, command: [outfile] });
    expect(help.code).toBe(0);
    expect(help.lines.join('\n')).toContain('Exit codes:');

    const dir = path.join(bin, 'models');
    const run = await runCli(['pull', 'resume-bot', '--to', dir], { home, env, cwd: bin, command: [outfile] });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expectVerified(dir, resumeBot);
  }, 120_000);
});
