// The role matrix of issue 10: every procedure a user can call, by every kind of caller, over real HTTP,
// against one table that states the whole policy. Worker procedures (a job's own token) are in auth-matrix.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { trainingJobs, workspaceMembers } from '../../db/schema/index.ts';
import { appRouter } from '../../server/trpc/root.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { insertArtifact, sampleJobConfig } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { outputFolder, runTrainingJob, waitForExports, waitForIngest } from '../helpers/training.ts';

/**
 * Who calls. owner, admin, member, viewer: members of the team workspace, signed in (session cookie).
 * stranger: signed up, in a workspace of their own only. readToken, writeToken: API tokens the owner made
 * for the team workspace. otherToken: the stranger's own write token (their personal workspace).
 */
const IDENTITIES = ['owner', 'admin', 'member', 'viewer', 'stranger', 'anonymous', 'readToken', 'writeToken', 'otherToken'] as const;
type Identity = (typeof IDENTITIES)[number];

const ok = 'ok';
const UA = 'UNAUTHORIZED';
const FB = 'FORBIDDEN';
const NF = 'NOT_FOUND';
const CF = 'CONFLICT';
type Outcome = typeof ok | typeof UA | typeof FB | typeof NF | typeof CF;
type Row = readonly [Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome];

/**
 * The policy, one row per call (a procedure, and in brackets which record it names when that changes the
 * answer). Records are the team workspace's unless said. The rules (issue 10, api.md "Role rules"):
 * a non-member, and a token of another workspace, get NOT_FOUND; a member whose role is too low FORBIDDEN;
 * no credentials UNAUTHORIZED, except on the public procedures (shares.*, members.preview); a read token
 * acts as a viewer and may call no mutation but models.download; a token never makes workspaces.
 */
