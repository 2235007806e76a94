import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { BODY_LIMITS, MAX_BATCH_CALLS } from '../../server/http/body-limits.ts';
import { MAX_CONFIG_BYTES } from '../../server/jobs/schemas.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { sampleJobConfig } from '../helpers/factories.ts';

// A regression guard for unbounded job configs and tRPC batches, no body caps, and inputs that passed zod
// but made Postgres (or a recursive walk) fail with a 500. Each case: a clear 4xx, and nothing written.
let svc: TestService;
let user: Awaited<ReturnType<typeof newUser>>;
let datasetId: string;
beforeAll(async () => {
  svc = await startTestService({ label: 'limits' });
  user = await newUser(svc, 'limits');
  datasetId = (await user.api.datasets.create.mutate({ name: 'ds' })).id;
});
afterAll(async () => {
  await svc?.stop();
});

const baseConfig = sampleJobConfig;

function call(path: string, body: string | object, token = user.token, query = '') {
  return fetch(`${svc.url}/trpc/${path}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const get = (path: string, input: object) =>
  fetch(`${svc.url}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: { authorization: `Bearer ${user.token}` } });

const count = async (table: string) =>
  Number((await svc.deps.database.db.execute<{ n: number }>(sql.raw(`select count(*)::int as n from ${table}`)))[0]!.n);
const jobBody = (config: string) => `{"datasetId":"${datasetId}","name":"big","gpu":{"type":"A100","count":1},"config":${config}}`;

async function expectBadRequest(res: Response, field?: string) {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { data: { code: string; zodError?: unknown } } };
  expect(body.error.data.code).toBe('BAD_REQUEST');
  if (field) expect(JSON.stringify(body.error)).toContain(field);
}

describe('job config bounds', () => {
  test('a config over 64 KB is refused, and no job is created', async () => {
    const before = await count('training_jobs');
    const res = await call('jobs.create', jobBody(JSON.stringify({ ...baseConfig, notes: 'x'.repeat(MAX_CONFIG_BYTES) })));
    await expectBadRequest(res, 'config');
    expect(await count('training_jobs')).toBe(before);
  });

  test('a config nested 21 levels is refused; 20 levels is accepted', async () => {
    const nest = (levels: number) => `${'{"a":'.repeat(levels - 1)}1${'}'.repeat(levels - 1)}`;
    const before = await count('training_jobs');
    await expectBadRequest(await call('jobs.create', jobBody(JSON.stringify(baseConfig).replace(/}$/, `,"deep":${nest(21)}}`))), 'nested');
    expect(await count('training_jobs')).toBe(before);
    const ok = await call('jobs.create', jobBody(JSON.stringify(baseConfig).replace(/}$/, `,"deep":${nest(19)}}`)));
    expect(ok.status).toBe(200);
    expect(await count('training_jobs')).toBe(before + 1);
  });

  test('a config nested 50,000 deep answers 400, not 500', async () => {
    const before = await count('training_jobs');
    const deep = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
    const res = await call('jobs.create', jobBody(JSON.stringify(baseConfig).replace(/}$/, `,"deep":${deep}}`)));
    expect(res.status).toBe(400);
    expect(await count('training_jobs')).toBe(before);
  });

  test('jobs.list returns summaries without config; jobs.get keeps it', async () => {
    const { jobId } = await user.api.jobs.create.mutate({
      datasetId,
      name: 'cfg',
      config: { ...baseConfig, extra: { a: [1, 2] } },
      gpu: { type: 'A100', count: 1 },
    });
    const listed = (await user.api.jobs.list.query()).find((j) => j.id === jobId)!;
    expect(listed).toBeDefined();
    expect('config' in listed).toBe(false);
    expect(listed.ingestStatus).toBe('none');
    expect((await user.api.jobs.get.query({ jobId })).config).toEqual({ ...baseConfig, extra: { a: [1, 2] } });
  });
});

