// Webhooks (issue 13): a workspace's events POSTed to its receivers, signed per Standard Webhooks and checked here
// with the `standardwebhooks` package's own verify; delivered through pg-boss at least once with a stable webhook-id,
// retried, given up, disabled after 3 days of failures; targets pass the SSRF guard of https sources.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { webhooks, workspaceMembers } from '../../db/schema/index.ts';
import { deliverWebhookJob } from '../../server/webhooks/deliver.job.ts';
import { newSigningSecret, sealSecret } from '../../server/webhooks/secret.ts';
import { insertArtifact } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

type Api = ReturnType<typeof client>;
type User = Awaited<ReturnType<typeof newUser>>;

interface Received {
  headers: Record<string, string>;
  body: string;
}

/**
 * A receiver on 127.0.0.1: `answer(n)` decides the status of the n-th request (1-based), or a promise of it
 * (a receiver that holds the request until the test lets go).
 */
function receiver(answer: (n: number) => number | Response | Promise<number>) {
  const requests: Received[] = [];
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const body = await req.text();
      requests.push({ headers: Object.fromEntries(req.headers), body });
      const a = await answer(requests.length);
      return typeof a === 'number' ? new Response(a === 204 ? null : `status ${a}`, { status: a }) : a;
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hook`, port: server.port, requests, stop: () => server.stop(true) };
}

/** The receiver's side of the Standard Webhooks contract: the payload, or the library's refusal. */
function verify(secret: string, r: Received) {
  return new Webhook(secret).verify(r.body, r.headers) as { type: string; timestamp: string; data: Record<string, unknown> };
}

let svc: TestService;
/** The same service with WEBHOOK_ALLOW_PRIVATE_HOSTS off (the default): its own database. */
let strict: TestService;
let alice: User;
const servers: { stop(): void }[] = [];
function listen(answer: Parameters<typeof receiver>[0]) {
  const r = receiver(answer);
  servers.push(r);
  return r;
}

/** Waits for the delivery's job to finish (succeeded, or given up), then reads the delivery as its admin. */
async function settled(s: TestService, api: Api, webhookId: string, deliveryId: string) {
  const done = await s.deps.boss.getSpy(deliverWebhookJob.name).waitForJobWithId(deliveryId, 'completed');
  const { deliveries } = await api.webhooks.deliveries.query({ webhookId });
  const delivery = deliveries.find((d) => d.id === deliveryId);
  if (!delivery) throw new Error(`delivery ${deliveryId} not listed`);
  return { delivery, output: done.output as Record<string, unknown> };
}

beforeAll(async () => {
  [svc, strict] = await Promise.all([
    startTestService({ label: 'webhooks', env: { WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' } }),
    startTestService({ label: 'webhooks-strict' }),
  ]);
  // The fast schedule: retries at once, three of them (production: 30 s doubling to an hour, for a day).
  for (const s of [svc, strict]) await s.deps.boss.updateQueue(deliverWebhookJob.name, { retryDelay: 0, retryBackoff: false, retryLimit: 3 });
  alice = await newUser(svc, 'alice');
}, 60_000);
afterAll(async () => {
  for (const s of servers) s.stop();
  await Promise.all([svc?.stop(), strict?.stop()]);
});

describe('delivery', () => {
  test('a real model.ready is signed per Standard Webhooks and carries ids and a dashboard link, never a signed URL', async () => {
    const rx = listen(() => 204);
    const { id: webhookId, secret } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.ready'], description: 'CI' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);

    const { jobId } = await runTrainingJob(svc, alice.api, { name: 'support-bot' });
    const job = await waitForIngest(alice.api, jobId);
    expect(job.ingestStatus).toBe('ready');
    // The delivery was written with the model, in the same transaction.
    const [first] = (await alice.api.webhooks.deliveries.query({ webhookId })).deliveries;
    const { delivery } = await settled(svc, alice.api, webhookId, first!.id);

    expect(rx.requests).toHaveLength(1);
    const sent = rx.requests[0]!;
    const message = verify(secret, sent);
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.headers['webhook-id']).toBe(delivery.messageId);
    expect(delivery.messageId).toMatch(/^msg_[0-9a-f-]{36}$/);
    const model = await alice.api.models.get.query({ modelId: job.artifactId! });
    expect(message).toMatchObject({
      type: 'model.ready',
      data: {
        modelId: job.artifactId,
        jobId,
        workspaceId: model.workspaceId,
        name: 'support-bot',
        family: model.family,
        version: model.version,
        filesCount: model.files.length,
        qualityScore: model.qualityScore,
        link: `${svc.deps.env.publicUrl}/models/${job.artifactId}`,
      },
    });
    expect(Date.parse(message.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    // Ids and a link, nothing that downloads: no signed /files/ link, no signature or expiry parameter.
    expect(sent.body).not.toMatch(/\/files\/|[?&](sig|signature|expires|token)=/i);
    // A signature made with any other secret is refused by the receiver's library.
    expect(() => verify(newSigningSecret(), sent)).toThrow(WebhookVerificationError);

    expect(delivery).toMatchObject({ event: 'model.ready', status: 'succeeded', attempts: 1, responseStatus: 204, error: null });
    expect(delivery.durationMs).toBeGreaterThanOrEqual(0);
    expect(delivery.attemptLog.map((a) => [a.attempt, a.ok, a.responseStatus])).toEqual([[1, true, 204]]);
  });

  test('a receiver that fails 3 times then succeeds gets one good delivery, the same webhook-id on all 4 attempts', async () => {
    const rx = listen((n) => (n <= 3 ? 500 : 200));
    const { id: webhookId, secret } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.ready'] });
    const { deliveryId, messageId } = await alice.api.webhooks.test.mutate({ webhookId });
    const { delivery } = await settled(svc, alice.api, webhookId, deliveryId);

    expect(rx.requests).toHaveLength(4);
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([messageId, messageId, messageId, messageId]);
    // The same body each time (only webhook-timestamp moves), each attempt signed.
    expect(new Set(rx.requests.map((r) => r.body)).size).toBe(1);
    for (const r of rx.requests) expect(verify(secret, r).type).toBe('webhook.test');
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 4, responseStatus: 200, error: null, nextAttemptAt: null });
    expect(delivery.attemptLog.map((a) => [a.attempt, a.ok, a.responseStatus])).toEqual([
      [1, false, 500],
      [2, false, 500],
      [3, false, 500],
      [4, true, 200],
    ]);
    expect(delivery.attemptLog[0]!.error).toContain('HTTP 500');
    // The success ended the run of failures.
    const [hook] = (await alice.api.webhooks.list.query()).filter((h) => h.id === webhookId);
    expect(hook).toMatchObject({ enabled: true, failingSince: null });
  });

  test('a receiver that never succeeds is given up after the last retry; a redirect is a failure and is not followed', async () => {
    const elsewhere = listen(() => 204);
    const rx = listen(() => new Response(null, { status: 302, headers: { location: elsewhere.url } }));
    const { id: webhookId } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['export.ready'] });
    const { deliveryId } = await alice.api.webhooks.test.mutate({ webhookId });
    const { delivery, output } = await settled(svc, alice.api, webhookId, deliveryId);

    expect(output).toMatchObject({ outcome: 'gave_up' });
    expect(rx.requests).toHaveLength(4);
    expect(elsewhere.requests).toHaveLength(0);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 4, responseStatus: 302 });
    expect(delivery.error).toContain('redirects are not followed');
    const [hook] = (await alice.api.webhooks.list.query()).filter((h) => h.id === webhookId);
    expect(hook!.enabled).toBe(true);
    expect(hook!.failingSince).not.toBeNull();
  });

  test('model.deleted sends one message per model, each with its own webhook-id', async () => {
    const rx = listen(() => 204);
    const { id: webhookId, secret } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.deleted'] });
    const models = await Promise.all([1, 2].map(() => insertArtifact(svc.deps, alice.userId, { files: [{ path: 'a.bin' }] })));
    await alice.api.models.delete.mutate({ modelIds: models.map((m) => m.id) });
    const { deliveries } = await alice.api.webhooks.deliveries.query({ webhookId });
    expect(deliveries).toHaveLength(2);
    for (const d of deliveries) await settled(svc, alice.api, webhookId, d.id);

    const messages = rx.requests.map((r) => verify(secret, r));
    expect(messages.map((m) => m.data.modelId).sort()).toEqual(models.map((m) => m.id).sort());
    expect(messages.map((m) => m.data.name).sort()).toEqual(models.map((m) => m.name).sort());
    expect(new Set(rx.requests.map((r) => r.headers['webhook-id'])).size).toBe(2);
    expect(messages.every((m) => m.type === 'model.deleted')).toBe(true);
  });

  test('rotateSecret: the old secret no longer verifies, the new one does', async () => {
    const rx = listen(() => 204);
    const { id: webhookId, secret: old } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.ready'] });
    const { secret } = await alice.api.webhooks.rotateSecret.mutate({ webhookId });
    expect(secret).not.toBe(old);
    const { deliveryId } = await alice.api.webhooks.test.mutate({ webhookId });
    await settled(svc, alice.api, webhookId, deliveryId);
    expect(rx.requests).toHaveLength(1);
    expect(() => verify(old, rx.requests[0]!)).toThrow(WebhookVerificationError);
    expect(verify(secret, rx.requests[0]!).type).toBe('webhook.test');
    // Never listed again.
    expect(JSON.stringify(await alice.api.webhooks.list.query())).not.toContain(secret.slice(6));
  });

  test('delete stops deliveries: an attempt under way records nothing, and nothing more is sent', async () => {
    let release!: (status: number) => void;
    const held = new Promise<number>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const rx = listen((n) => {
      if (n === 1) arrived();
      return n === 1 ? held : 204;
    });
    const { id: webhookId } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.ready'] });
    const { deliveryId } = await alice.api.webhooks.test.mutate({ webhookId });
    await first;
    await alice.api.webhooks.delete.mutate({ webhookId });
    release(500);
    const done = await svc.deps.boss.getSpy(deliverWebhookJob.name).waitForJobWithId(deliveryId, 'completed');
    expect(done.output).toMatchObject({ skipped: 'settled' });
    expect(rx.requests).toHaveLength(1);
    expect((await alice.api.webhooks.list.query()).map((h) => h.id)).not.toContain(webhookId);
    await expect(alice.api.webhooks.deliveries.query({ webhookId })).rejects.toThrow(/Webhook not found/);
  });
});

describe('the 3-day rule', () => {
  test('a webhook failing for 3 days is disabled at its next failure, and only admins and owners are told', async () => {
    const [admin, member] = await Promise.all([newUser(svc, 'admin'), newUser(svc, 'member')]);
    const owner = client(svc.url, { cookie: alice.cookie });
    const { id: workspaceId } = await owner.workspaces.create.mutate({ name: 'Pipelines' });
    await svc.deps.database.db.insert(workspaceMembers).values([
      { workspaceId, userId: admin.userId, role: 'admin' },
      { workspaceId, userId: member.userId, role: 'member' },
    ]);
    const rx = listen(() => 503);
    const { id: webhookId } = await owner.webhooks.create.mutate({ workspaceId, url: rx.url, events: ['model.ready'] });
    // Failing since 4 days ago (a clock would wait 3 days: the row says when the run of failures began).
    await svc.deps.database.db.update(webhooks).set({ failingSince: sql`now() - interval '4 days'` }).where(eq(webhooks.id, webhookId));
    const { deliveryId } = await owner.webhooks.test.mutate({ webhookId });
    const { delivery, output } = await settled(svc, owner, webhookId, deliveryId);

    // Disabled at the first failure: that delivery ends there, with no retry.
    expect(output).toMatchObject({ outcome: 'gave_up' });
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1, responseStatus: 503 });
    expect(rx.requests).toHaveLength(1);
    const [hook] = (await owner.webhooks.list.query({ workspaceId })).filter((h) => h.id === webhookId);
    expect(hook!.enabled).toBe(false);
    expect(hook!.disabledReason).toContain('3 days');

    const told = async (api: Api) => (await api.notifications.list.query({})).notifications.filter((n) => n.type === 'webhook_disabled');
    const ownerNotes = await told(owner);
    expect(ownerNotes).toHaveLength(1);
    expect(ownerNotes[0]).toMatchObject({ title: 'A webhook of Pipelines was disabled', link: '/webhooks' });
    expect(ownerNotes[0]!.body).toContain(rx.url);
    expect(await told(admin.api)).toHaveLength(1);
    expect(await told(member.api)).toHaveLength(0);

    // A disabled webhook receives no events; enabling it again starts afresh.
    const again = await owner.webhooks.update.mutate({ webhookId, enabled: true });
    expect(again).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
  });

  test('disabling by hand says who did it; a disabled webhook gets no event deliveries', async () => {
    const rx = listen(() => 204);
    const { id: webhookId } = await alice.api.webhooks.create.mutate({ url: rx.url, events: ['model.deleted'] });
    const off = await alice.api.webhooks.update.mutate({ webhookId, enabled: false, description: 'paused' });
    expect(off).toMatchObject({ enabled: false, description: 'paused', disabledReason: 'Disabled by Test User.' });
    const model = await insertArtifact(svc.deps, alice.userId, { files: [{ path: 'a.bin' }] });
    await alice.api.models.delete.mutate({ modelIds: [model.id] });
    expect((await alice.api.webhooks.deliveries.query({ webhookId })).deliveries).toHaveLength(0);
  });
});

describe('bad input and the SSRF guard', () => {
  test('a receiver on 127.0.0.1 or localhost is refused without WEBHOOK_ALLOW_PRIVATE_HOSTS, in one clear line', async () => {
    const bob = await newUser(strict, 'bob');
    const refusal = async (url: string) => {
      const err = await bob.api.webhooks.create.mutate({ url, events: ['model.ready'] }).then(
        () => null,
        (e: { data?: { code?: string; zodError?: { fieldErrors?: Record<string, string[]> } }; message: string }) => e,
      );
      expect(err?.data?.code).toBe('BAD_REQUEST');
      return err!.message;
    };
    expect(await refusal('https://127.0.0.1:8443/hook')).toBe(
      'The webhook URL 127.0.0.1 resolves to 127.0.0.1, a private, loopback or link-local address; webhooks reach public hosts only (WEBHOOK_ALLOW_PRIVATE_HOSTS allows local receivers).',
    );
    expect(await refusal('https://localhost/hook')).toMatch(/^The webhook URL localhost resolves to (127\.0\.0\.1|::1), a private/);
    expect(await refusal('https://[::ffff:169.254.169.254]/latest')).toContain('private, loopback or link-local');
    // Plain http, without the flag, is refused before any lookup.
    expect(await refusal('http://example.com/hook')).toBe(
      'The webhook URL must be https:// (plain http:// is allowed only when the server sets WEBHOOK_ALLOW_PRIVATE_HOSTS, for local receivers).',
    );
    expect((await bob.api.webhooks.list.query()).length).toBe(0);
  });

  test('the guard runs again at delivery: a stored target that now points at a private address is not contacted', async () => {
    const rx = listen(() => 204);
    const bob = await newUser(strict, 'bob2');
    const workspaceId = (await bob.api.workspaces.list.query())[0]!.id;
    // As if the name had resolved publicly when it was saved: the row is written directly.
    const id = crypto.randomUUID();
    await strict.deps.database.db.insert(webhooks).values({
      id,
      workspaceId,
      url: `https://127.0.0.1:${rx.port}/hook`,
      events: ['model.ready'],
      secretSealed: sealSecret(strict.deps.secret, id, newSigningSecret()),
      createdBy: bob.userId,
    });
    const { deliveryId } = await bob.api.webhooks.test.mutate({ webhookId: id });
    const { delivery } = await settled(strict, bob.api, id, deliveryId);
    expect(rx.requests).toHaveLength(0);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 4, responseStatus: null });
    expect(delivery.error).toContain('Not sent: the URL 127.0.0.1 resolves to 127.0.0.1');
  });

  test('unknown event names, credentials in the URL, a URL over 2048 characters: BAD_REQUEST naming the problem', async () => {
    // The field's message (zod's, as the dashboard shows it under the field).
    const create = (input: { url: string; events: string[] }) =>
      alice.api.webhooks.create.mutate(input as never).then(
        () => 'accepted',
        (e: { data?: { code?: string; zodError?: { fieldErrors: Record<string, string[]> } } }) => {
          expect(e.data?.code).toBe('BAD_REQUEST');
          return Object.entries(e.data?.zodError?.fieldErrors ?? {})
            .map(([field, [message]]) => `${field}: ${message}`)
            .join('; ');
        },
      );
    const unknown = await create({ url: 'http://127.0.0.1:9/x', events: ['model.ready', 'model.exploded', 'job.done'] });
    expect(unknown).toStartWith('events: unknown events "model.exploded", "job.done"');
    expect(unknown).toContain('known: model.ready, model.failed, model.deleted, export.ready');
    expect(await create({ url: 'http://127.0.0.1:9/x', events: [] })).toContain('choose at least one event');
    expect(await create({ url: 'https://user:pw@example.com/x', events: ['model.ready'] })).toContain('must not carry credentials');
    expect(await create({ url: `https://example.com/${'a'.repeat(2048)}`, events: ['model.ready'] })).toContain('at most 2048');
    expect(await create({ url: 'ftp://example.com/x', events: ['model.ready'] })).toBe('url: must be an https:// URL');
    expect(await create({ url: 'not a url', events: ['model.ready'] })).toContain('absolute URL');
  });

  test('at most 20 webhooks per workspace', async () => {
    const carol = await newUser(svc, 'carol');
    for (let i = 0; i < 20; i++) await carol.api.webhooks.create.mutate({ url: `http://127.0.0.1:9/${i}`, events: ['model.ready'] });
    await expect(carol.api.webhooks.create.mutate({ url: 'http://127.0.0.1:9/x', events: ['model.ready'] })).rejects.toThrow(
      'A workspace has at most 20 webhooks',
    );
  });
});

