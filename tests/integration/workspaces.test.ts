// Workspaces as a team uses them: invitations (preview, accept, expiry, reuse), the role rules, the last
// owner, removal and demotion taking effect on the next request (links already signed included), team
// notifications, deleting a workspace with its stored objects, and per-workspace output roots.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { StorageNotFoundError } from '../../server/storage/storage.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf, sampleJobConfig } from '../helpers/factories.ts';
import { client, fixedClock, newUser, signUp, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, runTrainingJob, startTrainingJob, waitForIngest } from '../helpers/training.ts';

const DAY = 24 * 3600;

let tmp: string;
let svc: TestService;
const clock = fixedClock();

type Api = ReturnType<typeof client>;
interface User {
  email: string;
  userId: string;
  cookie: string;
  /** Personal API token. */
  api: Api;
  /** Signed in through the dashboard (session cookie). */
  web: Api;
}

async function user(label: string): Promise<User> {
  const u = await newUser(svc, label);
  return { ...u, web: client(svc.url, { cookie: u.cookie }) };
}

/** A fresh email nobody has signed up with. */
const freshEmail = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}@example.com`;

/** The folder SOURCE_FILE_ROOTS admits for a workspace's jobs. */
const teamFolder = (workspaceId: string, jobId: string) => path.join(tmp, 'teams', workspaceId, jobId);

/** A team workspace owned by `owner`, with `others` joined through real invitations as their role. */
async function team(owner: User, name: string, others: [User, 'admin' | 'member' | 'viewer' | 'owner'][] = []): Promise<string> {
  const { id } = await owner.web.workspaces.create.mutate({ name });
  for (const [u, role] of others) {
    const { token } = await owner.web.workspaces.members.invite.mutate({ workspaceId: id, email: u.email, role });
    expect(await u.web.workspaces.members.accept.mutate({ token })).toEqual({ workspaceId: id, role });
  }
  return id;
}

async function roles(owner: User, workspaceId: string): Promise<Record<string, string>> {
  const members = await owner.web.workspaces.members.list.query({ workspaceId });
  return Object.fromEntries(members.map((m) => [m.userId, m.role]));
}

/** The tRPC error code a call fails with (null when it succeeds). */
async function codeOf(call: Promise<unknown>): Promise<string | null> {
  return call.then(
    () => null,
    (e: { data?: { code?: string } }) => e.data?.code ?? String(e),
  );
}

/** Runs a training job in the workspace of `api` (a token of that workspace), its output in the workspace's folder; waits for the model. */
async function deliverModel(api: Api, workspaceId: string) {
  const run = await runTrainingJob(svc, api, {
    outputUri: `file://${path.join(tmp, 'teams', workspaceId)}/{jobId}`,
    writeOutput: (_dir, jobId) => writeLoraOutput(teamFolder(workspaceId, jobId), { layers: 2, hidden: 32 }),
  });
  const job = await waitForIngest(api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  return { ...run, artifactId: job.artifactId! };
}

