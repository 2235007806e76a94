// GET /api/events (issue 13, item 3): server-sent events fed by Postgres LISTEN/NOTIFY, from a ROLE=worker
// process to a client of a ROLE=api process, with replay, audience rules, heartbeat and cleanup; and
// notifications.markAllRead.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, sql } from 'drizzle-orm';
import { notifications, workspaceMembers } from '../../db/schema/index.ts';
import net from 'node:net';
import { liveEventsPruneJob } from '../../server/events/prune.job.ts';
import { publishLiveEvent } from '../../server/events/publish.ts';
import { insertLiveEvents } from '../../server/events/queries.ts';
import { personalWorkspaceOf, sampleJobConfig } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { SseClient, type SseEvent } from '../helpers/sse.ts';
import { runTrainingJob, startTrainingJob } from '../helpers/training.ts';

let api: TestService;
let worker: TestService;
let alice: Awaited<ReturnType<typeof newUser>>;
let bob: Awaited<ReturnType<typeof newUser>>;
let aliceHome: string;
let bobHome: string;
let team: string;
/** Alice's API token for the team workspace only. */
let teamToken: string;
const open: SseClient[] = [];
/** The model the first test's ingest delivered. */
let deliveredModel: string;

beforeAll(async () => {
  // A short heartbeat, so the heartbeat test waits milliseconds rather than 15 s.
  api = await startTestService({ label: 'live_events', env: { ROLE: 'api' }, heartbeatMs: 200 });
  // The same database and data folder (outputs and stored files), as processes of one deployment share them.
  worker = await startTestService({ label: 'live_events_worker', env: { ROLE: 'worker', DATA_DIR: api.dataDir }, databaseUrl: api.databaseUrl });
  alice = await newUser(api, 'alice');
  bob = await newUser(api, 'bob');
  aliceHome = await personalWorkspaceOf(api.deps, alice.userId);
  bobHome = await personalWorkspaceOf(api.deps, bob.userId);
  team = (await client(api.url, { cookie: alice.cookie }).workspaces.create.mutate({ name: 'Live team' })).id;
  teamToken = (await client(api.url, { cookie: alice.cookie }).tokens.create.mutate({ name: 'team', workspaceId: team })).token;
});
afterAll(async () => {
  for (const s of open) s.close();
  await worker?.stop();
  await api?.stop();
});

async function stream(auth: { cookie?: string; token?: string }, extra: Record<string, string> = {}, query = ''): Promise<SseClient> {
  const headers: Record<string, string> = { ...extra };
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  const s = await SseClient.open(`${api.url}/api/events${query}`, headers);
  open.push(s);
  return s;
}

const data = (e: SseEvent) => JSON.parse(e.data) as Record<string, unknown>;
const isJob =
  (jobId: string, match: Record<string, unknown> = {}) =>
  (e: SseEvent) =>
    e.event === 'job' && data(e).jobId === jobId && Object.entries(match).every(([k, v]) => data(e)[k] === v);

/** A job event in `workspaceId`, published the way the service does (a job's own change, as its member). */
async function jobIn(user: Awaited<ReturnType<typeof newUser>>, workspaceId: string) {
  const session = client(api.url, { cookie: user.cookie });
  const { id: datasetId } = await session.datasets.create.mutate({ workspaceId, name: 'd', format: 'jsonl', rowCount: 1 });
  const { jobId } = await session.jobs.create.mutate({
    workspaceId,
    datasetId,
    name: `live-${Math.random().toString(36).slice(2, 7)}`,
    config: sampleJobConfig,
    gpu: { type: 'A100-80GB', count: 1 },
  });
  return jobId;
}

/** A notification event for `userId` alone (as notify publishes one per recipient). */
async function notificationFor(userId: string, title: string) {
  const id = crypto.randomUUID();
  await api.deps.database.db.transaction((tx) =>
    publishLiveEvent(tx, { userId }, 'notification', { id, type: 'test', title, body: null, link: null, createdAt: new Date().toISOString() }),
  );
  return id;
}

