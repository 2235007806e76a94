// notify(tx, event), the one writer of notifications, and notifications.list / markRead for the user.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { notify, type NotificationEvent } from '../../server/notifications/service.ts';
import { personalWorkspaceOf } from '../helpers/factories.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let alice: Awaited<ReturnType<typeof newUser>>;
let bob: Awaited<ReturnType<typeof newUser>>;

beforeAll(async () => {
  svc = await startTestService({ label: 'notifications' });
  alice = await newUser(svc, 'alice');
  bob = await newUser(svc, 'bob');
});
afterAll(() => svc?.stop());

/** As workers write them: the owner's connection, in a transaction of their own. */
const send = (event: NotificationEvent) => svc.deps.database.db.transaction((tx) => notify(svc.deps, tx, event));

test('each event kind is stored with its type, title, body and link', async () => {
  const artifactId = crypto.randomUUID();
  const jobId = crypto.randomUUID();
  // Alice's personal workspace: she is its only member, and the titles say "Your model".
  const workspaceId = await personalWorkspaceOf(svc.deps, alice.userId);
  const base = { workspaceId, jobId, artifactId, modelName: 'support-bot', fileCount: 7, untrained: false };
  const fits = { verdict: 'fits' as const, base: 'Qwen/Qwen2.5-0.5B', mismatchCount: 0 };
  await send({ kind: 'model.ready', ...base, qualityScore: 4, convergence: 'good', datasetName: 'tickets', fit: fits });
  await send({
    kind: 'model.ready',
    ...base,
    modelName: 'unrated',
    qualityScore: null,
    convergence: null,
    datasetName: null,
    fit: { verdict: 'unknown_base', base: null, mismatchCount: 0 },
  });
  await send({
    kind: 'model.ready',
    ...base,
    modelName: 'misfit',
    qualityScore: 1,
    convergence: 'poor',
    datasetName: null,
    fit: { verdict: 'mismatch', base: 'meta-llama/Llama-3.2-1B', mismatchCount: 12 },
    untrained: true,
  });
  await send({ kind: 'export.ready', workspaceId, artifactId, modelName: 'support-bot', path: 'support-bot-v1-F16-LoRA.gguf', format: 'gguf' });
  await send({
    kind: 'export.failed',
    workspaceId,
    artifactId,
    modelName: 'support-bot',
    error: 'GGUF export supports Llama, Mistral and Qwen2 bases',
  });
  await send({ kind: 'ingest.failed', workspaceId, jobId, jobName: 'broken-run', error: 'no files found at file:///x' });

  const { notifications, unreadCount } = await alice.api.notifications.list.query({});
  expect(unreadCount).toBe(6);
  // Newest first.
  expect(notifications.map(({ type, title, body, link }) => ({ type, title, body, link }))).toEqual([
    { type: 'ingest_failed', title: 'Your model broken-run could not be delivered', body: 'no files found at file:///x', link: `/jobs?job=${jobId}` },
    {
      type: 'export_failed',
      title: 'The GGUF export of support-bot failed',
      body: 'GGUF export supports Llama, Mistral and Qwen2 bases',
      link: `/models/${artifactId}`,
    },
    {
      type: 'export_ready',
      title: 'The GGUF export of support-bot is ready',
      body: 'support-bot-v1-F16-LoRA.gguf: a llama.cpp LoRA adapter (F16), for llama.cpp --lora and an Ollama ADAPTER line.',
      link: `/models/${artifactId}`,
    },
    {
      type: 'model_ready',
      title: 'Your model misfit is ready',
      body:
        '7 files, 1★ poor. Warning: it does not fit its base model meta-llama/Llama-3.2-1B (12 tensors differ). ' +
        'Warning: untrained, every lora_B is zero, so the adapter changes nothing.',
      link: `/models/${artifactId}`,
    },
    { type: 'model_ready', title: 'Your model unrated is ready', body: '7 files, not rated.', link: `/models/${artifactId}` },
    {
      type: 'model_ready',
      title: 'Your model support-bot is ready',
      body: '7 files, 4★ good, fits Qwen/Qwen2.5-0.5B, trained on tickets.',
      link: `/models/${artifactId}`,
    },
  ]);
  expect((await bob.api.notifications.list.query({})).notifications).toHaveLength(0);
});

