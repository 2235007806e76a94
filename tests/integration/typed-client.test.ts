// server/client.ts as an outside project uses it: type-checked on its own, bundled without server code,
// and run as a separate process against a live service.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../server/trpc/root.ts';
import { createClient } from '../../server/client.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const ROOT = resolve(import.meta.dir, '../..');
const PROJECT = join(ROOT, 'tests/client-project');

async function tsc(project: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(['bunx', 'tsc', '--noEmit', '-p', project], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}

/** The same wrong call as wrong-call.ts but without @ts-expect-error, in a throwaway project extending ours. */
async function checkWrongCall(): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'client-project-'));
  try {
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ extends: join(PROJECT, 'tsconfig.json'), files: ['bad.ts'] }));
    await writeFile(
      join(dir, 'bad.ts'),
      `import { createClient } from ${JSON.stringify(join(ROOT, 'server/client.ts'))};\n` +
        `const api = createClient({ baseUrl: 'http://127.0.0.1:1', token: 't' });\n` +
        `void api.models.list.query({ limit: 'x' });\n`,
    );
    return await tsc(join(dir, 'tsconfig.json'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Both type checks (several seconds each) run alongside the service start-up; tests await their results.
let projectCheck: Promise<{ code: number; output: string }>;
let negativeCheck: Promise<{ code: number; output: string }>;
let svc: TestService;
let user: Awaited<ReturnType<typeof newUser>>;
let modelId: string;
let stored: Map<string, string>;

beforeAll(async () => {
  projectCheck = tsc(join(PROJECT, 'tsconfig.json'));
  negativeCheck = checkWrongCall();
  svc = await startTestService({ label: 'client' });
  user = await newUser(svc, 'client');
  const run = await runTrainingJob(svc, user.api, { name: 'client-example' });
  const job = await waitForIngest(user.api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  modelId = job.artifactId!;
  const model = await user.api.models.get.query({ modelId });
  stored = new Map(model.files.map((f) => [f.id, f.sha256]));
}, 60_000);
afterAll(() => svc?.stop());

describe('typed client', () => {
  test('the client project type-checks under its own strict tsconfig, wrong calls included (@ts-expect-error)', async () => {
    const { code, output } = await projectCheck;
    expect(output).toBe('');
    expect(code).toBe(0);
  }, 120_000);

  test('a wrong call without @ts-expect-error fails the type check', async () => {
    const { code, output } = await negativeCheck;
    expect(code).not.toBe(0);
    expect(output).toContain("Type 'string' is not assignable to type 'number'");
  }, 120_000);

  test('bundling server/client.ts pulls in @trpc/client and nothing from the server', async () => {
    const build = await Bun.build({ entrypoints: [join(ROOT, 'server/client.ts')], target: 'browser', metafile: true });
    expect(build.success).toBe(true);
    const inputs = Object.keys(build.metafile!.inputs);
    expect(inputs.filter((p) => !p.includes('node_modules/@trpc/'))).toEqual(['server/client.ts']);
    const code = await build.outputs[0]!.text();
    expect(code).not.toMatch(/drizzle|postgres|pg-boss|better-auth|hono/i);
  });

  test('example.ts, run as its own process, lists, downloads and hashes a file', async () => {
    const proc = Bun.spawn(['bun', join(PROJECT, 'example.ts')], {
      cwd: PROJECT,
      env: { ...process.env, BASE_URL: svc.url, TOKEN: user.token, MODEL_ID: modelId },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const printed = JSON.parse(out.trim()) as { listed: number; model: string; fileId: string; sha256: string; expiresAt: string };
    expect(printed.listed).toBe(1);
    expect(printed.model).toBe('client-example');
    expect(printed.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(printed.sha256).toBe(stored.get(printed.fileId)!);
    expect(Date.parse(printed.expiresAt)).toBeGreaterThan(Date.now());
  }, 60_000);

  test('in process: batched calls, typed errors, a custom fetch and the Bearer header', async () => {
    const seen: string[] = [];
    const api = createClient({
      baseUrl: `${svc.url}/`,
      token: user.token,
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        seen.push(new Headers(init?.headers).get('authorization') ?? '');
        return fetch(input, init);
      }) as typeof fetch,
    });
    const [list, model] = await Promise.all([api.models.list.query(), api.models.get.query({ modelId })]);
    expect(seen).toEqual([`Bearer ${user.token}`]); // two queries, one request
    expect(list.models[0]?.id).toBe(modelId);
    expect(model.files.length).toBe(stored.size);
    const err = await api.models.get.query({ modelId: crypto.randomUUID() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<AppRouter>).data?.code).toBe('NOT_FOUND');
    const anon = createClient({ baseUrl: svc.url, token: 'lat_not-a-token' });
    await expect(anon.models.list.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });
});