// biome-ignore format: a table aligned by column reads as one policy
const MATRIX = {
  //                                                       owner admin member viewer stranger anon read write other
  'models.list':                                          [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.get':                                           [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.download':                                      [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.downloads':                                     [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.share':                                         [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.unshare':                                       [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.versions':                                      [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.resolve':                                       [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.setAlias':                                      [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.removeAlias':                                   [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.pruneCheckpoints':                              [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.promoteCheckpoint':                             [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.update':                                        [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.delete':                                        [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.restore':                                       [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.purge':                                         [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.compare':                                       [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.downloadMany':                                  [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'models.export':                                        [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'models.exports':                                       [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'jobs.create':                                          [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'jobs.list':                                            [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'jobs.get':                                             [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'jobs.retryIngest':                                     [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'datasets.create':                                      [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'datasets.list':                                        [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'tokens.create':                                        [ok,   ok,   ok,    FB,    NF,      UA,  FB,  ok,   NF],
  'tokens.list':                                          [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  // The owner's token: a member or viewer sees only their own tokens, so to them it does not exist.
  'tokens.revoke (the owner’s token)':                    [ok,   ok,   NF,    NF,    NF,      UA,  FB,  ok,   NF],
  // Notifications are the caller's own, in no workspace.
  'notifications.list':                                   [ok,   ok,   ok,    ok,    ok,      UA,  ok,  ok,   ok],
  'notifications.markRead':                               [ok,   ok,   ok,    ok,    ok,      UA,  FB,  ok,   ok],
  'notifications.markAllRead':                            [ok,   ok,   ok,    ok,    ok,      UA,  FB,  ok,   ok],
  'workspaces.list':                                      [ok,   ok,   ok,    ok,    ok,      UA,  ok,  ok,   ok],
  'workspaces.get':                                       [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'workspaces.create':                                    [ok,   ok,   ok,    ok,    ok,      UA,  FB,  FB,   FB],
  'workspaces.rename':                                    [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.delete':                                    [ok,   FB,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.update':                                    [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.usage':                                     [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  // Each caller leaves a team of its own; the owner is its last owner (the write token acts as the owner).
  'workspaces.leave':                                     [CF,   ok,   ok,    ok,    NF,      UA,  FB,  CF,   NF],
  'workspaces.members.list':                              [ok,   ok,   ok,    ok,    NF,      UA,  ok,  ok,   NF],
  'workspaces.members.invites':                           [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.invite (as a member)':              [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.invite (as an owner)':              [ok,   FB,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.revokeInvite':                      [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.preview':                           [ok,   ok,   ok,    ok,    ok,      ok,  ok,  ok,   ok],
  // An invitation to another team, for the caller's own email (a token's: its creator's).
  // Joining a workspace is the person's own act, signed in: an API token acts in its own workspace only.
  'workspaces.members.accept (their own invitation)':     [ok,   ok,   ok,    ok,    ok,      UA,  FB,  FB,   FB],
  'workspaces.members.accept (someone else’s)':           [CF,   CF,   CF,    CF,    CF,      UA,  FB,  FB,   FB],
  'workspaces.members.setRole (the member to viewer)':    [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.setRole (the admin to owner)':      [ok,   FB,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.setRole (the last owner to admin)': [CF,   FB,   FB,    FB,    NF,      UA,  FB,  CF,   NF],
  'workspaces.members.remove (the member)':               [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'workspaces.members.remove (the last owner)':           [CF,   FB,   FB,    FB,    NF,      UA,  FB,  CF,   NF],
  // Webhooks carry a secret and reach outside: admins and owners only.
  'webhooks.create':                                      [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.list':                                        [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.update':                                      [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.delete':                                      [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.rotateSecret':                                [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.test':                                        [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'webhooks.deliveries':                                  [ok,   ok,   FB,    FB,    NF,      UA,  FB,  ok,   NF],
  'shares.get':                                           [ok,   ok,   ok,    ok,    ok,      ok,  ok,  ok,   ok],
  'shares.download':                                      [ok,   ok,   ok,    ok,    ok,      ok,  ok,  ok,   ok],
} as const satisfies Record<string, Row>;
type Label = keyof typeof MATRIX;

/** Procedures a training job's worker token calls, not a user; auth-matrix.test.ts covers them. */
const WORKER_PROCEDURES = ['jobs.start', 'jobs.reportMetrics', 'jobs.complete', 'jobs.fail'];

type User = Awaited<ReturnType<typeof newUser>>;
type Scope = 'read' | 'write';

/** A team workspace with the owner, an admin, a member and a viewer; the owner's tokens for it, made when first used. */
interface Team {
  id: string;
  tokens: Partial<Record<Scope, string>>;
}

interface Case {
  type: 'query' | 'mutation';
  /** The call changes who is in the workspace, or deletes it: every identity gets a team of its own. */
  freshTeam?: boolean;
  /** The input, built before each identity's call, so a call that uses its record up gets a fresh one. */
  input: (c: { team: Team; who: Identity }) => unknown;
  /** After an accepted call: waits for the work it started, so none is left running. */
  settle?: (input: never) => Promise<void>;
}

let svc: TestService;
let users: Record<'owner' | 'admin' | 'member' | 'viewer' | 'stranger' | 'host', User>;
let ownerApi: ReturnType<typeof client>;
let team: Team;
let w: {
  datasetId: string;
  jobId: string;
  modelId: string;
  /** An ingested model whose adapter fits a base the GGUF export maps (Qwen2.5-0.5B): models.export accepts it. */
  exportModelId: string;
  showcaseId: string;
  family: string;
  fileId: string;
  shareToken: string;
  inviteToken: string;
  webhookId: string;
};

/** The team's webhook receiver: every delivery of the matrix lands here, answered 204. */
const receiver = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null, { status: 204 }) });
const hook = () => ({ workspaceId: team.id, url: `http://127.0.0.1:${receiver.port}/hook`, events: ['model.ready' as const] });

const newEmail = () => `newcomer-${crypto.randomUUID().slice(0, 8)}@example.com`;
const gpu = { type: 'A100-80GB', count: 1 };

async function tokenOf(t: Team, scope: Scope): Promise<string> {
  t.tokens[scope] ??= (await ownerApi.tokens.create.mutate({ name: `${scope} token`, workspaceId: t.id, scope })).token;
  return t.tokens[scope];
}

/** A team workspace like the shared one. Members are added with one insert: how they join is not what these cases ask. */
async function freshTeam(): Promise<Team> {
  const { id } = await ownerApi.workspaces.create.mutate({ name: 'Fresh team' });
  await svc.deps.database.db.insert(workspaceMembers).values([
    { workspaceId: id, userId: users.admin.userId, role: 'admin' },
    { workspaceId: id, userId: users.member.userId, role: 'member' },
    { workspaceId: id, userId: users.viewer.userId, role: 'viewer' },
  ]);
  return { id, tokens: {} };
}

async function credentials(who: Identity, t: Team): Promise<Record<string, string>> {
  switch (who) {
    case 'anonymous':
      return {};
    case 'readToken':
      return { authorization: `Bearer ${await tokenOf(t, 'read')}` };
    case 'writeToken':
      return { authorization: `Bearer ${await tokenOf(t, 'write')}` };
    case 'otherToken':
      return { authorization: `Bearer ${users.stranger.token}` };
    default:
      return { cookie: users[who].cookie };
  }
}

/** The email a caller signs in with (a token's: its creator's). */
function emailOf(who: Identity): string {
  if (who === 'readToken' || who === 'writeToken') return users.owner.email;
  if (who === 'otherToken') return users.stranger.email;
  if (who === 'anonymous') return newEmail();
  return users[who].email;
}

/** One tRPC call over plain HTTP, as any client makes it: 'ok', or the error's code. */
async function call(path: string, type: 'query' | 'mutation', input: unknown, headers: Record<string, string>): Promise<string> {
  const query = type === 'query' && input !== undefined ? `?input=${encodeURIComponent(JSON.stringify(input))}` : '';
  const res = await fetch(`${svc.url}/trpc/${path}${query}`, {
    method: type === 'query' ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(type === 'mutation' ? { body: JSON.stringify(input ?? null) } : {}),
  });
  const body = (await res.json()) as { error?: { data?: { code?: string } } };
  if (res.ok && !body.error) return ok;
  return body.error?.data?.code ?? `HTTP ${res.status}`;
}

/** A fresh model of the shared team. */
function teamModel() {
  return insertArtifact(svc.deps, users.owner.userId, { workspaceId: team.id, datasetId: w.datasetId, files: [{ path: 'a.bin' }] });
}

/** A completed job of the team whose ingest failed, with its output in place: a retry delivers it. */
async function failedIngest(): Promise<string> {
  const { jobId } = await ownerApi.jobs.create.mutate({
    workspaceId: team.id,
    datasetId: w.datasetId,
    name: 'to retry',
    config: sampleJobConfig,
    gpu,
  });
  const dir = outputFolder(svc, jobId);
  await writeLoraOutput(dir, { layers: 1, hidden: 32 });
  await svc.deps.database.db
    .update(trainingJobs)
    .set({
      status: 'completed',
      completedAt: new Date(),
      outputUri: `file://${dir}`,
      epochsCompleted: 1,
      totalSteps: 10,
      durationSeconds: 60,
      costUsd: 0.1,
      ingestStatus: 'failed',
      ingestError: 'the copy was interrupted',
    })
    .where(eq(trainingJobs.id, jobId));
  return jobId;
}

const CASES: Record<Label, Case> = {
  'models.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'models.get': { type: 'query', input: () => ({ modelId: w.modelId }) },
  'models.download': { type: 'mutation', input: () => ({ modelId: w.modelId, fileIds: [w.fileId] }) },
  'models.downloads': { type: 'query', input: () => ({ modelId: w.modelId }) },
  'models.share': { type: 'mutation', input: () => ({ modelId: w.modelId }) },
  'models.unshare': { type: 'mutation', input: () => ({ modelId: w.modelId }) },
  'models.versions': { type: 'query', input: () => ({ family: w.family, workspaceId: team.id }) },
  'models.resolve': { type: 'query', input: () => ({ family: w.family, workspaceId: team.id }) },
  'models.setAlias': { type: 'mutation', input: () => ({ modelId: w.modelId, alias: 'production' }) },
  'models.removeAlias': {
    type: 'mutation',
    // Set again before each call, so each caller's removal has something to remove.
    input: async () => {
      await ownerApi.models.setAlias.mutate({ modelId: w.modelId, alias: 'staging' });
      return { modelId: w.modelId, alias: 'staging' };
    },
  },
  // The model has no checkpoints: an accepted prune removes nothing, and 'final' is its adapter already.
  'models.pruneCheckpoints': { type: 'mutation', input: () => ({ modelId: w.modelId, keep: 'best' }) },
  'models.promoteCheckpoint': { type: 'mutation', input: () => ({ modelId: w.modelId, checkpoint: 'final' }) },
  'models.update': { type: 'mutation', input: () => ({ modelId: w.modelId, description: 'edited by the matrix', tags: ['matrix'] }) },
  // A model of its own for each call: an accepted delete, restore or purge uses it up.
  'models.delete': { type: 'mutation', input: async () => ({ modelIds: [(await teamModel()).id] }) },
  'models.restore': {
    type: 'mutation',
    input: async () => {
      const { id } = await teamModel();
      await ownerApi.models.delete.mutate({ modelIds: [id] });
      return { modelIds: [id] };
    },
  },
  'models.purge': { type: 'mutation', input: async () => ({ modelIds: [(await teamModel()).id] }) },
  'models.compare': { type: 'query', input: () => ({ modelIds: [w.modelId, w.showcaseId] }) },
  'models.downloadMany': { type: 'mutation', input: () => ({ modelIds: [w.modelId, w.showcaseId] }) },
  // The first accepted call queues the export; later ones get that same export (one per content).
  'models.export': {
    type: 'mutation',
    input: () => ({ modelId: w.exportModelId, format: 'gguf' }),
    settle: async () => {
      expect((await waitForExports(ownerApi, w.exportModelId)).map((e) => e.status)).toEqual(['ready']);
    },
  },
  'models.exports': { type: 'query', input: () => ({ modelId: w.exportModelId }) },
  'jobs.create': {
    type: 'mutation',
    input: () => ({ workspaceId: team.id, datasetId: w.datasetId, name: 'matrix', config: sampleJobConfig, gpu }),
  },
  'jobs.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'jobs.get': { type: 'query', input: () => ({ jobId: w.jobId }) },
  'jobs.retryIngest': {
    type: 'mutation',
    input: async () => ({ jobId: await failedIngest() }),
    settle: async (input: { jobId: string }) => {
      expect((await waitForIngest(ownerApi, input.jobId)).ingestStatus).toBe('ready');
    },
  },
  'datasets.create': { type: 'mutation', input: () => ({ workspaceId: team.id, name: 'matrix data' }) },
  'datasets.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'tokens.create': { type: 'mutation', input: () => ({ workspaceId: team.id, name: 'matrix token' }) },
  'tokens.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'tokens.revoke (the owner’s token)': {
    type: 'mutation',
    input: async () => ({ id: (await ownerApi.tokens.create.mutate({ name: 'to revoke', workspaceId: team.id })).id }),
  },
  'notifications.list': { type: 'query', input: () => ({}) },
  'notifications.markRead': { type: 'mutation', input: () => ({ ids: [crypto.randomUUID()] }) },
  'notifications.markAllRead': { type: 'mutation', input: () => undefined },
  'workspaces.list': { type: 'query', input: () => undefined },
  'workspaces.get': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'workspaces.create': { type: 'mutation', input: () => ({ name: 'Another team' }) },
  'workspaces.rename': { type: 'mutation', input: () => ({ workspaceId: team.id, name: 'Team' }) },
  'workspaces.update': { type: 'mutation', input: () => ({ workspaceId: team.id, settings: { keepCheckpoints: 'all' } }) },
  'workspaces.usage': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'workspaces.delete': { type: 'mutation', freshTeam: true, input: ({ team: t }) => ({ workspaceId: t.id }) },
  'workspaces.leave': { type: 'mutation', freshTeam: true, input: ({ team: t }) => ({ workspaceId: t.id }) },
  'workspaces.members.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'workspaces.members.invites': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'workspaces.members.invite (as a member)': { type: 'mutation', input: () => ({ workspaceId: team.id, email: newEmail(), role: 'member' }) },
  'workspaces.members.invite (as an owner)': { type: 'mutation', input: () => ({ workspaceId: team.id, email: newEmail(), role: 'owner' }) },
  'workspaces.members.revokeInvite': {
    type: 'mutation',
    input: async () => {
      const invite = await ownerApi.workspaces.members.invite.mutate({ workspaceId: team.id, email: newEmail(), role: 'viewer' });
      return { workspaceId: team.id, inviteId: invite.id };
    },
  },
  'workspaces.members.preview': { type: 'query', input: () => ({ token: w.inviteToken }) },
  'workspaces.members.accept (their own invitation)': {
    type: 'mutation',
    input: async ({ who }) => {
      const host = client(svc.url, { cookie: users.host.cookie });
      const { id } = await host.workspaces.create.mutate({ name: 'Host team' });
      const invite = await host.workspaces.members.invite.mutate({ workspaceId: id, email: emailOf(who), role: 'viewer' });
      return { token: invite.token };
    },
  },
  'workspaces.members.accept (someone else’s)': {
    type: 'mutation',
    input: async () => ({
      token: (await ownerApi.workspaces.members.invite.mutate({ workspaceId: team.id, email: newEmail(), role: 'viewer' })).token,
    }),
  },
  'workspaces.members.setRole (the member to viewer)': {
    type: 'mutation',
    freshTeam: true,
    input: ({ team: t }) => ({ workspaceId: t.id, userId: users.member.userId, role: 'viewer' }),
  },
  'workspaces.members.setRole (the admin to owner)': {
    type: 'mutation',
    freshTeam: true,
    input: ({ team: t }) => ({ workspaceId: t.id, userId: users.admin.userId, role: 'owner' }),
  },
  'workspaces.members.setRole (the last owner to admin)': {
    type: 'mutation',
    freshTeam: true,
    input: ({ team: t }) => ({ workspaceId: t.id, userId: users.owner.userId, role: 'admin' }),
  },
  'workspaces.members.remove (the member)': {
    type: 'mutation',
    freshTeam: true,
    input: ({ team: t }) => ({ workspaceId: t.id, userId: users.member.userId }),
  },
  'workspaces.members.remove (the last owner)': {
    type: 'mutation',
    freshTeam: true,
    input: ({ team: t }) => ({ workspaceId: t.id, userId: users.owner.userId }),
  },
  'shares.get': { type: 'query', input: () => ({ token: w.shareToken }) },
  'shares.download': { type: 'mutation', input: () => ({ token: w.shareToken }) },
  'webhooks.create': { type: 'mutation', input: hook },
  'webhooks.list': { type: 'query', input: () => ({ workspaceId: team.id }) },
  'webhooks.update': { type: 'mutation', input: () => ({ webhookId: w.webhookId, description: 'edited by the matrix' }) },
  // A webhook of its own for each call: an accepted delete uses it up.
  'webhooks.delete': { type: 'mutation', input: async () => ({ webhookId: (await ownerApi.webhooks.create.mutate(hook())).id }) },
  'webhooks.rotateSecret': { type: 'mutation', input: () => ({ webhookId: w.webhookId }) },
  'webhooks.test': { type: 'mutation', input: () => ({ webhookId: w.webhookId }) },
  'webhooks.deliveries': { type: 'query', input: () => ({ webhookId: w.webhookId }) },
};

beforeAll(async () => {
  // Webhooks to the local receiver (http on 127.0.0.1) need private hosts allowed.
  svc = await startTestService({ label: 'role-matrix', env: { WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' } });
  const [owner, admin, member, viewer, stranger, host] = await Promise.all(
    ['owner', 'admin', 'member', 'viewer', 'stranger', 'host'].map((label) => newUser(svc, label)),
  );
  users = { owner: owner!, admin: admin!, member: member!, viewer: viewer!, stranger: stranger!, host: host! };
  ownerApi = client(svc.url, { cookie: users.owner.cookie });
  // The shared team joins the way people do: invited by the owner, accepted by each.
  const { id } = await ownerApi.workspaces.create.mutate({ name: 'Team' });
  team = { id, tokens: {} };
  for (const who of ['admin', 'member', 'viewer'] as const) {
    const invite = await ownerApi.workspaces.members.invite.mutate({ workspaceId: id, email: users[who].email, role: who });
    await client(svc.url, { cookie: users[who].cookie }).workspaces.members.accept.mutate({ token: invite.token });
  }
  const { id: datasetId } = await ownerApi.datasets.create.mutate({ workspaceId: id, name: 'team data' });
  const { jobId } = await ownerApi.jobs.create.mutate({ workspaceId: id, datasetId, name: 'team job', config: sampleJobConfig, gpu });
  const model = await insertArtifact(svc.deps, users.owner.userId, { workspaceId: id, datasetId, files: [{ path: 'adapter_model.safetensors' }] });
  // Shared through its own model, which the models.share/unshare rows leave alone.
  const showcase = await insertArtifact(svc.deps, users.owner.userId, { workspaceId: id, datasetId, files: [{ path: 'adapter_model.safetensors' }] });
  const share = await ownerApi.models.share.mutate({ modelId: showcase.id });
  const pending = await ownerApi.workspaces.members.invite.mutate({ workspaceId: id, email: newEmail(), role: 'viewer' });
  // A real ingest: the export needs the fit verdict and a real adapter file.
  const exportable = await runTrainingJob(svc, ownerApi, { name: 'exportable', workspaceId: id, datasetId, lora: { layers: 2 } });
  const ingested = await waitForIngest(ownerApi, exportable.jobId);
  expect(ingested.ingestStatus).toBe('ready');
  w = {
    datasetId,
    jobId,
    modelId: model.id,
    exportModelId: ingested.artifactId!,
    showcaseId: showcase.id,
    family: model.family,
    fileId: model.files[0]!.id,
    shareToken: share.token,
    inviteToken: pending.token,
    webhookId: (await ownerApi.webhooks.create.mutate(hook())).id,
  };
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  receiver.stop(true);
});

describe('the role matrix', () => {
  for (const [label, row] of Object.entries(MATRIX) as [Label, Row][]) {
    test(label, async () => {
      const spec = CASES[label];
      const path = label.split(' ')[0]!;
      const got: Partial<Record<Identity, string>> = {};
      for (const who of IDENTITIES) {
        const t = spec.freshTeam ? await freshTeam() : team;
        const input = await spec.input({ team: t, who });
        got[who] = await call(path, spec.type, input, await credentials(who, t));
        if (got[who] === ok) await spec.settle?.(input as never);
      }
      expect(got).toEqual(Object.fromEntries(IDENTITIES.map((who, i) => [who, row[i]])));
    });
  }

  test('has a row for every procedure a user can call', () => {
    const procedures = Object.keys(appRouter._def.procedures).filter((p) => !WORKER_PROCEDURES.includes(p));
    const covered = new Set(Object.keys(MATRIX).map((label) => label.split(' ')[0]));
    expect([...covered].sort()).toEqual(procedures.sort());
  });
});
