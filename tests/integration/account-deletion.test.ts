// Deleting an account (POST /api/auth/delete-user): refused while it is the only owner of a team workspace,
// with nothing changed; otherwise its personal workspace goes with it (rows by cascade, stored objects by the
// purge job), its credentials stop at once, and the teams it was in keep their models.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { workspaceMembers } from '../../db/schema/index.ts';
import { StorageNotFoundError } from '../../server/storage/storage.ts';
import { fileBytes, insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ label: 'account_deletion' });
}, 60_000);
afterAll(() => svc?.stop());

async function deleteAccount(cookie: string) {
  const res = await fetch(`${svc.url}/api/auth/delete-user`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: svc.url, cookie },
    body: JSON.stringify({ password: 'correct horse battery' }),
  });
  return { status: res.status, body: (await res.json()) as { message?: string; success?: boolean } };
}

async function readable(key: string): Promise<boolean> {
  return svc.deps.storage.get(key).then(
    async (stream) => {
      await stream.cancel();
      return true;
    },
    (e: unknown) => {
      if (e instanceof StorageNotFoundError) return false;
      throw e;
    },
  );
}

describe('deleting an account', () => {
  test('the only owner of a team cannot go (409, nothing changes); once someone else owns it, the account goes with its personal workspace', async () => {
    const alice = await newUser(svc, 'alice');
    const bob = await newUser(svc, 'bob');
    const web = client(svc.url, { cookie: alice.cookie });
    const { id: teamId } = await web.workspaces.create.mutate({ name: 'Research' });
    const personalId = await personalWorkspaceOf(svc.deps, alice.userId);
    const mine = await insertArtifact(svc.deps, alice.userId, { files: [{ path: 'adapter_config.json', bytes: fileBytes('alice', 256) }] });
    const teams = await insertArtifact(svc.deps, alice.userId, {
      workspaceId: teamId,
      files: [{ path: 'adapter_config.json', bytes: fileBytes('team', 256) }],
    });
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: bob.userId, role: 'admin' });
    const { db } = svc.deps.database;
    const count = async () =>
      (
        await db.execute<{ users: number; workspaces: number; models: number }>(sql`select
          (select count(*)::int from users where id = ${alice.userId}) as users,
          (select count(*)::int from workspaces where id in (${personalId}, ${teamId})) as workspaces,
          (select count(*)::int from model_artifacts where id in (${mine.id}, ${teams.id})) as models`)
      )[0];

    const refused = await deleteAccount(alice.cookie);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain('Research');
    expect(await count()).toEqual({ users: 1, workspaces: 2, models: 2 });
    expect((await alice.api.models.list.query({})).pagination.total).toBe(1);

    // Bob becomes an owner too: now Alice may go.
    await web.workspaces.members.setRole.mutate({ workspaceId: teamId, userId: bob.userId, role: 'owner' });
    const gone = await deleteAccount(alice.cookie);
    expect(gone).toEqual({ status: 200, body: { success: true, message: 'User deleted' } });

    expect(await count()).toEqual({ users: 0, workspaces: 1, models: 1 });
    // Her credentials stop at once, the cached ones included.
    await expect(alice.api.models.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    // The team keeps its model (made by her: created_by is now null) and its bytes.
    const bobsView = await client(svc.url, { cookie: bob.cookie }).models.list.query({ workspaceId: teamId });
    expect(bobsView.models.map((m) => m.id)).toEqual([teams.id]);
    expect(await readable(teams.files[0]!.key)).toBe(true);
    // Her personal model's bytes follow its rows out.
    await svc.deps.boss
      .getSpy<{ prefixes: string[] }>('purge-objects')
      .waitForJob((data) => data.prefixes.includes(`artifacts/${mine.id}/`), 'completed');
    expect(await readable(mine.files[0]!.key)).toBe(false);
  }, 30_000);
});
