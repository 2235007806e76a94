// models.update (name, description, tags) and what the catalogue does with them: the tag filter (all of the
// tags named), the search over name and description, and the trash as its own listing.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { workspaceMembers } from '../../db/schema/index.ts';
import { insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

/** A signed-in user through the dashboard's session (an API token acts in its own workspace only). */
type User = { userId: string; api: ReturnType<typeof client> };

async function signedIn(label: string): Promise<User> {
  const u = await newUser(svc, label);
  return { userId: u.userId, api: client(svc.url, { cookie: u.cookie }) };
}

let svc: TestService;
let owner: User;
let viewer: User;
let member: User;
let stranger: User;
let team: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'registry_edit' });
  [owner, viewer, member, stranger] = await Promise.all([signedIn('owner'), signedIn('viewer'), signedIn('member'), signedIn('stranger')]);
  team = (await owner.api.workspaces.create.mutate({ name: 'Edit team' })).id;
  await svc.deps.database.db.insert(workspaceMembers).values([
    { workspaceId: team, userId: viewer.userId, role: 'viewer' },
    { workspaceId: team, userId: member.userId, role: 'member' },
  ]);
}, 60_000);
afterAll(() => svc?.stop());

const teamModel = (name?: string) => insertArtifact(svc.deps, owner.userId, { workspaceId: team, ...(name ? { name } : {}) });

/** What a refused call says: its code and the fields its zod error names. */
async function refusal(call: Promise<unknown>): Promise<{ code: string; fields: string[] }> {
  const err = (await call.then(
    () => {
      throw new Error('the call was accepted');
    },
    (e: unknown) => e,
  )) as { data?: { code?: string; zodError?: { fieldErrors?: Record<string, string[]> } | null } };
  return { code: err.data?.code ?? 'none', fields: Object.keys(err.data?.zodError?.fieldErrors ?? {}) };
}