describe('tRPC batches and body sizes', () => {
  test(`a batch of ${MAX_BATCH_CALLS + 1} calls is refused with 400 and runs none of them; ${MAX_BATCH_CALLS} pass`, async () => {
    const before = await count('api_tokens');
    const batch = (n: number) =>
      call(
        Array.from({ length: n }, () => 'tokens.create').join(','),
        Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { name: `b${i}` }])),
        user.token,
        '?batch=1',
      );
    const refused = await batch(MAX_BATCH_CALLS + 1);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('Batch call exceeds maximum size');
    expect(await count('api_tokens')).toBe(before);
    const accepted = await batch(MAX_BATCH_CALLS);
    expect(accepted.status).toBe(200);
    expect(await count('api_tokens')).toBe(before + MAX_BATCH_CALLS);
  });

  test('a tRPC body over 1 MiB gets 413 PAYLOAD_TOO_LARGE in our envelope, with or without Content-Length', async () => {
    const before = await count('api_tokens');
    const big = JSON.stringify({ name: 'x'.repeat(BODY_LIMITS.trpc) });
    const res = await call('tokens.create', big);
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.requestId).toBeString();
    // Streamed (chunked, no Content-Length): counted as it arrives.
    const chunks = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < chunks.length; i += 65536) c.enqueue(chunks.subarray(i, i + 65536));
        c.close();
      },
    });
    const streamed = await fetch(`${svc.url}/trpc/tokens.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
      body: stream,
    });
    expect(streamed.status).toBe(413);
    expect(await count('api_tokens')).toBe(before);
  });

  test('reportMetrics with 10,000 full-length points fits its own, larger limit', async () => {
    const { jobId, workerToken } = await user.api.jobs.create.mutate({ datasetId, name: 'm', config: baseConfig, gpu: { type: 'A100', count: 1 } });
    const points = Array.from({ length: 10_000 }, (_, i) => ({
      step: 1_999_990_000 + i,
      epoch: 123456.78901234567,
      trainingLoss: 1.2345678901234567,
      validationLoss: 0.12345678901234566, // 17 significant digits, as JSON.stringify writes this double
      learningRate: 0.00012345678901234567,
    }));
    const body = JSON.stringify({ jobId, points });
    expect(body.length).toBeGreaterThan(BODY_LIMITS.trpc);
    const res = await call('jobs.reportMetrics', body, workerToken);
    expect(res.status).toBe(200);
    expect(await count(`metrics_points where job_id = '${jobId}'`)).toBe(10_000);
  });

  test('an auth body over 64 KiB gets 413 and creates no account', async () => {
    const before = await count('users');
    const res = await fetch(`${svc.url}/api/auth/sign-up/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: svc.url },
      body: JSON.stringify({ email: 'big@example.com', password: 'correct horse battery', name: 'x'.repeat(BODY_LIMITS.auth) }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await count('users')).toBe(before);
  });
});

describe('values that passed zod but failed in Postgres answer 400', () => {
  test.each(['createdAfter', 'createdBefore'])('models.list filter.%s in year 0000', async (field) => {
    const res = await get('models.list', { filter: { [field]: '0000-01-01T00:00:00Z' } });
    await expectBadRequest(res, field);
    expect((await get('models.list', { filter: { [field]: '0001-01-01T00:00:00Z' } })).status).toBe(200);
  });

  test('reportMetrics epoch 1e-50 (underflows real) is refused and writes nothing; 0 and small normal values pass', async () => {
    const { jobId, workerToken } = await user.api.jobs.create.mutate({ datasetId, name: 'e', config: baseConfig, gpu: { type: 'A100', count: 1 } });
    const res = await call('jobs.reportMetrics', { jobId, points: [{ step: 1, epoch: 1e-50, trainingLoss: 1 }] }, workerToken);
    await expectBadRequest(res, 'epoch');
    expect(await count(`metrics_points where job_id = '${jobId}'`)).toBe(0);
    const ok = await call(
      'jobs.reportMetrics',
      {
        jobId,
        points: [
          { step: 1, epoch: 0, trainingLoss: 1 },
          { step: 2, epoch: 1e-30, trainingLoss: 1 },
        ],
      },
      workerToken,
    );
    expect(ok.status).toBe(200);
    expect(await count(`metrics_points where job_id = '${jobId}'`)).toBe(2);
  });
});
