// Every procedure of the root router through the one auth matrix (tests/helpers/auth-matrix.ts):
// anonymous, unknown and wrong-kind tokens, another identity's record, invalid input, and the owner's call.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { appRouter } from '../../server/trpc/root.ts';
import { runSharedAuthTests, type MatrixWorld, type ProcedureSpec } from '../helpers/auth-matrix.ts';
import { workspaceMembers } from '../../db/schema/index.ts';
import { insertArtifact, sampleJobConfig } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { outputFolder, runTrainingJob, waitForExports, waitForIngest } from '../helpers/training.ts';

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
  /** Models of the owner's team for the trash: one deleted then restored, one purged (nothing else touches them). */
  trashIds: { restored: string; purged: string };
  /** The family of `modelId` (models.versions, models.resolve). */
  family: string;
  /** Two models of the owner's team, for models.compare and models.downloadMany (nothing else touches them). */
  pairIds: [string, string];
  /** An ingested model of the owner's team whose adapter the GGUF export maps, its export already made. */
  exportModelId: string;
  /** Webhooks of the owner's team (to a local receiver answering 204): one for every procedure, one to delete. */
  webhookId: string;
  doomedWebhookId: string;
}

let svc: TestService;
let w: World;
/** The team's webhook receiver: webhooks.test (and any event of the team) is delivered here. */
const receiver = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null, { status: 204 }) });

async function jobOf(api: ReturnType<typeof client>, datasetId: string) {
  return api.jobs.create.mutate({
    datasetId,
    name: 'matrix',
    config: { ...sampleJobConfig, epochs: 1 },
    gpu: { type: 'A100-80GB', count: 1 },
  });
}

