// Storage usage by model, family, trash and checkpoints; and WORKSPACE_QUOTA_BYTES, checked before copying.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { modelArtifacts, workspaceMembers } from '../../db/schema/index.ts';
import { artifactIdFor, storagePrefix } from '../../server/ingest/artifact-id.ts';
import { cardAllowance } from '../../server/adapters/card-store.ts';
import { formatBytes } from '../../server/storage/free-space.ts';
import { writeLoraOutput } from '../fixtures/lora.ts';
import { fileBytes, insertArtifact } from '../helpers/factories.ts';
import { storedFiles } from '../helpers/ingest.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { CARD_PATH, reportedCurve, runTrainingJob, waitForIngest } from '../helpers/training.ts';

type Api = ReturnType<typeof client>;

const QUOTA = 2_000_000;
const LORA = { layers: 2, hidden: 64, checkpoints: [100, 200, 300] };
let svc: TestService;
/** The bytes of the run's whole output, and the most its `best` pruning can keep (top level and the biggest folder). */
let allBytes: number;
let bestBytes: number;
/** What the quota check counts for each: the kept output plus the generated card's allowance. */
let allNeeds: number;
let bestNeeds: number;

beforeAll(async () => {
  // The fixture is deterministic: written once here, its sizes are those of every run below.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-usage-'));
  try {
    // As runTrainingJob writes it: its trainer_state.json holds the curve the worker reports.
    const { files } = await writeLoraOutput(dir, { curve: reportedCurve(), ...LORA });
    allBytes = files.reduce((a, f) => a + f.size, 0);
    const folders = LORA.checkpoints.map((s) => files.filter((f) => f.path.startsWith(`checkpoint-${s}/`)).reduce((a, f) => a + f.size, 0));
    bestBytes = allBytes - folders.reduce((a, b) => a + b, 0) + Math.max(...folders);
    const perFolder = files.filter((f) => f.path.startsWith(`checkpoint-${LORA.checkpoints[0]}/`)).length;
    allNeeds = allBytes + cardAllowance(files.length);
    bestNeeds = bestBytes + cardAllowance(files.length - perFolder * (LORA.checkpoints.length - 1));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  svc = await startTestService({ label: 'registry_usage', env: { WORKSPACE_QUOTA_BYTES: String(QUOTA) } });
}, 120_000);
afterAll(() => svc?.stop(), 120_000);

/** Gives `modelId` this many stored bytes (as if its files were that big): the quota counts total_bytes. */
async function setTotalBytes(modelId: string, bytes: number) {
  await svc.deps.database.db.update(modelArtifacts).set({ totalBytes: bytes }).where(eq(modelArtifacts.id, modelId));
}

describe('workspaces.usage', () => {
  test('bytes by model and family, live, in the trash, in checkpoints and pruned, summed in SQL; members only', async () => {
    const u = await newUser(svc, 'usage');
    const web = client(svc.url, { cookie: u.cookie });
    const { id: workspaceId } = await web.workspaces.create.mutate({ name: 'Usage' });
    const [viewer, stranger] = await Promise.all([newUser(svc, 'viewer'), newUser(svc, 'stranger')]);
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId, userId: viewer.userId, role: 'viewer' });
    const file = (p: string, size: number, kind: 'adapter_weights' | 'checkpoint' | 'other') => ({ path: p, bytes: fileBytes(p, size), kind });
    const big = await insertArtifact(svc.deps, u.userId, {
      workspaceId,
      family: 'alpha',
      files: [
        file('adapter_model.safetensors', 300, 'adapter_weights'),
        file('checkpoint-1/a', 200, 'checkpoint'),
        file('checkpoint-1/b', 100, 'checkpoint'),
      ],
    });
    const small = await insertArtifact(svc.deps, u.userId, {
      workspaceId,
      family: 'alpha',
      files: [file('adapter_model.safetensors', 50, 'adapter_weights')],
    });
    const trashed = await insertArtifact(svc.deps, u.userId, {
      workspaceId,
      family: 'beta',
      files: [file('checkpoint-9/x', 400, 'checkpoint'), file('notes.txt', 10, 'other')],
    });
    const db = svc.deps.database.db;
    await db.update(modelArtifacts).set({ deletedAt: sql`now()` }).where(eq(modelArtifacts.id, trashed.id));
    await db.update(modelArtifacts).set({ prunedBytes: 1234 }).where(eq(modelArtifacts.id, big.id));
    // Another workspace's bytes count there, not here.
    await insertArtifact(svc.deps, stranger.userId, { files: [file('adapter_model.safetensors', 999, 'adapter_weights')] });

    const usage = await client(svc.url, { cookie: viewer.cookie }).workspaces.usage.query({ workspaceId });
    expect(usage).toEqual({
      workspaceId,
      totalBytes: 1060,
      quotaBytes: QUOTA,
      liveBytes: 650,
      trashBytes: 410,
      checkpointBytes: 700,
      prunedBytes: 1234,
      models: [
        { id: big.id, name: big.name, family: 'alpha', version: big.version, totalBytes: 600, checkpointBytes: 300, deleted: false },
        { id: trashed.id, name: trashed.name, family: 'beta', version: trashed.version, totalBytes: 410, checkpointBytes: 400, deleted: true },
        { id: small.id, name: small.name, family: 'alpha', version: small.version, totalBytes: 50, checkpointBytes: 0, deleted: false },
      ],
      families: [
        { family: 'alpha', models: 2, totalBytes: 650 },
        { family: 'beta', models: 1, totalBytes: 410 },
      ],
    });
    // Without a workspace: the caller's personal one (here empty).
    expect(await u.api.workspaces.usage.query()).toMatchObject({ totalBytes: 0, models: [], families: [] });
    await expect(stranger.api.workspaces.usage.query({ workspaceId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });
});

describe('WORKSPACE_QUOTA_BYTES', () => {
  test('an ingest that would pass the quota fails before copying, tells every member, and counts pruning; one under it succeeds', async () => {
    // The fixture must leave room for the arithmetic below: pruning to the best saves real bytes.
    expect(allBytes - bestBytes).toBeGreaterThan(1000);
    const u = await newUser(svc, 'quota');
    const web = client(svc.url, { cookie: u.cookie });
    const { id: workspaceId } = await web.workspaces.create.mutate({ name: 'Quota' });
    const mate = await newUser(svc, 'mate');
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId, userId: mate.userId, role: 'member' });
    const { token } = await web.tokens.create.mutate({ name: 'team', workspaceId });
    const api: Api = client(svc.url, { token });
    // The workspace already stores enough that the whole output no longer fits, but the output pruned to its best does.
    const room = Math.floor((allNeeds + bestNeeds) / 2);
    const padding = await insertArtifact(svc.deps, u.userId, { workspaceId });
    await setTotalBytes(padding.id, QUOTA - room);

    expectErrorLog(/ingest failed/);
    // Every object written while the refused run ingests: a failed ingest deletes what it wrote, so only this shows nothing was.
    const storage = svc.deps.storage;
    const put = storage.put;
    const written: string[] = [];
    storage.put = (key, body, options) => {
      written.push(key);
      return put(key, body, options);
    };
    const refused = await runTrainingJob(svc, api, { name: 'too-big', lora: LORA });
    const job = await waitForIngest(api, refused.jobId).finally(() => {
      storage.put = put;
    });
    expect(job.ingestStatus).toBe('failed');
    expect(job.artifactId).toBeNull();
    expect(job.ingestError).toStartWith("This workspace's storage quota is full: it uses ");
    expect(job.ingestError).toContain(`this model needs ${formatBytes(allNeeds)}`);
    expect(job.ingestError).toContain('WORKSPACE_QUOTA_BYTES');
    // Refused before copying: not one object under the run's prefix.
    expect(written.filter((key) => key.startsWith(storagePrefix(artifactIdFor(refused.jobId))))).toEqual([]);
    expect(storedFiles(svc, storagePrefix(artifactIdFor(refused.jobId)))).toEqual([]);
    for (const who of [web, client(svc.url, { cookie: mate.cookie })]) {
      const { notifications } = await who.notifications.list.query();
      expect(notifications.find((n) => n.type === 'ingest_failed' && n.link === `/jobs?job=${refused.jobId}`)?.body).toBe(job.ingestError!);
    }

    // The same output, with the workspace keeping only the best checkpoint, fits: pruning happens before the check.
    await web.workspaces.update.mutate({ workspaceId, settings: { keepCheckpoints: 'best' } });
    const fits = await runTrainingJob(svc, api, { name: 'pruned-fits', lora: LORA });
    const ok = await waitForIngest(api, fits.jobId);
    expect(ok.ingestError).toBeNull();
    expect(ok.ingestStatus).toBe('ready');
    const usage = await web.workspaces.usage.query({ workspaceId });
    // The quota is checked before copying on the output's kept bytes plus an allowance for the generated model
    // card (rendered at delivery), so the model's total, the kept output plus the card, stays within the quota.
    const card = (await web.models.get.query({ modelId: ok.artifactId! })).files.find((f) => f.path === CARD_PATH)!;
    const modelBytes = usage.models.find((m) => m.id === ok.artifactId)!.totalBytes;
    expect(usage.prunedBytes).toBe(allBytes - (modelBytes - card.sizeBytes));
    // The allowance bounds the card.
    expect(card.sizeBytes).toBeLessThanOrEqual(bestNeeds - bestBytes);
    expect(usage.totalBytes).toBe(QUOTA - room + modelBytes);
    expect(usage.totalBytes).toBeLessThanOrEqual(QUOTA);
  }, 60_000);

  test('a workspace under its quota ingests as usual', async () => {
    const u = await newUser(svc, 'roomy');
    const run = await runTrainingJob(svc, u.api, { name: 'fits', lora: LORA });
    const job = await waitForIngest(u.api, run.jobId);
    expect(job.ingestError).toBeNull();
    expect(job.ingestStatus).toBe('ready');
    // The whole output and the generated model card (its size as recorded for it).
    const card = (await u.api.models.get.query({ modelId: job.artifactId! })).files.find((f) => f.path === CARD_PATH)!;
    expect(card.kind).toBe('model_card');
    expect((await u.api.workspaces.usage.query()).totalBytes).toBe(allBytes + card.sizeBytes);
  }, 60_000);
});