describe('models.update', () => {
  test('name trimmed, description kept, tags lower-cased with duplicates collapsed; models.get and models.list show them', async () => {
    const m = await teamModel('before');
    const updated = await member.api.models.update.mutate({
      modelId: m.id,
      name: '  support-bot (final)  ',
      description: 'Fine-tuned on the March tickets.\nUse for triage.',
      tags: ['Prod', 'qwen2.5', 'prod', 'team:support', 'v1+lora'],
    });
    expect(updated).toEqual({
      id: m.id,
      name: 'support-bot (final)',
      description: 'Fine-tuned on the March tickets.\nUse for triage.',
      tags: ['prod', 'qwen2.5', 'team:support', 'v1+lora'],
    });
    const got = await owner.api.models.get.query({ modelId: m.id });
    expect({ name: got.name, description: got.description, tags: got.tags }).toEqual({
      name: updated.name,
      description: updated.description,
      tags: updated.tags,
    });
    const listed = (await owner.api.models.list.query({ workspaceId: team, limit: 100 })).models.find((x) => x.id === m.id);
    expect(listed).toMatchObject({ name: updated.name, description: updated.description, tags: updated.tags });
  });

  test('only the fields given change; an empty tag list clears them; no field at all changes nothing', async () => {
    const m = await teamModel('partial');
    await owner.api.models.update.mutate({ modelId: m.id, description: 'first', tags: ['a', 'b'] });
    expect(await owner.api.models.update.mutate({ modelId: m.id, tags: [] })).toEqual({ id: m.id, name: 'partial', description: 'first', tags: [] });
    expect(await owner.api.models.update.mutate({ modelId: m.id })).toEqual({ id: m.id, name: 'partial', description: 'first', tags: [] });
  });

  test('bad input is BAD_REQUEST naming the field, and nothing changes', async () => {
    const m = await teamModel('unchanged');
    await owner.api.models.update.mutate({ modelId: m.id, description: 'as it was', tags: ['keep'] });
    const cases: [Record<string, unknown>, string][] = [
      [{ tags: ['ok', 'has space'] }, 'tags'],
      [{ tags: [' leading'] }, 'tags'],
      [{ tags: ['x'.repeat(33)] }, 'tags'],
      [{ tags: ['-starts-with-dash'] }, 'tags'],
      [{ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, 'tags'],
      [{ name: '   ' }, 'name'],
      [{ name: 'n'.repeat(201) }, 'name'],
      [{ description: 'd'.repeat(2001) }, 'description'],
    ];
    for (const [input, field] of cases) {
      // Valid fields beside the bad one: none of them is applied either.
      const r = await refusal(owner.api.models.update.mutate({ modelId: m.id, name: 'changed?', ...input } as never));
      expect({ input, ...r }).toEqual({ input, code: 'BAD_REQUEST', fields: [field] });
    }
    const got = await owner.api.models.get.query({ modelId: m.id });
    expect({ name: got.name, description: got.description, tags: got.tags }).toEqual({ name: 'unchanged', description: 'as it was', tags: ['keep'] });
    // The limits themselves are accepted.
    const limits = await owner.api.models.update.mutate({
      modelId: m.id,
      name: 'n'.repeat(200),
      description: 'd'.repeat(2000),
      tags: Array.from({ length: 20 }, (_, i) => `${i}${'x'.repeat(30)}`.slice(0, 32)),
    });
    expect(limits.tags).toHaveLength(20);
  });

  test('a viewer is FORBIDDEN, a stranger NOT_FOUND, a model in the trash NOT_FOUND; nothing changes', async () => {
    const m = await teamModel('guarded');
    expect((await refusal(viewer.api.models.update.mutate({ modelId: m.id, name: 'viewer was here' }))).code).toBe('FORBIDDEN');
    expect((await refusal(stranger.api.models.update.mutate({ modelId: m.id, name: 'stranger was here' }))).code).toBe('NOT_FOUND');
    await owner.api.models.delete.mutate({ modelIds: [m.id] });
    expect((await refusal(owner.api.models.update.mutate({ modelId: m.id, name: 'trash edit' }))).code).toBe('NOT_FOUND');
    await owner.api.models.restore.mutate({ modelIds: [m.id] });
    expect((await owner.api.models.get.query({ modelId: m.id })).name).toBe('guarded');
  });
});

describe('the catalogue: tags, search and the trash', () => {
  let ws: string;
  let m: Record<'ab' | 'a' | 'none' | 'described' | 'trashedA', InsertedArtifact>;

  beforeAll(async () => {
    ws = (await owner.api.workspaces.create.mutate({ name: 'Catalogue' })).id;
    const make = (name: string) => insertArtifact(svc.deps, owner.userId, { workspaceId: ws, name });
    m = {
      ab: await make('alpha-ab'),
      a: await make('alpha-a'),
      none: await make('plain'),
      described: await make('quiet'),
      trashedA: await make('gone-a'),
    };
    await owner.api.models.update.mutate({ modelId: m.ab.id, tags: ['team:a', 'b'] });
    await owner.api.models.update.mutate({ modelId: m.a.id, tags: ['team:a'] });
    await owner.api.models.update.mutate({ modelId: m.described.id, description: 'Trained for the 100% Zebra launch' });
    await owner.api.models.update.mutate({ modelId: m.trashedA.id, tags: ['team:a'], description: 'zebra too' });
    await owner.api.models.delete.mutate({ modelIds: [m.trashedA.id] });
  });

  const list = async (filter: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const page = await owner.api.models.list.query({ workspaceId: ws, limit: 100, filter, ...extra } as never);
    return { ids: page.models.map((x) => x.id).sort(), total: page.pagination.total, page };
  };
  const sorted = (...ms: InsertedArtifact[]) => ms.map((x) => x.id).sort();

  test('tags: models carrying every tag named, in any case; a live model only', async () => {
    expect(await list({ tags: ['team:a'] })).toMatchObject({ ids: sorted(m.ab, m.a), total: 2 });
    expect(await list({ tags: ['TEAM:A', 'b'] })).toMatchObject({ ids: sorted(m.ab), total: 1 });
    expect(await list({ tags: ['b', 'missing'] })).toMatchObject({ ids: [], total: 0 });
    expect(await list({ tags: [] })).toMatchObject({ ids: sorted(m.ab, m.a, m.none, m.described), total: 4 });
    expect(await refusal(owner.api.models.list.query({ workspaceId: ws, filter: { tags: ['two words'] } }))).toEqual({
      code: 'BAD_REQUEST',
      fields: ['filter.tags'],
    });
  });

  test('search matches the name or the description, case-insensitively, with % taken literally', async () => {
    expect((await list({ search: 'zebra' })).ids).toEqual(sorted(m.described));
    expect((await list({ search: '100% z' })).ids).toEqual(sorted(m.described));
    expect((await list({ search: '100%z' })).ids).toEqual([]);
    expect((await list({ search: 'ALPHA' })).ids).toEqual(sorted(m.ab, m.a));
    expect((await list({ search: 'alpha', tags: ['b'] })).ids).toEqual(sorted(m.ab));
  });

  test('filter.deleted lists the trash only, each with deletedAt; the catalogue and its total leave it out', async () => {
    const trash = await list({ deleted: true });
    expect(trash).toMatchObject({ ids: sorted(m.trashedA), total: 1 });
    expect(Date.parse(trash.page.models[0]!.deletedAt!)).toBeGreaterThan(Date.now() - 60_000);
    // Filters apply inside the trash too.
    expect((await list({ deleted: true, search: 'zebra' })).ids).toEqual(sorted(m.trashedA));
    expect((await list({ deleted: true, tags: ['b'] })).ids).toEqual([]);
    const live = await list({});
    expect(live).toMatchObject({ ids: sorted(m.ab, m.a, m.none, m.described), total: 4 });
    expect(live.page.models.every((x) => x.deletedAt === null)).toBe(true);
    expect((await list({ deleted: false })).total).toBe(4);
  });

  test('the trash pages by cursor like the catalogue', async () => {
    const more = await Promise.all([1, 2, 3].map((i) => insertArtifact(svc.deps, owner.userId, { workspaceId: ws, name: `old-${i}` })));
    await owner.api.models.delete.mutate({ modelIds: more.map((x) => x.id) });
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: Awaited<ReturnType<typeof owner.api.models.list.query>> = await owner.api.models.list.query({
        workspaceId: ws,
        limit: 2,
        cursor,
        filter: { deleted: true },
      });
      expect(page.pagination.total).toBe(4);
      seen.push(...page.models.map((x) => x.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen.sort()).toEqual(sorted(m.trashedA, ...more));
    await owner.api.models.restore.mutate({ modelIds: more.map((x) => x.id) });
    expect((await list({ deleted: true })).total).toBe(1);
    expect((await list({})).total).toBe(7);
  });
});
