// Every procedure of the root router through the one auth matrix (tests/helpers/auth-matrix.ts):
// anonymous, unknown and wrong-kind tokens, another identity's record, invalid input, and the owner's call.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { appRouter } from '../../server/trpc/root.ts';
import { runSharedAuthTests, type MatrixWorld, type ProcedureSpec } from '../helpers/auth-matrix.ts';
import { insertArtifact, sampleJobConfig } from '../helpers/factories.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { outputFolder } from '../helpers/training.ts';

interface World extends MatrixWorld {
  modelId: string;
  fileId: string;
  jobId: string;
  datasetId: string;
  tokenId: string;
  notificationIds: string[];
}

let svc: TestService;
let w: World;

async function jobOf(api: Awaited<ReturnType<typeof newUser>>['api'], datasetId: string) {
  return api.jobs.create.mutate({
    datasetId,
    name: 'matrix',
    config: { ...sampleJobConfig, epochs: 1 },
    gpu: { type: 'A100-80GB', count: 1 },
  });
}

beforeAll(async () => {
  svc = await startTestService({ label: 'matrix' });
  const [owner, other] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'other')]);
  const { id: datasetId } = await owner.api.datasets.create.mutate({ name: 'd' });
  const { id: otherDataset } = await other.api.datasets.create.mutate({ name: 'd' });
  const mine = await jobOf(owner.api, datasetId);
  const theirs = await jobOf(other.api, otherDataset);
  // The owner's job completes with real output, so jobs.complete is accepted and its ingest succeeds.
  await writeLoraOutput(outputFolder(svc, mine.jobId), { layers: 1, hidden: 32 });
  const model = await insertArtifact(svc.deps, owner.userId, { files: [{ path: 'adapter_model.safetensors' }] });
  const { id: tokenId } = await owner.api.tokens.create.mutate({ name: 'to-revoke' });
  w = {
    url: svc.url,
    owner: { token: owner.token, workerToken: mine.workerToken },
    other: { token: other.token, workerToken: theirs.workerToken },
    modelId: model.id,
    fileId: model.files[0]!.id,
    jobId: mine.jobId,
    datasetId,
    tokenId,
    notificationIds: [crypto.randomUUID()],
  };
}, 60_000);
afterAll(() => svc?.stop());

const world = () => w;
const NOT_UUID = 'not-a-uuid';

/** One line per procedure; the order is the order a job lives in (start before complete before fail). */
const specs: ProcedureSpec<World>[] = [
  { path: 'models.list', type: 'query', caller: 'user', input: () => ({}), invalid: { input: { limit: 0 }, field: 'limit' } },
  {
    path: 'models.get',
    type: 'query',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId }),
    invalid: { input: { modelId: NOT_UUID }, field: 'modelId' },
    ownsRecord: true,
  },
  {
    path: 'models.download',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId, fileIds: [x.fileId] }),
    invalid: { input: { modelId: NOT_UUID }, field: 'modelId' },
    ownsRecord: true,
  },
  { path: 'datasets.list', type: 'query', caller: 'user' },
  { path: 'datasets.create', type: 'mutation', caller: 'user', input: () => ({ name: 'x' }), invalid: { input: { name: '' }, field: 'name' } },
  { path: 'notifications.list', type: 'query', caller: 'user', input: () => ({}), invalid: { input: { limit: 0 }, field: 'limit' } },
  {
    path: 'notifications.markRead',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ ids: x.notificationIds }),
    invalid: { input: { ids: [] }, field: 'ids' },
  },
  { path: 'tokens.list', type: 'query', caller: 'user' },
  { path: 'tokens.create', type: 'mutation', caller: 'user', input: () => ({ name: 'x' }), invalid: { input: { name: '' }, field: 'name' } },
  {
    path: 'tokens.revoke',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ id: x.tokenId }),
    invalid: { input: { id: NOT_UUID }, field: 'id' },
    ownsRecord: true,
  },
  { path: 'jobs.list', type: 'query', caller: 'user' },
  {
    path: 'jobs.create',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({
      datasetId: x.datasetId,
      name: 'm',
      config: { ...sampleJobConfig, epochs: 1 },
      gpu: { type: 'A100-80GB', count: 1 },
    }),
    invalid: { input: { datasetId: NOT_UUID, name: 'm', config: {}, gpu: { type: 'x', count: 1 } }, field: 'datasetId' },
  },
  {
    path: 'jobs.get',
    type: 'query',
    caller: 'user',
    input: (x) => ({ jobId: x.jobId }),
    invalid: { input: { jobId: NOT_UUID }, field: 'jobId' },
    ownsRecord: true,
  },
  {
    path: 'jobs.retryIngest',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ jobId: x.jobId }),
    invalid: { input: { jobId: NOT_UUID }, field: 'jobId' },
    ownsRecord: true,
  },
  {
    path: 'jobs.start',
    type: 'mutation',
    caller: 'worker',
    input: (x) => ({ jobId: x.jobId }),
    invalid: { input: { jobId: NOT_UUID }, field: 'jobId' },
    ownsRecord: true,
  },
  {
    path: 'jobs.reportMetrics',
    type: 'mutation',
    caller: 'worker',
    input: (x) => ({ jobId: x.jobId, points: [{ step: 1, trainingLoss: 2.1 }] }),
    invalid: { input: { jobId: NOT_UUID, points: [] }, field: 'jobId' },
    ownsRecord: true,
  },
  {
    path: 'jobs.complete',
    type: 'mutation',
    caller: 'worker',
    input: (x) => ({
      jobId: x.jobId,
      outputUri: `file://${outputFolder(svc, x.jobId)}`,
      summary: { epochsCompleted: 1, totalSteps: 1, durationSeconds: 60, costUsd: 0.1 },
    }),
    invalid: { input: { jobId: NOT_UUID, outputUri: 'file:///x', summary: {} }, field: 'jobId' },
    ownsRecord: true,
  },
  {
    path: 'jobs.fail',
    type: 'mutation',
    caller: 'worker',
    input: (x) => ({ jobId: x.jobId, error: 'x' }),
    invalid: { input: { jobId: NOT_UUID, error: 'x' }, field: 'jobId' },
    ownsRecord: true,
  },
];

for (const spec of specs) runSharedAuthTests(world, spec);

describe('the matrix covers the router', () => {
  test('every procedure of appRouter has a line above', () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    expect(specs.map((s) => s.path).sort()).toEqual(procedures);
  });
});
