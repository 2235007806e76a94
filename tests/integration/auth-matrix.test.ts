// Every procedure of the root router through the one auth matrix (tests/helpers/auth-matrix.ts):
// anonymous, unknown and wrong-kind tokens, another identity's record, invalid input, and the owner's call.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { appRouter } from '../../server/trpc/root.ts';
import { runSharedAuthTests, type MatrixWorld, type ProcedureSpec } from '../helpers/auth-matrix.ts';
import { workspaceMembers } from '../../db/schema/index.ts';
import { insertArtifact, sampleJobConfig } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { outputFolder } from '../helpers/training.ts';

interface World extends MatrixWorld {
  modelId: string;
  fileId: string;
  jobId: string;
  datasetId: string;
  tokenId: string;
  notificationIds: string[];
  /** A team workspace the owner owns, with two more members; and one to delete. */
  workspaceId: string;
  doomedWorkspaceId: string;
  doomedToken: string;
  mates: [string, string];
  inviteId: string;
  inviteToken: string;
}

let svc: TestService;
let w: World;

async function jobOf(api: ReturnType<typeof client>, datasetId: string) {
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
  // The owner acts through a token of a team workspace (a token reaches its own workspace only), and
  // every record of the owner's lives there; the workspace to delete has a token of its own.
  const web = client(svc.url, { cookie: owner.cookie });
  const { id: workspaceId } = await web.workspaces.create.mutate({ name: 'Team' });
  const { id: doomedWorkspaceId } = await web.workspaces.create.mutate({ name: 'Doomed' });
  const { token: teamToken } = await web.tokens.create.mutate({ name: 'team', workspaceId });
  const { token: doomedToken } = await web.tokens.create.mutate({ name: 'doomed', workspaceId: doomedWorkspaceId });
  const api = client(svc.url, { token: teamToken });
  const { id: datasetId } = await api.datasets.create.mutate({ name: 'd' });
  const { id: otherDataset } = await other.api.datasets.create.mutate({ name: 'd' });
  const mine = await jobOf(api, datasetId);
  const theirs = await jobOf(other.api, otherDataset);
  // The owner's job completes with real output, so jobs.complete is accepted and its ingest succeeds.
  await writeLoraOutput(outputFolder(svc, mine.jobId), { layers: 1, hidden: 32 });
  const model = await insertArtifact(svc.deps, owner.userId, { workspaceId, files: [{ path: 'adapter_model.safetensors' }] });
  const { id: tokenId } = await api.tokens.create.mutate({ name: 'to-revoke' });
  const mates = await Promise.all([newUser(svc, 'mate1'), newUser(svc, 'mate2')]);
  await svc.deps.database.db.insert(workspaceMembers).values(mates.map((m) => ({ workspaceId, userId: m.userId, role: 'member' as const })));
  const invite = await api.workspaces.members.invite.mutate({ workspaceId, email: 'invitee@example.com', role: 'member' });
  w = {
    url: svc.url,
    owner: { token: teamToken, workerToken: mine.workerToken },
    other: { token: other.token, workerToken: theirs.workerToken },
    modelId: model.id,
    fileId: model.files[0]!.id,
    jobId: mine.jobId,
    datasetId,
    tokenId,
    notificationIds: [crypto.randomUUID()],
    workspaceId,
    doomedWorkspaceId,
    doomedToken,
    mates: [mates[0].userId, mates[1].userId],
    inviteId: invite.id,
    inviteToken: invite.token,
  };
}, 60_000);
afterAll(() => svc?.stop());

const world = () => w;
const NOT_UUID = 'not-a-uuid';
/** A valid uuid, for inputs whose other field is the invalid one. */
const x0 = () => '00000000-0000-4000-8000-000000000000';

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
  {
    path: 'models.share',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId }),
    invalid: { input: { modelId: x0(), expiresInDays: 91 }, field: 'expiresInDays' },
    ownsRecord: true,
  },
  {
    path: 'models.unshare',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId }),
    invalid: { input: { modelId: NOT_UUID }, field: 'modelId' },
    ownsRecord: true,
  },
  { path: 'workspaces.list', type: 'query', caller: 'user' },
  {
    path: 'workspaces.get',
    type: 'query',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId }),
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
    ownsRecord: true,
  },
  { path: 'workspaces.create', type: 'mutation', caller: 'user', input: () => ({ name: 'x' }), invalid: { input: { name: '' }, field: 'name' } },
  {
    path: 'workspaces.rename',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, name: 'Team 2' }),
    invalid: { input: { workspaceId: x0(), name: '' }, field: 'name' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.leave',
    type: 'mutation',
    caller: 'user',
    // The owner is the last owner: CONFLICT, an accepted call that changes nothing.
    input: (x) => ({ workspaceId: x.workspaceId }),
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.list',
    type: 'query',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId }),
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.invites',
    type: 'query',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId }),
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.invite',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, email: 'someone@example.com', role: 'viewer' }),
    invalid: { input: { workspaceId: x0(), email: 'someone@example.com', role: 'boss' }, field: 'role' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.revokeInvite',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, inviteId: x.inviteId }),
    invalid: { input: { workspaceId: x0(), inviteId: NOT_UUID }, field: 'inviteId' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.accept',
    type: 'mutation',
    caller: 'user',
    // For another email address (and revoked above): CONFLICT, whoever calls; never NOT_FOUND for a real token.
    input: (x) => ({ token: x.inviteToken }),
    invalid: { input: { token: '' }, field: 'token' },
  },
  {
    path: 'workspaces.members.setRole',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, userId: x.mates[0], role: 'viewer' }),
    invalid: { input: { workspaceId: x0(), userId: 'u', role: 'boss' }, field: 'role' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.members.remove',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, userId: x.mates[1] }),
    invalid: { input: { workspaceId: NOT_UUID, userId: 'u' }, field: 'workspaceId' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.delete',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.doomedWorkspaceId }),
    ownToken: (x) => x.doomedToken,
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
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

/**
 * Public procedures: their token is the credential (a share link, an invitation), so they answer
 * anonymous callers; tests/integration/shares.test.ts, workspaces.test.ts and role-matrix.test.ts cover them.
 */
const PUBLIC = ['shares.get', 'shares.download', 'workspaces.members.preview'];

describe('the matrix covers the router', () => {
  test('every procedure of appRouter has a line above, or is public', () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    expect([...specs.map((s) => s.path), ...PUBLIC].sort()).toEqual(procedures);
  });
});
