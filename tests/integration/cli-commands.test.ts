// `lora login`, `lora models ls|show` and `lora jobs watch` against a running service, their exit codes and
// one-line errors; and the CLI's bundle, which must carry no server code (it imports only server/client.ts).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_MAIN, cliHome, runCli, spawnCli } from '../helpers/cli.ts';
import { fileBytes, insertArtifact } from '../helpers/factories.ts';
import { startProxy } from '../helpers/http-proxy.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { startTrainingJob } from '../helpers/training.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';

let svc: TestService;
let user: Awaited<ReturnType<typeof newUser>>;
let home: ReturnType<typeof cliHome>;
let env: Record<string, string>;

beforeAll(async () => {
  svc = await startTestService({ label: 'cli_commands' });
  user = await newUser(svc, 'cli-commands');
  home = cliHome();
  env = { LORA_URL: svc.url, LORA_TOKEN: user.token };
  const best = await insertArtifact(svc.deps, user.userId, {
    name: 'support-bot',
    qualityScore: 5,
    files: [{ path: 'adapter_model.safetensors', bytes: fileBytes('support', 4096), kind: 'adapter_weights' }],
  });
  await user.api.models.update.mutate({ modelId: best.id, tags: ['prod'] });
  await user.api.models.setAlias.mutate({ modelId: best.id, alias: 'production' });
  await insertArtifact(svc.deps, user.userId, { name: 'draft-bot', qualityScore: 2 });
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  home?.done();
});