describe('who may', () => {
  test('admins and owners only: a member or viewer is FORBIDDEN, a stranger NOT_FOUND', async () => {
    const [member, viewer, stranger] = await Promise.all([newUser(svc, 'm'), newUser(svc, 'v'), newUser(svc, 's')]);
    const owner = client(svc.url, { cookie: alice.cookie });
    const { id: workspaceId } = await owner.workspaces.create.mutate({ name: 'Roles' });
    await svc.deps.database.db.insert(workspaceMembers).values([
      { workspaceId, userId: member.userId, role: 'member' },
      { workspaceId, userId: viewer.userId, role: 'viewer' },
    ]);
    const { id: webhookId } = await owner.webhooks.create.mutate({ workspaceId, url: 'http://127.0.0.1:9/x', events: ['model.ready'] });
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { data?: { code?: string } }) => e.data?.code,
      );
    for (const [who, expected] of [
      [member, 'FORBIDDEN'],
      [viewer, 'FORBIDDEN'],
      [stranger, 'NOT_FOUND'],
    ] as const) {
      const api = client(svc.url, { cookie: who.cookie });
      expect({
        create: await code(api.webhooks.create.mutate({ workspaceId, url: 'http://127.0.0.1:9/y', events: ['model.ready'] })),
        list: await code(api.webhooks.list.query({ workspaceId })),
        update: await code(api.webhooks.update.mutate({ webhookId, enabled: false })),
        rotateSecret: await code(api.webhooks.rotateSecret.mutate({ webhookId })),
        test: await code(api.webhooks.test.mutate({ webhookId })),
        deliveries: await code(api.webhooks.deliveries.query({ webhookId })),
        delete: await code(api.webhooks.delete.mutate({ webhookId })),
      }).toEqual({
        create: expected,
        list: expected,
        update: expected,
        rotateSecret: expected,
        test: expected,
        deliveries: expected,
        delete: expected,
      });
    }
    // Nothing changed.
    expect((await owner.webhooks.list.query({ workspaceId })).map((h) => [h.id, h.enabled])).toEqual([[webhookId, true]]);
  });
});