test("markRead changes only the caller's unread notifications and counts what it changed", async () => {
  const bobs = await personalWorkspaceOf(svc.deps, bob.userId);
  await send({ kind: 'ingest.failed', workspaceId: bobs, jobId: crypto.randomUUID(), jobName: 'bobs-run', error: 'boom' });
  const [bobsNote] = (await bob.api.notifications.list.query({})).notifications;
  const mine = (await alice.api.notifications.list.query({})).notifications;
  const first = mine[0]!.id;

  // Bob's id in Alice's call is not hers: left alone, not counted.
  expect(await alice.api.notifications.markRead.mutate({ ids: [first, bobsNote!.id] })).toEqual({ updated: 1 });
  expect((await bob.api.notifications.list.query({})).unreadCount).toBe(1);
  // Already read: nothing changes the second time.
  expect(await alice.api.notifications.markRead.mutate({ ids: [first] })).toEqual({ updated: 0 });

  const after = await alice.api.notifications.list.query({});
  expect(after.unreadCount).toBe(mine.length - 1);
  expect(after.notifications.find((n) => n.id === first)!.readAt).not.toBeNull();
  const unread = await alice.api.notifications.list.query({ unreadOnly: true });
  expect(unread.notifications.map((n) => n.id)).toEqual(mine.slice(1).map((n) => n.id));
});

test('list pages by cursor through every notification, newest first, with the unread count of all of them', async () => {
  const carol = await newUser(svc, 'carol');
  const ws = await personalWorkspaceOf(svc.deps, carol.userId);
  // 25 rows, the last 5 written by one statement so that they share created_at (the id breaks the tie).
  for (let i = 0; i < 20; i++) await send({ kind: 'ingest.failed', workspaceId: ws, jobId: crypto.randomUUID(), jobName: `run-${i}`, error: 'boom' });
  await svc.deps.database.db.transaction(async (tx) => {
    for (let i = 20; i < 25; i++)
      await notify(svc.deps, tx, { kind: 'ingest.failed', workspaceId: ws, jobId: crypto.randomUUID(), jobName: `run-${i}`, error: 'boom' });
  });

  const first = await carol.api.notifications.list.query({ limit: 10 });
  expect(first.notifications).toHaveLength(10);
  // Exact beyond the page: the server counts every unread one, not the 10 it lists.
  expect(first.unreadCount).toBe(25);
  expect(first.nextCursor).toBe(first.notifications[9]!.id);

  const seen = [...first.notifications];
  let cursor = first.nextCursor;
  const pages = [first.notifications.length];
  while (cursor) {
    const page = await carol.api.notifications.list.query({ limit: 10, cursor });
    pages.push(page.notifications.length);
    seen.push(...page.notifications);
    cursor = page.nextCursor;
  }
  expect(pages).toEqual([10, 10, 5]);
  const ids = seen.map((n) => n.id);
  expect(new Set(ids).size).toBe(25);
  // Newest first across the pages, ties in created_at ordered by id, as one unpaged read orders them.
  expect(ids).toEqual((await carol.api.notifications.list.query({ limit: 100 })).notifications.map((n) => n.id));
  const runs = seen.map((n) => runNo(n.title));
  expect(runs.slice(0, 5).sort((a, b) => a - b)).toEqual([20, 21, 22, 23, 24]);
  expect(runs.slice(5)).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));

  // A page exactly filled by the rest has no next page.
  const exact = await carol.api.notifications.list.query({ limit: 15, cursor: first.nextCursor });
  expect(exact.notifications).toHaveLength(15);
  expect(exact.nextCursor).toBeNull();
  // The default page keeps its size (30): all 25 at once.
  const whole = await carol.api.notifications.list.query({});
  expect(whole.notifications).toHaveLength(25);
  expect(whole.nextCursor).toBeNull();

  // Someone else's notification as a cursor finds nothing of hers: an empty page, not another user's place.
  const [bobsNote] = (await bob.api.notifications.list.query({})).notifications;
  expect((await carol.api.notifications.list.query({ cursor: bobsNote!.id })).notifications).toHaveLength(0);
  expect(await carol.api.notifications.list.query({ cursor: 'not-an-id' }).catch((e: Error) => e.message)).toContain('cursor');

  // Marking the first page read leaves 15 unread, which the next pages of unread ones list in full.
  await carol.api.notifications.markRead.mutate({ ids: first.notifications.map((n) => n.id) });
  const unread = await carol.api.notifications.list.query({ unreadOnly: true, limit: 10 });
  expect(unread.unreadCount).toBe(15);
  const rest = await carol.api.notifications.list.query({ unreadOnly: true, limit: 10, cursor: unread.nextCursor });
  expect([...unread.notifications, ...rest.notifications].map((n) => n.id)).toEqual(ids.slice(10));
  expect(rest.nextCursor).toBeNull();

  // "Mark all read" reaches every unread one, however many pages they fill: the count goes to zero (issue 14: it stuck at 11).
  expect(await carol.api.notifications.markAllRead.mutate()).toEqual({ count: 15 });
  expect((await carol.api.notifications.list.query({ limit: 10 })).unreadCount).toBe(0);
});

const runNo = (title: string) => Number(/run-(\d+)/.exec(title)?.[1] ?? -1);
