import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { datasets, modelArtifacts, notifications, trainingJobs } from '../../db/schema/index.ts';
import { addMember, insertWorkspace } from '../../server/workspaces/queries.ts';
import { insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
let alice: Awaited<ReturnType<typeof newUser>>;
let bob: Awaited<ReturnType<typeof newUser>>;
let aliceWs: string;
let bobWs: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'rls' });
  alice = await newUser(svc, 'alice');
  bob = await newUser(svc, 'bob');
  for (const u of [alice, bob]) {
    const run = await runTrainingJob(svc, u.api, { steps: 60 });
    await waitForIngest(u.api, run.jobId);
  }
  aliceWs = await personalWorkspaceOf(svc.deps, alice.userId);
  bobWs = await personalWorkspaceOf(svc.deps, bob.userId);
});
afterAll(() => svc?.stop());

describe('row-level security', () => {
  test('a query written without any workspace filter, in a user request context, returns only the rows of that user’s workspaces', async () => {
    const { database } = svc.deps;
    // Deliberately no WHERE clause: Postgres itself must hide the other workspace's rows.
    const seen = await database.asUser({ userId: alice.userId }, async (tx) => ({
      models: await tx.select({ workspaceId: modelArtifacts.workspaceId }).from(modelArtifacts),
      jobs: await tx.select({ workspaceId: trainingJobs.workspaceId }).from(trainingJobs),
      datasets: await tx.select({ workspaceId: datasets.workspaceId }).from(datasets),
      notifications: await tx.select({ userId: notifications.userId }).from(notifications),
      points: await tx.execute<{ n: number }>(sql`select count(*)::int as n from metrics_points`),
    }));
    expect(seen.models.length).toBe(1);
    expect(seen.jobs.length).toBe(1);
    expect(seen.datasets.length).toBe(1);
    expect(seen.notifications.length).toBe(1);
    for (const rows of [seen.models, seen.jobs, seen.datasets]) {
      expect(rows.every((r) => r.workspaceId === aliceWs)).toBe(true);
    }
    // Notifications stay per user.
    expect(seen.notifications.every((r) => r.userId === alice.userId)).toBe(true);
    expect(seen.points[0]!.n).toBe(60);

    // The privileged path (workers) sees both.
    const all = await database.db.select({ workspaceId: modelArtifacts.workspaceId }).from(modelArtifacts);
    expect(new Set(all.map((r) => r.workspaceId))).toEqual(new Set([aliceWs, bobWs]));
  });

  test('a prepared statement runs in the transaction that calls it, under that user’s row-level security', async () => {
    const { database } = svc.deps;
    // No user filter, and the statement is built once (in Alice's transaction) and reused for Bob: each
    // must still see only their own workspace's model, so it ran on the caller's connection, not the one it was built on.
    const mine = (tx: Tx) =>
      prepared(tx, 'test:models-without-filter', (b) => b.select({ workspaceId: modelArtifacts.workspaceId }).from(modelArtifacts), {});
    const forAlice = await database.asUser({ userId: alice.userId }, mine);
    const forBob = await database.asUser({ userId: bob.userId }, mine);
    expect(forAlice.map((r) => r.workspaceId)).toEqual([aliceWs]);
    expect(forBob.map((r) => r.workspaceId)).toEqual([bobWs]);
  });

  test('a relaxed commit is asked for per transaction, and only there', async () => {
    const { database } = svc.deps;
    const setting = (tx: Tx) => tx.execute<{ s: string }>(sql`select current_setting('synchronous_commit') as s`).then((r) => r[0]!.s);
    expect(await database.asUser({ userId: alice.userId }, setting, { relaxedCommit: true })).toBe('off');
    expect(await database.asUser({ userId: alice.userId }, setting)).toBe('on');
  });

  test('without app.user_id nothing is visible, and writes into another user’s workspace are refused', async () => {
    const { database } = svc.deps;
    const none = await database.db.transaction(async (tx) => {
      await tx.execute(sql`set local role app_user`);
      return tx.select().from(modelArtifacts);
    });
    expect(none).toHaveLength(0);
    const err = await database
      .asUser({ userId: alice.userId }, (tx) => tx.insert(datasets).values({ workspaceId: bobWs, createdBy: alice.userId, name: 'sneaky' }))
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(String((err?.cause as Error | undefined)?.message)).toMatch(/row-level security/);
    const [{ n }] = (await database.db.execute<{ n: number }>(sql`select count(*)::int as n from datasets where name = 'sneaky'`)) as unknown as [
      { n: number },
    ];
    expect(n).toBe(0);
  });

  test('the request role is neither superuser nor able to bypass RLS', async () => {
    const rows = await svc.deps.database.asUser({ userId: alice.userId }, (tx) =>
      tx.execute<{ rolsuper: boolean; rolbypassrls: boolean; current_user: string }>(
        sql`select r.rolsuper, r.rolbypassrls, current_user from pg_roles r where r.rolname = current_user`,
      ),
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, current_user: 'app_user' });
  });

  test('in a shared workspace, each member sees that workspace’s rows and writes only as their role and token allow', async () => {
    const { database } = svc.deps;
    const team = await database.db.transaction(async (tx) => {
      const id = await insertWorkspace(tx, { name: 'RLS team', slug: `rls-team-${crypto.randomUUID()}`, ownerId: alice.userId });
      await addMember(tx, id, bob.userId, 'viewer');
      return id;
    });
    const shared = await insertArtifact(svc.deps, alice.userId, { workspaceId: team });
    const models = (tx: Tx) => tx.select({ id: modelArtifacts.id, workspaceId: modelArtifacts.workspaceId }).from(modelArtifacts);

    // Bob, with no filter: his own workspace and the team's, never Alice's personal one.
    const forBob = await database.asUser({ userId: bob.userId }, models);
    expect(new Set(forBob.map((r) => r.workspaceId))).toEqual(new Set([bobWs, team]));
    expect(forBob.map((r) => r.id)).toContain(shared.id);
    // A token's reach (app.workspace_id): that one workspace only.
    const forTeamToken = await database.asUser({ userId: bob.userId, workspaceId: team }, models);
    expect(forTeamToken.map((r) => r.id)).toEqual([shared.id]);

    const refused = (actor: { userId: string; readOnly?: boolean }) =>
      database
        .asUser(actor, (tx) => tx.insert(datasets).values({ workspaceId: team, createdBy: actor.userId, name: 'not-allowed' }))
        .then(
          () => null,
          (e: Error) => String((e.cause as Error | undefined)?.message),
        );
    // A viewer reads but does not write; an owner acting through a read-only token neither.
    expect(await refused({ userId: bob.userId })).toMatch(/row-level security/);
    expect(await refused({ userId: alice.userId, readOnly: true })).toMatch(/row-level security/);
    // The owner, unrestricted, may.
    expect(await refused({ userId: alice.userId })).toBeNull();
  });
});