beforeAll(async () => {
  // Webhooks to the local receiver (http on 127.0.0.1) need private hosts allowed.
  svc = await startTestService({ label: 'matrix', env: { WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' } });
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
  const pair = await Promise.all(
    [1, 2].map(() => insertArtifact(svc.deps, owner.userId, { workspaceId, family: 'pair', files: [{ path: 'a.bin' }] })),
  );
  const trashed = await Promise.all([1, 2].map(() => insertArtifact(svc.deps, owner.userId, { workspaceId, files: [{ path: 'a.bin' }] })));
  const { id: tokenId } = await api.tokens.create.mutate({ name: 'to-revoke' });
  // The alias models.removeAlias removes (models.setAlias sets another).
  await api.models.setAlias.mutate({ modelId: model.id, alias: 'doomed' });
  const mates = await Promise.all([newUser(svc, 'mate1'), newUser(svc, 'mate2')]);
  await svc.deps.database.db.insert(workspaceMembers).values(mates.map((m) => ({ workspaceId, userId: m.userId, role: 'member' as const })));
  const invite = await api.workspaces.members.invite.mutate({ workspaceId, email: 'invitee@example.com', role: 'member' });
  // A real ingest (the export needs the fit verdict and a real adapter), exported once here: the matrix's accepted
  // models.export then answers with that export and leaves no job running when the service stops.
  const exportable = await runTrainingJob(svc, api, { name: 'exportable', datasetId, lora: { layers: 2 } });
  const { artifactId: exportModelId } = await waitForIngest(api, exportable.jobId);
  await api.models.export.mutate({ modelId: exportModelId!, format: 'gguf' });
  expect((await waitForExports(api, exportModelId!)).map((e) => e.status)).toEqual(['ready']);
  const hook = { url: `http://127.0.0.1:${receiver.port}/hook`, events: ['model.ready' as const] };
  const [{ id: webhookId }, { id: doomedWebhookId }] = [await api.webhooks.create.mutate(hook), await api.webhooks.create.mutate(hook)];
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
    trashIds: { restored: trashed[0]!.id, purged: trashed[1]!.id },
    family: model.family,
    pairIds: [pair[0]!.id, pair[1]!.id],
    exportModelId: exportModelId!,
    webhookId,
    doomedWebhookId,
  };
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  receiver.stop(true);
});

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
    path: 'models.downloads',
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
  {
    path: 'models.compare',
    type: 'query',
    caller: 'user',
    input: (x) => ({ modelIds: x.pairIds }),
    invalid: { input: { modelIds: [x0(), x0()] }, field: 'modelIds' },
    ownsRecord: true,
  },
  {
    path: 'models.downloadMany',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelIds: x.pairIds }),
    invalid: { input: { modelIds: [] }, field: 'modelIds' },
    ownsRecord: true,
  },
  {
    path: 'models.export',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.exportModelId, format: 'gguf' }),
    invalid: { input: { modelId: x0(), format: 'onnx' }, field: 'format' },
    ownsRecord: true,
  },
  {
    path: 'models.exports',
    type: 'query',
    caller: 'user',
    input: (x) => ({ modelId: x.exportModelId }),
    invalid: { input: { modelId: NOT_UUID }, field: 'modelId' },
    ownsRecord: true,
  },
  {
    path: 'models.versions',
    type: 'query',
    caller: 'user',
    input: (x) => ({ family: x.family, workspaceId: x.workspaceId }),
    invalid: { input: { family: 'Not A Family' }, field: 'family' },
    ownsRecord: true,
  },
  {
    path: 'models.setAlias',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId, alias: 'production' }),
    invalid: { input: { modelId: x0(), alias: 'v3' }, field: 'alias' },
    ownsRecord: true,
  },
  {
    path: 'models.removeAlias',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId, alias: 'doomed' }),
    invalid: { input: { modelId: x0(), alias: 'Prod' }, field: 'alias' },
    ownsRecord: true,
  },
  {
    path: 'models.resolve',
    type: 'query',
    caller: 'user',
    input: (x) => ({ family: x.family, workspaceId: x.workspaceId }),
    invalid: { input: { family: 'f', alias: 'production', version: 1 }, field: 'version' },
    ownsRecord: true,
  },
  {
    path: 'models.update',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId, description: 'edited', tags: ['Matrix'] }),
    invalid: { input: { modelId: x0(), tags: ['has space'] }, field: 'tags' },
    ownsRecord: true,
  },
  // Delete then restore (in this order) the same model; purge another.
  {
    path: 'models.delete',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelIds: [x.trashIds.restored] }),
    invalid: { input: { modelIds: [] }, field: 'modelIds' },
    ownsRecord: true,
  },
  {
    path: 'models.restore',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelIds: [x.trashIds.restored] }),
    invalid: { input: { modelIds: [NOT_UUID] }, field: 'modelIds' },
    ownsRecord: true,
  },
  {
    path: 'models.purge',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelIds: [x.trashIds.purged] }),
    invalid: { input: { modelIds: Array.from({ length: 101 }, () => crypto.randomUUID()) }, field: 'modelIds' },
    ownsRecord: true,
  },
  {
    path: 'models.pruneCheckpoints',
    type: 'mutation',
    caller: 'user',
    // The model has no checkpoints: accepted, nothing pruned.
    input: (x) => ({ modelId: x.modelId, keep: 'best' }),
    invalid: { input: { modelId: x0(), keep: 0 }, field: 'keep' },
    ownsRecord: true,
  },
  {
    path: 'models.promoteCheckpoint',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ modelId: x.modelId, checkpoint: 'final' }),
    invalid: { input: { modelId: x0(), checkpoint: '' }, field: 'checkpoint' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.update',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId, settings: { keepCheckpoints: 'all' } }),
    invalid: { input: { workspaceId: x0(), settings: { keepCheckpoints: 0 } }, field: 'settings.keepCheckpoints' },
    ownsRecord: true,
  },
  {
    path: 'workspaces.usage',
    type: 'query',
    caller: 'user',
    input: (x) => ({ workspaceId: x.workspaceId }),
    invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' },
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
  { path: 'notifications.markAllRead', type: 'mutation', caller: 'user' },
  {
    path: 'webhooks.create',
    type: 'mutation',
    caller: 'user',
    input: () => ({ url: `http://127.0.0.1:${receiver.port}/created`, events: ['export.ready'] }),
    invalid: { input: { url: 'https://example.com/hook', events: ['model.exploded'] }, field: 'events' },
  },
  { path: 'webhooks.list', type: 'query', caller: 'user', input: () => ({}), invalid: { input: { workspaceId: NOT_UUID }, field: 'workspaceId' } },
  {
    path: 'webhooks.update',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ webhookId: x.webhookId, description: 'edited' }),
    invalid: { input: { webhookId: x0(), url: 'ftp://example.com/hook' }, field: 'url' },
    ownsRecord: true,
  },
  {
    path: 'webhooks.rotateSecret',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ webhookId: x.webhookId }),
    invalid: { input: { webhookId: NOT_UUID }, field: 'webhookId' },
    ownsRecord: true,
  },
  {
    path: 'webhooks.test',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ webhookId: x.webhookId }),
    invalid: { input: { webhookId: NOT_UUID }, field: 'webhookId' },
    ownsRecord: true,
  },
  {
    path: 'webhooks.deliveries',
    type: 'query',
    caller: 'user',
    input: (x) => ({ webhookId: x.webhookId }),
    invalid: { input: { webhookId: x0(), limit: 0 }, field: 'limit' },
    ownsRecord: true,
  },
  {
    path: 'webhooks.delete',
    type: 'mutation',
    caller: 'user',
    input: (x) => ({ webhookId: x.doomedWebhookId }),
    invalid: { input: { webhookId: NOT_UUID }, field: 'webhookId' },
    ownsRecord: true,
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
