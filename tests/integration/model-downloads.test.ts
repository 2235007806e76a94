// models.downloads (issue 14): a model's download history from download_events, newest first, paged by
// cursor, readable by every member of its workspace (viewers too) and by no one else, Postgres included.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { downloadEvents, workspaceMembers } from '../../db/schema/index.ts';
import { listDownloads } from '../../server/models/queries.ts';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

type User = Awaited<ReturnType<typeof newUser>>;

let svc: TestService;
let owner: User;
let viewer: User;
let stranger: User;
let teamId: string;
let model: InsertedArtifact;

beforeAll(async () => {
  svc = await startTestService({ label: 'model_downloads' });
  [owner, viewer, stranger] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'viewer'), newUser(svc, 'stranger')]);
  teamId = (await client(svc.url, { cookie: owner.cookie }).workspaces.create.mutate({ name: 'Team' })).id;
  await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: viewer.userId, role: 'viewer' });
  model = await insertArtifact(svc.deps, owner.userId, {
    workspaceId: teamId,
    files: ['adapter_config.json', 'adapter_model.safetensors', 'README.md'].map((path) => ({ path, bytes: fileBytes(path, 64) })),
  });
}, 60_000);
afterAll(() => svc?.stop());

const web = (u: User) => client(svc.url, { cookie: u.cookie });

describe('models.downloads', () => {
  test('lists who downloaded which files, when and how: a chosen file, all files, the zip, a share link', async () => {
    const owners = web(owner);
    const adapter = model.files.find((f) => f.path === 'adapter_model.safetensors')!;
    await owners.models.download.mutate({ modelId: model.id, fileIds: [adapter.id] });
    const all = await owners.models.download.mutate({ modelId: model.id });
    const zip = await fetch(all.bundle!.url);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
    const share = await owners.models.share.mutate({ modelId: model.id });
    await client(svc.url).shares.download.mutate({ token: share.token, fileIds: [adapter.id] });

    // A viewer reads it (the audit was admins-only before).
    const { downloads, nextCursor } = await web(viewer).models.downloads.query({ modelId: model.id });
    expect(nextCursor).toBeNull();
    const me = { id: owner.userId, name: 'Test User', email: owner.email };
    expect(downloads.map(({ user, via, files }) => ({ user, via, files }))).toEqual([
      { user: null, via: 'share', files: [{ id: adapter.id, path: adapter.path }] },
      { user: me, via: 'member', files: 'bundle' },
      { user: me, via: 'member', files: 'all' },
      { user: me, via: 'member', files: [{ id: adapter.id, path: adapter.path }] },
    ]);
    const times = downloads.map((d) => Date.parse(d.at));
    expect(times.every((t) => Math.abs(t - Date.now()) < 60_000)).toBe(true);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  test('"Download all" (bundleOnly) is one record, the zip\'s, made when the zip is fetched; for a member and a share link', async () => {
    const owners = web(owner);
    const other = await insertArtifact(svc.deps, owner.userId, {
      workspaceId: teamId,
      files: ['adapter_config.json', 'adapter_model.safetensors'].map((path) => ({ path, bytes: fileBytes(path, 32) })),
    });
    const history = async () => (await owners.models.downloads.query({ modelId: other.id })).downloads;

    const link = await owners.models.download.mutate({ modelId: other.id, bundleOnly: true });
    expect(link.files).toEqual([]);
    expect(link.bundle?.url).toContain(`/bundles/${other.id}.zip`);
    // The link alone is no download.
    expect(await history()).toEqual([]);
    const zip = await fetch(link.bundle!.url);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
    expect((await history()).map((d) => [d.via, d.files])).toEqual([['member', 'bundle']]);

    const share = await owners.models.share.mutate({ modelId: other.id });
    const shared = await client(svc.url).shares.download.mutate({ token: share.token, bundleOnly: true });
    expect(shared.files).toEqual([]);
    expect((await history()).length).toBe(1);
    await (await fetch(shared.bundle!.url)).arrayBuffer();
    expect((await history()).map((d) => [d.via, d.files])).toEqual([
      ['share', 'bundle'],
      ['member', 'bundle'],
    ]);

    // The zip is every file: naming files with it is refused, and nothing is recorded.
    const adapter = other.files.find((f) => f.path === 'adapter_model.safetensors')!;
    await expect(owners.models.download.mutate({ modelId: other.id, fileIds: [adapter.id], bundleOnly: true })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
    expect((await history()).length).toBe(2);
  });

  test('pages 20 at a time by cursor, newest first, with no repeats or gaps even among records of the same instant', async () => {
    const other = await insertArtifact(svc.deps, owner.userId, { workspaceId: teamId, files: [{ path: 'a.bin' }] });
    const base = Date.parse('2030-01-01T00:00:00Z');
    // 45 records; every three share one instant, so only the id tells them apart.
    const rows = Array.from({ length: 45 }, (_, i) => ({
      workspaceId: teamId,
      userId: viewer.userId,
      artifactId: other.id,
      fileIds: [other.files[0]!.id],
      createdAt: new Date(base + Math.floor(i / 3) * 1000),
    }));
    const inserted = await svc.deps.database.db
      .insert(downloadEvents)
      .values(rows)
      .returning({ id: downloadEvents.id, createdAt: downloadEvents.createdAt });
    const expected = inserted
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .map((r) => r.id);

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<ReturnType<typeof web>['models']['downloads']['query']>> = await web(owner).models.downloads.query({
        modelId: other.id,
        cursor,
      });
      sizes.push(page.downloads.length);
      seen.push(...page.downloads.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([20, 20, 5]);
    expect(seen).toEqual(expected);

    await expect(web(owner).models.downloads.query({ modelId: other.id, cursor: 'not-a-cursor' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
  });

  test('another workspace gets NOT_FOUND, and row-level security alone hides the records from it', async () => {
    await expect(web(stranger).models.downloads.query({ modelId: model.id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    // The owner's token for their personal workspace does not reach the team's model either.
    await expect(owner.api.models.downloads.query({ modelId: model.id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    // The query itself, with no membership check in front of it: Postgres shows the stranger nothing.
    const asStranger = await svc.deps.database.asUser({ userId: stranger.userId }, (tx) => listDownloads(tx, model.id, null, 100));
    expect(asStranger).toEqual([]);
    const asViewer = await svc.deps.database.asUser({ userId: viewer.userId, readOnly: true }, (tx) => listDownloads(tx, model.id, null, 100));
    expect(asViewer.length).toBe(4);
    // A model in the trash has no history to show.
    await web(owner).models.delete.mutate({ modelIds: [model.id] });
    await expect(web(viewer).models.downloads.query({ modelId: model.id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    const count = await svc.deps.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from download_events where artifact_id = ${model.id}`,
    );
    expect(count[0]!.n).toBe(4);
  });
});
