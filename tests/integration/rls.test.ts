import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { datasets, modelArtifacts, notifications, trainingJobs } from '../../db/schema/index.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

let svc: TestService;
let alice: Awaited<ReturnType<typeof newUser>>;
let bob: Awaited<ReturnType<typeof newUser>>;

beforeAll(async () => {
  svc = await startTestService({ label: 'rls' });
  alice = await newUser(svc, 'alice');
  bob = await newUser(svc, 'bob');
  for (const u of [alice, bob]) {
    const run = await runTrainingJob(svc, u.api, { steps: 60 });
    await waitForIngest(u.api, run.jobId);
  }
});
afterAll(() => svc?.stop());

describe('row-level security', () => {
  test('a query written without any user filter, in a user request context, returns only that user’s rows', async () => {
    const { database } = svc.deps;
    // Deliberately no WHERE clause: Postgres itself must hide the other user's rows.
    const seen = await database.asUser(alice.userId, async (tx) => ({
      models: await tx.select({ userId: modelArtifacts.userId }).from(modelArtifacts),
      jobs: await tx.select({ userId: trainingJobs.userId }).from(trainingJobs),
      datasets: await tx.select({ userId: datasets.userId }).from(datasets),
      notifications: await tx.select({ userId: notifications.userId }).from(notifications),
      points: await tx.execute<{ n: number }>(sql`select count(*)::int as n from metrics_points`),
    }));
    expect(seen.models.length).toBe(1);
    expect(seen.jobs.length).toBe(1);
    expect(seen.datasets.length).toBe(1);
    expect(seen.notifications.length).toBe(1);
    for (const rows of [seen.models, seen.jobs, seen.datasets, seen.notifications]) {
      expect(rows.every((r) => r.userId === alice.userId)).toBe(true);
    }
    expect(seen.points[0]!.n).toBe(60);

    // The privileged path (workers) sees both.
    const all = await database.db.select({ userId: modelArtifacts.userId }).from(modelArtifacts);
    expect(new Set(all.map((r) => r.userId))).toEqual(new Set([alice.userId, bob.userId]));
  });

  test('a prepared statement runs in the transaction that calls it, under that user’s row-level security', async () => {
    const { database } = svc.deps;
    // No user filter, and the statement is built once (in Alice's transaction) and reused for Bob: each
    // must still see only their own model, so it ran on the caller's connection, not the one it was built on.
    const mine = (tx: Tx) => prepared(tx, 'test:models-without-filter', (b) => b.select({ userId: modelArtifacts.userId }).from(modelArtifacts), {});
    const forAlice = await database.asUser(alice.userId, mine);
    const forBob = await database.asUser(bob.userId, mine);
    expect(forAlice.map((r) => r.userId)).toEqual([alice.userId]);
    expect(forBob.map((r) => r.userId)).toEqual([bob.userId]);
  });

  test('a relaxed commit is asked for per transaction, and only there', async () => {
    const { database } = svc.deps;
    const setting = (tx: Tx) => tx.execute<{ s: string }>(sql`select current_setting('synchronous_commit') as s`).then((r) => r[0]!.s);
    expect(await database.asUser(alice.userId, setting, { relaxedCommit: true })).toBe('off');
    expect(await database.asUser(alice.userId, setting)).toBe('on');
  });

  test('without app.user_id nothing is visible, and writes for another user are refused', async () => {
    const { database } = svc.deps;
    const none = await database.db.transaction(async (tx) => {
      await tx.execute(sql`set local role app_user`);
      return tx.select().from(modelArtifacts);
    });
    expect(none).toHaveLength(0);
    const err = await database
      .asUser(alice.userId, (tx) => tx.insert(datasets).values({ userId: bob.userId, name: 'sneaky' }))
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
    const rows = await svc.deps.database.asUser(alice.userId, (tx) =>
      tx.execute<{ rolsuper: boolean; rolbypassrls: boolean; current_user: string }>(
        sql`select r.rolsuper, r.rolbypassrls, current_user from pg_roles r where r.rolname = current_user`,
      ),
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, current_user: 'app_user' });
  });
});