beforeAll(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'workspaces-')));
  svc = await startTestService({ label: 'workspaces', now: clock.now, env: { SOURCE_FILE_ROOTS: path.join(tmp, 'teams', '{workspaceId}') } });
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('invitations', () => {
  test('invite -> preview (anonymous) -> accept by the invited email once it signs up; anyone else, or a second use, is CONFLICT', async () => {
    const owner = await user('owner');
    const outsider = await user('outsider');
    const workspaceId = await team(owner, 'Research Lab');
    const email = freshEmail('newcomer');

    // The address is written with capitals by the inviter; the person signs up in lower case.
    const invite = await owner.web.workspaces.members.invite.mutate({ workspaceId, email: email.toUpperCase(), role: 'member' });
    expect(invite.url).toBe(`${svc.deps.env.publicUrl}/invite/${invite.token}`);
    expect(Date.parse(invite.expiresAt)).toBe(clock.now() + 7 * DAY * 1000);
    // Only the hash is stored.
    const stored = await svc.deps.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from workspace_invites where token_hash = encode(sha256(${invite.token}::bytea), 'hex')`,
    );
    expect(stored[0]!.n).toBe(1);

    const anonymous = client(svc.url);
    expect(await anonymous.workspaces.members.preview.query({ token: invite.token })).toEqual({
      workspaceName: 'Research Lab',
      role: 'member',
      email,
      expiresAt: invite.expiresAt,
      status: 'pending',
    });
    expect(await codeOf(anonymous.workspaces.members.preview.query({ token: `${invite.token.slice(0, -2)}xx` }))).toBe('NOT_FOUND');
    // Not signed in: no accepting.
    expect(await codeOf(anonymous.workspaces.members.accept.mutate({ token: invite.token }))).toBe('UNAUTHORIZED');

    // Someone signed in with another address cannot take it, and it stays usable.
    expect(await codeOf(outsider.web.workspaces.members.accept.mutate({ token: invite.token }))).toBe('CONFLICT');
    expect(await codeOf(outsider.web.workspaces.get.query({ workspaceId }))).toBe('NOT_FOUND');
    expect((await anonymous.workspaces.members.preview.query({ token: invite.token })).status).toBe('pending');

    const { cookie, userId } = await signUp(svc.url, email);
    const newcomer = client(svc.url, { cookie });
    expect(await newcomer.workspaces.members.accept.mutate({ token: invite.token })).toEqual({ workspaceId, role: 'member' });
    expect(await newcomer.workspaces.get.query({ workspaceId })).toMatchObject({
      id: workspaceId,
      name: 'Research Lab',
      role: 'member',
      memberCount: 2,
    });
    expect(await roles(owner, workspaceId)).toEqual({ [owner.userId]: 'owner', [userId]: 'member' });

    // Single use: neither the newcomer again nor anyone else.
    expect(await codeOf(newcomer.workspaces.members.accept.mutate({ token: invite.token }))).toBe('CONFLICT');
    expect(await codeOf(outsider.web.workspaces.members.accept.mutate({ token: invite.token }))).toBe('CONFLICT');
    expect((await anonymous.workspaces.members.preview.query({ token: invite.token })).status).toBe('accepted');
    expect(await owner.web.workspaces.members.invites.query({ workspaceId })).toEqual([]);
  });

  test('a person who already has an account is notified of the invitation', async () => {
    const owner = await user('owner');
    const invitee = await user('invitee');
    const workspaceId = await team(owner, 'Notified Team');
    const { token } = await owner.web.workspaces.members.invite.mutate({ workspaceId, email: invitee.email, role: 'viewer' });
    const { notifications } = await invitee.web.notifications.list.query({});
    expect(notifications.map(({ type, link }) => ({ type, link }))).toEqual([{ type: 'workspace_invited', link: `/invite/${token}` }]);
  });

  test('an invitation is good for 7 days: accepted a minute before, CONFLICT a second after', async () => {
    const owner = await user('owner');
    const early = await user('early');
    const late = await user('late');
    const workspaceId = await team(owner, 'Expiring');
    const forEarly = await owner.web.workspaces.members.invite.mutate({ workspaceId, email: early.email, role: 'member' });
    const forLate = await owner.web.workspaces.members.invite.mutate({ workspaceId, email: late.email, role: 'member' });
    try {
      clock.advance(7 * DAY - 60);
      expect(await early.web.workspaces.members.accept.mutate({ token: forEarly.token })).toEqual({ workspaceId, role: 'member' });
      clock.advance(61);
      expect((await client(svc.url).workspaces.members.preview.query({ token: forLate.token })).status).toBe('expired');
      expect(await codeOf(late.web.workspaces.members.accept.mutate({ token: forLate.token }))).toBe('CONFLICT');
      expect(await codeOf(late.web.workspaces.get.query({ workspaceId }))).toBe('NOT_FOUND');
      expect(await roles(owner, workspaceId)).toEqual({ [owner.userId]: 'owner', [early.userId]: 'member' });
      expect(await owner.web.workspaces.members.invites.query({ workspaceId })).toEqual([]);
    } finally {
      clock.advance(-(7 * DAY + 1));
    }
  });

  test('inviting an existing member is CONFLICT; a bad email or an unknown role is BAD_REQUEST; nothing changes', async () => {
    const owner = await user('owner');
    const member = await user('member');
    const workspaceId = await team(owner, 'Strict', [[member, 'member']]);
    const pending = await owner.web.workspaces.members.invite.mutate({ workspaceId, email: freshEmail('pending'), role: 'viewer' });
    const before = { members: await roles(owner, workspaceId), invites: await owner.web.workspaces.members.invites.query({ workspaceId }) };
    expect(before.invites.map((i) => i.id)).toEqual([pending.id]);

    const invite = owner.web.workspaces.members.invite;
    expect(await codeOf(invite.mutate({ workspaceId, email: member.email, role: 'admin' }))).toBe('CONFLICT');
    expect(await codeOf(invite.mutate({ workspaceId, email: member.email.toUpperCase(), role: 'viewer' }))).toBe('CONFLICT');
    expect(await codeOf(invite.mutate({ workspaceId, email: 'not-an-email', role: 'member' }))).toBe('BAD_REQUEST');
    expect(await codeOf(invite.mutate({ workspaceId, email: 'a@b', role: 'member' }))).toBe('BAD_REQUEST');
    // @ts-expect-error an unknown role, as a hand-written client might send it
    expect(await codeOf(invite.mutate({ workspaceId, email: freshEmail('x'), role: 'superuser' }))).toBe('BAD_REQUEST');
    // @ts-expect-error
    expect(await codeOf(owner.web.workspaces.members.setRole.mutate({ workspaceId, userId: member.userId, role: 'root' }))).toBe('BAD_REQUEST');

    expect({ members: await roles(owner, workspaceId), invites: await owner.web.workspaces.members.invites.query({ workspaceId }) }).toEqual(before);
  });
});

describe('owners and roles', () => {
  test('the last owner cannot leave, be demoted or be removed (CONFLICT); with a second owner, they can', async () => {
    const owner = await user('owner');
    const second = await user('second');
    const workspaceId = await team(owner, 'Owned');
    const ws = owner.web.workspaces;
    expect(await codeOf(ws.leave.mutate({ workspaceId }))).toBe('CONFLICT');
    expect(await codeOf(ws.members.setRole.mutate({ workspaceId, userId: owner.userId, role: 'admin' }))).toBe('CONFLICT');
    expect(await codeOf(ws.members.remove.mutate({ workspaceId, userId: owner.userId }))).toBe('CONFLICT');
    expect(await roles(owner, workspaceId)).toEqual({ [owner.userId]: 'owner' });
    // The personal workspace is never left.
    expect(await codeOf(ws.leave.mutate({ workspaceId: await personalWorkspaceOf(svc.deps, owner.userId) }))).toBe('CONFLICT');

    const { token } = await ws.members.invite.mutate({ workspaceId, email: second.email, role: 'owner' });
    await second.web.workspaces.members.accept.mutate({ token });
    expect(await ws.members.setRole.mutate({ workspaceId, userId: owner.userId, role: 'admin' })).toEqual({ userId: owner.userId, role: 'admin' });
    // Now `second` is the last owner.
    expect(await codeOf(second.web.workspaces.leave.mutate({ workspaceId }))).toBe('CONFLICT');
    expect(await owner.web.workspaces.leave.mutate({ workspaceId })).toEqual({ workspaceId });
    expect(await roles(second, workspaceId)).toEqual({ [second.userId]: 'owner' });
  });

  test('an admin cannot make an owner, by role change or by invitation (FORBIDDEN), nor unmake one', async () => {
    const owner = await user('owner');
    const admin = await user('admin');
    const member = await user('member');
    const workspaceId = await team(owner, 'Admins', [
      [admin, 'admin'],
      [member, 'member'],
    ]);
    const before = await roles(owner, workspaceId);
    const ws = admin.web.workspaces;
    expect(await codeOf(ws.members.setRole.mutate({ workspaceId, userId: member.userId, role: 'owner' }))).toBe('FORBIDDEN');
    expect(await codeOf(ws.members.setRole.mutate({ workspaceId, userId: admin.userId, role: 'owner' }))).toBe('FORBIDDEN');
    expect(await codeOf(ws.members.setRole.mutate({ workspaceId, userId: owner.userId, role: 'member' }))).toBe('FORBIDDEN');
    expect(await codeOf(ws.members.remove.mutate({ workspaceId, userId: owner.userId }))).toBe('FORBIDDEN');
    expect(await codeOf(ws.members.invite.mutate({ workspaceId, email: freshEmail('boss'), role: 'owner' }))).toBe('FORBIDDEN');
    expect(await roles(owner, workspaceId)).toEqual(before);
    // What an admin may do: manage the others.
    expect(await ws.members.setRole.mutate({ workspaceId, userId: member.userId, role: 'viewer' })).toEqual({
      userId: member.userId,
      role: 'viewer',
    });
    expect(await owner.web.workspaces.members.invites.query({ workspaceId })).toEqual([]);
  });
});

describe('access ends at once', () => {
  test('removal: the next request is NOT_FOUND, their token of the workspace is UNAUTHORIZED, and links they were given are refused', async () => {
    const owner = await user('owner');
    const member = await user('member');
    const workspaceId = await team(owner, 'Removal', [[member, 'member']]);
    const bytes = fileBytes('removal', 4096);
    const model = await insertArtifact(svc.deps, owner.userId, { workspaceId, files: [{ path: 'adapter_model.safetensors', bytes }] });
    const { token: teamToken } = await member.web.tokens.create.mutate({ name: 'team ci', workspaceId });
    const byToken = client(svc.url, { token: teamToken });

    // Everything works while they are a member.
    expect((await member.web.models.list.query({ workspaceId })).pagination.total).toBe(1);
    expect((await byToken.models.list.query({})).pagination.total).toBe(1);
    const links = await member.web.models.download.mutate({ modelId: model.id });
    const fileUrl = links.files[0]!.url;
    const bundleUrl = links.bundle!.url;
    const first = await fetch(fileUrl);
    expect(first.status).toBe(200);
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(bytes);
    expect((await fetch(bundleUrl, { method: 'HEAD' })).status).toBe(200);

    expect(await owner.web.workspaces.members.remove.mutate({ workspaceId, userId: member.userId })).toEqual({ userId: member.userId });

    expect(await codeOf(member.web.models.list.query({ workspaceId }))).toBe('NOT_FOUND');
    expect(await codeOf(member.web.models.get.query({ modelId: model.id }))).toBe('NOT_FOUND');
    expect(await codeOf(member.web.workspaces.get.query({ workspaceId }))).toBe('NOT_FOUND');
    expect(await codeOf(member.web.models.download.mutate({ modelId: model.id }))).toBe('NOT_FOUND');
    expect(await codeOf(byToken.models.list.query({}))).toBe('UNAUTHORIZED');
    const file = await fetch(fileUrl);
    expect(file.status).toBe(403);
    expect(((await file.json()) as { error: { message: string } }).error.message).toMatch(/no longer have access/);
    expect((await fetch(bundleUrl)).status).toBe(404);
    // Their own workspace is untouched.
    expect((await member.api.models.list.query({})).pagination.total).toBe(0);
    // The same links keep working for whoever is still a member (only the removed member's grant ended).
    const ownerLinks = await owner.web.models.download.mutate({ modelId: model.id });
    expect((await fetch(ownerLinks.files[0]!.url)).status).toBe(200);
  });

  test('demotion to viewer: the next jobs.create is FORBIDDEN (session and token alike); reading still works', async () => {
    const owner = await user('owner');
    const member = await user('member');
    const workspaceId = await team(owner, 'Demotion', [[member, 'member']]);
    const { token } = await member.web.tokens.create.mutate({ name: 'team ci', workspaceId });
    const byToken = client(svc.url, { token });
    const { id: datasetId } = await member.web.datasets.create.mutate({ name: 'tickets', workspaceId });
    const job = { datasetId, config: sampleJobConfig, gpu: { type: 'A100-80GB', count: 1 } };
    await member.web.jobs.create.mutate({ ...job, name: 'before', workspaceId });
    await byToken.jobs.create.mutate({ ...job, name: 'before-token' });

    await owner.web.workspaces.members.setRole.mutate({ workspaceId, userId: member.userId, role: 'viewer' });

    expect(await codeOf(member.web.jobs.create.mutate({ ...job, name: 'after', workspaceId }))).toBe('FORBIDDEN');
    expect(await codeOf(byToken.jobs.create.mutate({ ...job, name: 'after-token' }))).toBe('FORBIDDEN');
    expect(await codeOf(member.web.datasets.create.mutate({ name: 'more', workspaceId }))).toBe('FORBIDDEN');
    const jobs = await member.web.jobs.list.query({ workspaceId });
    expect(JSON.stringify(jobs)).toContain('before-token');
    expect(JSON.stringify(jobs)).not.toContain('"after');
  });
});

describe('team work', () => {
  test('every member is notified when a model of the workspace is delivered; nobody else is', async () => {
    const owner = await user('owner');
    const admin = await user('admin');
    const member = await user('member');
    const viewer = await user('viewer');
    const outsider = await user('outsider');
    const workspaceId = await team(owner, 'Notify Team', [
      [admin, 'admin'],
      [member, 'member'],
      [viewer, 'viewer'],
    ]);
    const { token } = await member.web.tokens.create.mutate({ name: 'gpu', workspaceId });
    const { artifactId } = await deliverModel(client(svc.url, { token }), workspaceId);

    for (const u of [owner, admin, member, viewer]) {
      const { notifications } = await u.web.notifications.list.query({});
      const ready = notifications.filter((n) => n.type === 'model_ready');
      expect(ready.map((n) => n.link)).toEqual([`/models/${artifactId}`]);
      expect(ready[0]!.title).toContain('Notify Team');
    }
    const { notifications } = await outsider.web.notifications.list.query({});
    expect(notifications.filter((n) => n.link === `/models/${artifactId}`)).toEqual([]);
  });

  test('SOURCE_FILE_ROOTS with {workspaceId} admits the output folder of the job’s own workspace, not another’s', async () => {
    const owner = await user('owner');
    const workspaceId = await team(owner, 'Roots');
    const personal = await personalWorkspaceOf(svc.deps, owner.userId);
    const summary = { epochsCompleted: 3, totalSteps: 300, durationSeconds: 5400, costUsd: 3.42 };

    // A personal-workspace job pointing at the team's folder is refused at once.
    const stray = await startTrainingJob(svc, owner.api);
    await writeLoraOutput(teamFolder(workspaceId, stray.jobId), { layers: 2, hidden: 32 });
    const refused = await stray.worker.jobs.complete
      .mutate({ jobId: stray.jobId, outputUri: `file://${teamFolder(workspaceId, stray.jobId)}`, summary })
      .then(
        () => null,
        (e: { data: { code: string }; message: string }) => e,
      );
    expect(refused?.data.code).toBe('BAD_REQUEST');
    expect(refused?.message).toContain('outputUri');

    // Its own workspace's folder is admitted, and the model is delivered from there.
    const fine = await startTrainingJob(svc, owner.api);
    const { files } = await writeLoraOutput(teamFolder(personal, fine.jobId), { layers: 2, hidden: 32 });
    await fine.worker.jobs.complete.mutate({ jobId: fine.jobId, outputUri: `file://${teamFolder(personal, fine.jobId)}`, summary });
    const job = await waitForIngest(owner.api, fine.jobId);
    expect(job.ingestStatus).toBe('ready');
    const model = await owner.api.models.get.query({ modelId: job.artifactId! });
    // The output's files (the trainer's README.md kept as README.trainer.md) and the generated model card.
    const card = model.files.find((f) => f.path === CARD_PATH)!;
    expect(card.kind).toBe('model_card');
    expect(model.files.map((f) => [f.path, f.sha256]).sort()).toEqual(
      [...asKept(files).map((f) => [f.path, f.sha256]), [CARD_PATH, card.sha256]].sort(),
    );
  });

  test('workspaces.delete (owner only) removes the models and queues the purge of their objects, which then are gone', async () => {
    const owner = await user('owner');
    const admin = await user('admin');
    const workspaceId = await team(owner, 'Doomed', [[admin, 'admin']]);
    const { token } = await owner.web.tokens.create.mutate({ name: 'gpu', workspaceId });
    const byToken = client(svc.url, { token });
    const delivered = await deliverModel(byToken, workspaceId);
    const inserted = await insertArtifact(svc.deps, owner.userId, {
      workspaceId,
      files: [{ path: 'adapter_config.json', bytes: fileBytes('doomed', 512) }],
    });
    const { db } = svc.deps.database;
    const keys = (await db.execute<{ key: string }>(sql`select storage_key as key from artifact_files where workspace_id = ${workspaceId}`)).map(
      (r) => r.key,
    );
    expect(keys.length).toBeGreaterThan(1);
    for (const key of keys) await (await svc.deps.storage.get(key)).cancel();

    expect(await codeOf(admin.web.workspaces.delete.mutate({ workspaceId }))).toBe('FORBIDDEN');
    expect(await codeOf(owner.web.workspaces.delete.mutate({ workspaceId: await personalWorkspaceOf(svc.deps, owner.userId) }))).toBe('CONFLICT');
    expect((await owner.web.models.list.query({ workspaceId })).pagination.total).toBe(2);

    expect(await owner.web.workspaces.delete.mutate({ workspaceId })).toEqual({ id: workspaceId });

    const left = await db.execute<{ models: number; files: number; jobs: number; datasets: number }>(sql`select
      (select count(*)::int from model_artifacts where id in (${delivered.artifactId}, ${inserted.id})) as models,
      (select count(*)::int from artifact_files where workspace_id = ${workspaceId}) as files,
      (select count(*)::int from training_jobs where workspace_id = ${workspaceId}) as jobs,
      (select count(*)::int from datasets where workspace_id = ${workspaceId}) as datasets`);
    expect(left[0]).toEqual({ models: 0, files: 0, jobs: 0, datasets: 0 });
    expect(await codeOf(owner.web.workspaces.get.query({ workspaceId }))).toBe('NOT_FOUND');
    expect(await codeOf(owner.web.models.get.query({ modelId: delivered.artifactId }))).toBe('NOT_FOUND');
    expect(await codeOf(byToken.models.list.query({}))).toBe('UNAUTHORIZED');

    const prefixes = [`artifacts/${delivered.artifactId}/`, `artifacts/${inserted.id}/`];
    const purged = await svc.deps.boss
      .getSpy<{ prefixes: string[] }>('purge-objects')
      .waitForJob((data) => prefixes.every((p) => data.prefixes.includes(p)), 'completed');
    expect(purged.state).toBe('completed');
    for (const key of keys) await expect(svc.deps.storage.get(key)).rejects.toBeInstanceOf(StorageNotFoundError);
  });
});