describe('GET /api/events', () => {
  test('an ingest in a ROLE=worker process reaches a client of the ROLE=api process within 500 ms', async () => {
    const s = await stream({ cookie: alice.cookie });
    expect(s.response.status).toBe(200);
    expect(s.response.headers.get('content-type')).toContain('text/event-stream');
    const { jobId } = await runTrainingJob(api, alice.api);
    // jobs.create / start / complete happen in the api process; the ingest in the worker (the api runs no workers).
    await s.next(isJob(jobId, { status: 'completed', ingestStatus: 'pending' }));
    await s.next(isJob(jobId, { ingestStatus: 'ingesting' }), 30_000);
    const ready = await s.next(isJob(jobId, { ingestStatus: 'ready' }), 30_000);
    const job = await alice.api.jobs.get.query({ jobId });
    expect(data(ready)).toEqual({
      jobId,
      workspaceId: aliceHome,
      name: job.name,
      status: 'completed',
      ingestStatus: 'ready',
      ingestError: null,
      artifactId: job.artifactId,
    });
    // updatedAt is the worker's clock just before its delivery commits (same machine): the gap is the event's trip.
    expect(ready.at - new Date(job.updatedAt).getTime()).toBeLessThan(500);
    // The model.ready notification is the same commit's.
    const note = await s.next((e) => e.event === 'notification' && data(e).type === 'model_ready');
    expect(data(note)).toMatchObject({ title: expect.stringContaining(job.name), link: `/models/${job.artifactId}` });
    const listed = await alice.api.notifications.list.query({});
    expect(listed.notifications.map((n) => n.id)).toContain(data(note).id as string);
    expect(Number(note.id)).toBeGreaterThan(0);
    expect(s.retry).toBe(2000);
    deliveredModel = job.artifactId!;
  }, 60_000);

  test('a GGUF export is streamed as it goes: queued (api process), running and ready (worker)', async () => {
    const s = await stream({ cookie: alice.cookie });
    const { exportId } = await alice.api.models.export.mutate({ modelId: deliveredModel, format: 'gguf' });
    const isExport = (status: string) => (e: SseEvent) => e.event === 'export' && data(e).exportId === exportId && data(e).status === status;
    await s.next(isExport('queued'));
    await s.next(isExport('running'), 30_000);
    const ready = await s.next(isExport('ready'), 30_000);
    const [listed] = await alice.api.models.exports.query({ modelId: deliveredModel });
    expect(data(ready)).toEqual({
      exportId,
      artifactId: deliveredModel,
      workspaceId: aliceHome,
      status: 'ready',
      fileId: listed!.fileId,
      error: null,
    });
    expect(listed!.fileId).toBeTruthy();
  }, 60_000);

  test('Last-Event-ID replays the events missed while disconnected (header and ?lastEventId=)', async () => {
    const first = await stream({ cookie: alice.cookie });
    const before = await jobIn(alice, aliceHome);
    await first.next(isJob(before));
    const last = first.lastEventId!;
    first.close();
    const missedJob = await jobIn(alice, aliceHome);
    const missedNote = await notificationFor(alice.userId, 'missed');

    const resumes: { headers: Record<string, string>; query: string }[] = [
      { headers: { 'last-event-id': last }, query: '' },
      { headers: {}, query: `?lastEventId=${last}` },
    ];
    for (const resume of resumes) {
      const again = await stream({ cookie: alice.cookie }, resume.headers, resume.query);
      await again.next(isJob(missedJob));
      await again.next((e) => e.event === 'notification' && data(e).id === missedNote);
      // Replayed with their ids, after the last one seen.
      for (const e of again.events) expect(Number(e.id)).toBeGreaterThan(0);
      expect(again.events.some((e) => e.id === last)).toBe(false);
      again.close();
    }
    // Without Last-Event-ID nothing is replayed: a fresh stream starts live.
    const fresh = await stream({ cookie: alice.cookie });
    const marker = await notificationFor(alice.userId, 'marker');
    await fresh.next((e) => data(e).id === marker);
    expect(fresh.events.some((e) => e.event === 'job' && data(e).jobId === missedJob)).toBe(false);
  });

  test('an event whose smaller id commits after a larger one was sent is replayed too', async () => {
    const s = await stream({ cookie: alice.cookie });
    const { db } = api.deps.database;
    let commitLate!: () => void;
    const held = new Promise<void>((resolve) => {
      commitLate = resolve;
    });
    let tookId!: () => void;
    const idTaken = new Promise<void>((resolve) => {
      tookId = resolve;
    });
    const lateId = crypto.randomUUID();
    // Takes the smaller id, then stays open.
    const late = db.transaction(async (tx) => {
      await publishLiveEvent(tx, { userId: alice.userId }, 'notification', {
        id: lateId,
        type: 'test',
        title: 'late',
        body: null,
        link: null,
        createdAt: new Date().toISOString(),
      });
      tookId();
      await held;
    });
    await idTaken;
    const early = await notificationFor(alice.userId, 'early');
    const seen = await s.next((e) => data(e).id === early);
    s.close();
    commitLate();
    await late;
    const again = await stream({ cookie: alice.cookie }, { 'last-event-id': seen.id! });
    const replayed = await again.next((e) => data(e).id === lateId);
    expect(Number(replayed.id)).toBeLessThan(Number(seen.id));
  });

  test("another user's events never reach a stream, live or replayed", async () => {
    const s = await stream({ cookie: bob.cookie });
    const aliceJob = await jobIn(alice, aliceHome);
    const aliceTeamJob = await jobIn(alice, team);
    const aliceNote = await notificationFor(alice.userId, 'for alice only');
    // Events are streamed in commit order: once Bob's own marker arrives, Alice's (committed before it) would have.
    const bobJob = await jobIn(bob, bobHome);
    await s.next(isJob(bobJob));
    const strangers = (e: SseEvent) => data(e).jobId === aliceJob || data(e).jobId === aliceTeamJob || data(e).id === aliceNote;
    expect(s.events.filter(strangers)).toEqual([]);
    expect(s.events.every((e) => e.event !== 'job' || data(e).workspaceId === bobHome)).toBe(true);

    const replay = await stream({ cookie: bob.cookie }, { 'last-event-id': '0' });
    await replay.next(isJob(bobJob));
    expect(replay.events.filter(strangers)).toEqual([]);
  });

  test('a member removed from a workspace stops hearing it once memberships are re-read', async () => {
    await api.deps.database.db.insert(workspaceMembers).values({ workspaceId: team, userId: bob.userId, role: 'viewer' });
    const s = await stream({ cookie: bob.cookie });
    const heard = await jobIn(alice, team);
    await s.next(isJob(heard));
    await api.deps.database.db.delete(workspaceMembers).where(and(eq(workspaceMembers.workspaceId, team), eq(workspaceMembers.userId, bob.userId)));
    await api.deps.events!.refresh();
    const unheard = await jobIn(alice, team);
    const marker = await jobIn(bob, bobHome);
    await s.next(isJob(marker));
    expect(s.events.some(isJob(unheard))).toBe(false);
  });

  test("a workspace-scoped token gets only its workspace's events, and no notifications", async () => {
    const s = await stream({ token: teamToken });
    expect(s.response.status).toBe(200);
    const homeJob = await jobIn(alice, aliceHome);
    const note = await notificationFor(alice.userId, 'not for tokens');
    const teamJob = await jobIn(alice, team);
    await s.next(isJob(teamJob));
    expect(s.events.some(isJob(homeJob))).toBe(false);
    expect(s.events.some((e) => e.event === 'notification')).toBe(false);
    expect(note).toBeTruthy();

    const replay = await stream({ token: teamToken }, { 'last-event-id': '0' });
    await replay.next(isJob(teamJob));
    expect(replay.events.every((e) => e.event === 'job' && data(e).workspaceId === team)).toBe(true);
  });

  test('a revoked token ends its stream at once', async () => {
    const { token, id } = await client(api.url, { cookie: alice.cookie }).tokens.create.mutate({ name: 'short-lived', workspaceId: team });
    const s = await stream({ token });
    expect(s.response.status).toBe(200);
    await client(api.url, { cookie: alice.cookie }).tokens.revoke.mutate({ id });
    await s.end(5000);
    expect((await stream({ token })).response.status).toBe(401);
  });

  test('no credentials, a bad token or a worker token: 401 in the JSON envelope', async () => {
    const { workerToken } = await startTrainingJob(api, alice.api, { report: 'none' });
    for (const auth of [{}, { token: 'lat_not-a-real-token' }, { token: workerToken }]) {
      const s = await stream(auth);
      expect(s.response.status).toBe(401);
      const body = (await s.response.json()) as { error: { code: string; message: string; requestId: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.requestId).toBeTruthy();
    }
  });

  test('a heartbeat comment arrives on an idle stream', async () => {
    const s = await stream({ cookie: bob.cookie });
    await s.comment('ping', 5000);
  });

  test('a client that goes away is removed from the hub', async () => {
    const hub = api.deps.events!;
    const before = hub.size;
    const s = await stream({ cookie: bob.cookie });
    expect(hub.size).toBe(before + 1);
    s.close();
    await waitUntil(() => hub.size === before, 5000);
  });

  test('a client that stops reading is disconnected, not buffered without bound', async () => {
    const hub = api.deps.events!;
    const frank = await newUser(api, 'frank');
    const before = hub.size;
    // A raw connection that sends its request and then never reads: the socket's buffers fill, then the stream's queue.
    const { port } = new URL(api.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${frank.cookie}\r\nAccept: text/event-stream\r\n\r\n`);
    await waitUntil(() => hub.size === before + 1, 5000);
    // 40 MB of events for Frank, far beyond what the kernel's socket buffers and the stream's 1 MiB queue hold.
    const body = 'x'.repeat(16 * 1024);
    for (let batch = 0; batch < 10 && hub.size > before; batch++) {
      const rows = Array.from({ length: 250 }, (_, i) => ({ userId: frank.userId, workspaceId: null, type: 'notification', data: { i, body } }));
      await api.deps.database.db.transaction((tx) => insertLiveEvents(tx, rows));
    }
    await waitUntil(() => hub.size === before, 10_000);
    socket.destroy();
  });

  test('more than 20 open streams for one user is 429', async () => {
    const carol = await newUser(api, 'carol');
    const streams = [];
    for (let i = 0; i < 20; i++) streams.push(await stream({ cookie: carol.cookie }));
    expect(streams.every((s) => s.response.status === 200)).toBe(true);
    const extra = await stream({ cookie: carol.cookie });
    expect(extra.response.status).toBe(429);
    expect(((await extra.response.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_REQUESTS');
    // Another user is not limited by Carol's streams; and a closed one frees its place.
    expect((await stream({ cookie: bob.cookie })).response.status).toBe(200);
    streams[0]!.close();
    await waitUntil(async () => {
      const s = await stream({ cookie: carol.cookie });
      if (s.response.status === 200) return true;
      await s.response.body?.cancel();
      return false;
    }, 5000);
    for (const s of streams) s.close();
  });
});

test('the minute job prunes events older than 15 minutes and keeps newer ones', async () => {
  const { db } = api.deps.database;
  const old = await notificationFor(bob.userId, 'old');
  const recent = await notificationFor(bob.userId, 'recent');
  await db.execute(sql`update live_events set created_at = now() - interval '16 minutes' where data->>'id' = ${old}`);
  const outcome = await liveEventsPruneJob.handle(api.deps, {}, {} as never);
  expect(outcome).toMatchObject({ status: 'completed' });
  const kept = await db.execute<{ id: string }>(sql`select data->>'id' as id from live_events where data->>'id' in (${old}, ${recent})`);
  expect(kept.map((r) => r.id)).toEqual([recent]);
});

describe('notifications.markAllRead', () => {
  test("marks every unread notification of the caller, and nobody else's", async () => {
    const dave = await newUser(api, 'dave');
    const erin = await newUser(api, 'erin');
    const row = (userId: string, title: string) => ({ userId, type: 'test', title, body: null, link: null });
    const { db } = api.deps.database;
    await db
      .insert(notifications)
      .values([row(dave.userId, 'a'), row(dave.userId, 'b'), row(dave.userId, 'c'), row(erin.userId, 'x'), row(erin.userId, 'y')]);
    const [first] = (await dave.api.notifications.list.query({})).notifications;
    await dave.api.notifications.markRead.mutate({ ids: [first!.id] });

    expect(await dave.api.notifications.markAllRead.mutate()).toEqual({ count: 2 });
    const daves = await dave.api.notifications.list.query({});
    expect(daves.unreadCount).toBe(0);
    expect(daves.notifications.every((n) => n.readAt !== null)).toBe(true);
    expect((await erin.api.notifications.list.query({})).unreadCount).toBe(2);
    // Nothing left to mark.
    expect(await dave.api.notifications.markAllRead.mutate()).toEqual({ count: 0 });
  });
});

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}