/** Exactly one line on stderr, and nothing that looks like a stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('lora login', () => {
  test('a wrong token is refused with exit 3 and one line, and nothing is saved', async () => {
    const own = cliHome();
    try {
      const run = await runCli(['login', '--url', svc.url, '--token', 'lora_wrong'], { home: own });
      expect(run.code).toBe(3);
      expect(oneLine(run.stderr)).toContain('lora login');
      expect(fs.existsSync(path.join(own.configHome, 'lora-artifacts', 'config.json'))).toBe(false);
    } finally {
      own.done();
    }
  });

  test('a good token is saved (0600) and used; LORA_TOKEN overrides it; a revoked token exits 3', async () => {
    const own = cliHome();
    try {
      const login = await runCli(['login', '--url', `${svc.url}/`, '--token', user.token], { home: own });
      expect(login.stderr).toBe('');
      expect(login.code).toBe(0);
      const file = path.join(own.configHome, 'lora-artifacts', 'config.json');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ url: svc.url, token: user.token });

      const ls = await runCli(['models', 'ls', '--json'], { home: own });
      expect(ls.code).toBe(0);
      expect(JSON.parse(ls.lines.join('\n')).length).toBe(2);

      const overridden = await runCli(['models', 'ls'], { home: own, env: { LORA_TOKEN: 'lora_wrong' } });
      expect(overridden.code).toBe(3);
      oneLine(overridden.stderr);

      const { token, id } = await user.api.tokens.create.mutate({ name: 'to-revoke' });
      expect((await runCli(['models', 'ls'], { home: own, env: { LORA_TOKEN: token } })).code).toBe(0);
      await user.api.tokens.revoke.mutate({ id });
      const revoked = await runCli(['models', 'ls'], { home: own, env: { LORA_TOKEN: token } });
      expect(revoked.code).toBe(3);
      expect(oneLine(revoked.stderr)).toContain('revoked');
    } finally {
      own.done();
    }
  });

  test('no configuration at all exits 3; a service that is not there exits 6', async () => {
    const none = await runCli(['models', 'ls'], { home });
    expect(none.code).toBe(3);
    expect(oneLine(none.stderr)).toContain('not signed in');
    const down = await runCli(['models', 'ls'], { home, env: { LORA_URL: 'http://127.0.0.1:9', LORA_TOKEN: user.token } });
    expect(down.code).toBe(6);
    oneLine(down.stderr);
  });
});

describe('lora models', () => {
  test('ls sorts by quality and filters by tag, as a table or JSON', async () => {
    const table = await runCli(['models', 'ls', '--sort', 'quality'], { home, env });
    expect(table.code).toBe(0);
    expect(table.lines[0]).toMatch(/^ID\s+REF\s+NAME\s+SCORE/);
    expect(table.lines[1]).toContain('support-bot@v1');
    expect(table.lines[2]).toContain('draft-bot@v1');
    const tagged = await runCli(['models', 'ls', '--tag', 'prod', '--json'], { home, env });
    expect((JSON.parse(tagged.lines.join('\n')) as { name: string }[]).map((m) => m.name)).toEqual(['support-bot']);
  });

  test('show resolves family@alias; an unknown model exits 4, a bad option 2', async () => {
    const shown = await runCli(['models', 'show', 'support-bot@production', '--json'], { home, env });
    expect(shown.code).toBe(0);
    const model = JSON.parse(shown.lines.join('\n')) as { name: string; aliases: string[]; files: { path: string }[] };
    expect(model.name).toBe('support-bot');
    expect(model.aliases).toEqual(['production']);
    const text = await runCli(['models', 'show', 'support-bot'], { home, env });
    expect(text.lines.join('\n')).toContain('adapter_model.safetensors');

    const unknown = await runCli(['models', 'show', 'support-bot@staging'], { home, env });
    expect(unknown.code).toBe(4);
    oneLine(unknown.stderr);
    const usage = await runCli(['models', 'ls', '--colour'], { home, env });
    expect(usage.code).toBe(2);
    oneLine(usage.stderr);
  });
});

describe('lora jobs watch', () => {
  /** Completes a started run with a LoRA output, as its GPU worker would. */
  async function deliver(run: Awaited<ReturnType<typeof startTrainingJob>>) {
    const dir = path.join(svc.dataDir, 'outputs', run.jobId);
    fs.mkdirSync(dir, { recursive: true });
    await writeLoraOutput(dir);
    await run.worker.jobs.complete.mutate({
      jobId: run.jobId,
      outputUri: `file://${dir}`,
      summary: { epochsCompleted: 1, totalSteps: 300, durationSeconds: 60, costUsd: 1 },
    });
  }

  test('follows a run until its model is delivered, woken by /api/events: exit 0 with the model', async () => {
    const run = await startTrainingJob(svc, user.api, { name: 'watched-run', family: 'watched' });
    // An hour between polls: only the event stream can tell it in time.
    const watch = spawnCli(['jobs', 'watch', run.jobId, '--interval', '3600', '--json'], { home, env });
    await watch.waitFor((e) => e.event === 'status' && e.status === 'running');
    await deliver(run);
    const result = await watch.result();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const job = await user.api.jobs.get.query({ jobId: run.jobId });
    expect(result.events.at(-1)).toMatchObject({ event: 'ready', jobId: run.jobId, modelId: job.artifactId, ref: 'watched@v1' });
  }, 60_000);

  test('without /api/events, polling alone follows the run to its model', async () => {
    const proxy = await startProxy();
    try {
      proxy.setUpstream(svc.url);
      proxy.hide('/api/events');
      const run = await startTrainingJob(svc, user.api, { name: 'polled-run', family: 'polled' });
      const watch = spawnCli(['jobs', 'watch', run.jobId, '--interval', '1'], { home, env: { ...env, LORA_URL: proxy.url } });
      await deliver(run);
      const result = await watch.result();
      expect(result.code).toBe(0);
      expect(result.lines.join('\n')).toContain('Model ready: polled@v1');
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  test('a run that fails exits 1 with its error', async () => {
    const { jobId, worker } = await startTrainingJob(svc, user.api, { name: 'doomed-run', report: 'none' });
    const watch = spawnCli(['jobs', 'watch', jobId, '--interval', '1', '--json'], { home, env });
    await watch.waitFor((e) => e.event === 'status' && e.status === 'running');
    await worker.jobs.fail.mutate({ jobId, error: 'CUDA out of memory' });
    const result = await watch.result();
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toContain('CUDA out of memory');
  }, 60_000);

  test('an unknown job exits 4', async () => {
    const run = await runCli(['jobs', 'watch', crypto.randomUUID()], { home, env });
    expect(run.code).toBe(4);
    oneLine(run.stderr);
  });
});

test('the CLI bundle carries no server code: only server/cli/ and the typed client', async () => {
  const build = await Bun.build({ entrypoints: [CLI_MAIN], target: 'bun' });
  expect(build.success).toBe(true);
  const text = await build.outputs[0]!.text();
  const ours = [...new Set([...text.matchAll(/^\/\/ (server\/\S+)$/gm)].map((m) => m[1]!))];
  expect(ours.length).toBeGreaterThan(5);
  expect(ours.filter((p) => !p.startsWith('server/cli/') && p !== 'server/client.ts')).toEqual([]);
  expect(text).not.toContain('drizzle-orm');
});
