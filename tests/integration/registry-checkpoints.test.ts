// Checkpoints kept by quality: ranked at ingest, pruned at ingest (never copied) or on demand (rows and
// exact objects deleted, kept bytes untouched), and promoted as the model's main adapter without a copy.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { workspaceMembers } from '../../db/schema/index.ts';
import type { LossCurveSample, WrittenFile } from '../fixtures/lora.ts';
import { insertArtifact } from '../helpers/factories.ts';
import { sqlFor, storedFiles } from '../helpers/ingest.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, CARD_PATH, deliveredPaths, runTrainingJob, waitForIngest } from '../helpers/training.ts';

type Api = ReturnType<typeof client>;

let svc: TestService;
let tmp: string;
let teamId: string;
/** Clients of the team's owner, a member (write), a viewer (read) and a stranger (their own workspace only). */
let owner: Api;
let member: Api;
let viewer: Api;
let stranger: Api;

const STEPS = [100, 150, 200, 250, 300];
/** Small adapters: the test is about which bytes are kept, not how many. */
const LORA = { layers: 2, hidden: 64, checkpoints: STEPS };

beforeAll(async () => {
  svc = await startTestService({ label: 'registry_checkpoints' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-checkpoints-'));
  const [o, m, v, s] = await Promise.all([newUser(svc, 'owner'), newUser(svc, 'member'), newUser(svc, 'viewer'), newUser(svc, 'stranger')]);
  owner = client(svc.url, { cookie: o.cookie });
  ({ id: teamId } = await owner.workspaces.create.mutate({ name: 'Checkpoints' }));
  await svc.deps.database.db.insert(workspaceMembers).values([
    { workspaceId: teamId, userId: m.userId, role: 'member' },
    { workspaceId: teamId, userId: v.userId, role: 'viewer' },
  ]);
  member = client(svc.url, { cookie: m.cookie });
  viewer = client(svc.url, { cookie: v.cookie });
  stranger = s.api;
}, 120_000);
afterAll(async () => {
  await svc?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function fetchSha(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return sha256(new Uint8Array(await res.arrayBuffer()));
}

/** A token of the team workspace for the owner: jobs and datasets made with it land in the team. */
async function teamApi(): Promise<Api> {
  const { token } = await owner.tokens.create.mutate({ name: `team-${Math.random()}`, workspaceId: teamId });
  return client(svc.url, { token });
}

/** The validation loss that judges a checkpoint at `step`: the last reported one at or before it. */
function validationAt(curve: LossCurveSample[], step: number): number | null {
  let found: number | null = null;
  for (const p of curve) if (p.step <= step && p.validationLoss !== null) found = p.validationLoss;
  return found;
}

/** Checkpoint names best first, as the policy ranks them: lowest loss, ties to the later step, unscored last. */
function expectedRanking(curve: LossCurveSample[], steps: number[]): string[] {
  return steps
    .map((step) => ({ step, loss: validationAt(curve, step) }))
    .sort((a, b) => ((a.loss === null) !== (b.loss === null) ? (a.loss === null ? 1 : -1) : (a.loss ?? 0) - (b.loss ?? 0) || b.step - a.step))
    .map((c) => `checkpoint-${c.step}`);
}

const folderFiles = (files: WrittenFile[], folder: string) => files.filter((f) => f.path.startsWith(`${folder}/`));
const bytesOf = (files: WrittenFile[]) => files.reduce((a, f) => a + f.size, 0);

/** An overfitting run (validation climbs in its second half) with five checkpoints, delivered in the team. */
async function deliver(options: { steps?: number[] } = {}) {
  const api = await teamApi();
  const run = await runTrainingJob(svc, api, { name: 'ckpt', overfit: true, lora: { ...LORA, checkpoints: options.steps ?? STEPS } });
  const job = await waitForIngest(api, run.jobId);
  expect(job.ingestError).toBeNull();
  expect(job.ingestStatus).toBe('ready');
  return { ...run, modelId: job.artifactId!, ranking: expectedRanking(run.curve, options.steps ?? STEPS) };
}

/** Every file of the model downloaded through models.download: path → SHA-256 of the bytes served. */
async function downloadAll(api: Api, modelId: string): Promise<Map<string, string>> {
  const { files } = await api.models.download.mutate({ modelId });
  return new Map(await Promise.all(files.map(async (f) => [f.path, await fetchSha(f.url)] as const)));
}

async function bundleFile(api: Api, modelId: string, file: string, label: string): Promise<string> {
  const { bundle } = await api.models.download.mutate({ modelId });
  const res = await fetch(bundle!.url);
  expect(res.status).toBe(200);
  const zip = path.join(tmp, `${label}.zip`);
  await Bun.write(zip, new Uint8Array(await res.arrayBuffer()));
  const out = path.join(tmp, label);
  expect(Bun.spawnSync(['unzip', '-q', zip, '-d', out]).exitCode).toBe(0);
  // The bundle's own SHA256SUMS agrees with what it carries.
  const check = Bun.spawnSync(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], { cwd: out, stdout: 'pipe', stderr: 'pipe' });
  expect(check.exitCode).toBe(0);
  return sha256(fs.readFileSync(path.join(out, file)));
}

describe('ranking and recommendation', () => {
  test('models.get ranks every checkpoint by its validation loss and recommends the best, saying why', async () => {
    const run = await deliver();
    const model = await owner.models.get.query({ modelId: run.modelId });
    const best = run.ranking[0]!;
    const final = 'checkpoint-300';
    expect(model.checkpoints.main).toBeNull();
    expect(model.checkpoints.prunedBytes).toBe(0);
    expect(model.checkpoints.items).toEqual(
      STEPS.map((step) => ({
        name: `checkpoint-${step}`,
        step,
        validationLoss: validationAt(run.curve, step),
        pruned: false,
        bytes: bytesOf(folderFiles(run.files, `checkpoint-${step}`)),
      })),
    );
    // An overfitting run: the best is not the last.
    expect(best).not.toBe(final);
    const bestLoss = validationAt(run.curve, Number(best.split('-')[1]))!;
    const finalLoss = validationAt(run.curve, 300)!;
    expect(model.checkpoints.recommended).toEqual({
      name: best,
      validationLoss: bestLoss,
      reason: `lowest validation loss (${bestLoss.toFixed(3)} at step ${best.split('-')[1]}), ${Math.round(((finalLoss - bestLoss) * 100) / finalLoss)}% below the final checkpoint's ${finalLoss.toFixed(3)}`,
    });
  }, 60_000);
});

describe('promoteCheckpoint', () => {
  test("a promoted checkpoint's adapter is what every download serves (files, bundle, share link); 'final' restores", async () => {
    const run = await deliver();
    const best = run.ranking[0]!;
    const original = run.files.find((f) => f.path === 'adapter_model.safetensors')!;
    const promoted = run.files.find((f) => f.path === `${best}/adapter_model.safetensors`)!;
    const promotedConfig = run.files.find((f) => f.path === `${best}/adapter_config.json`)!;
    expect(promoted.sha256).not.toBe(original.sha256);

    // A member (write) may promote.
    expect(await member.models.promoteCheckpoint.mutate({ modelId: run.modelId, checkpoint: best })).toEqual({
      modelId: run.modelId,
      mainCheckpoint: best,
    });
    const model = await owner.models.get.query({ modelId: run.modelId });
    expect(model.checkpoints.main).toBe(best);
    const listed = model.files.find((f) => f.path === 'adapter_model.safetensors')!;
    expect({ sha256: listed.sha256, sizeBytes: listed.sizeBytes }).toEqual({ sha256: promoted.sha256, sizeBytes: promoted.size });
    expect(model.files.find((f) => f.path === 'adapter_config.json')!.sha256).toBe(promotedConfig.sha256);
    // The checkpoint's own files are still listed as themselves.
    expect(model.files.find((f) => f.path === `${best}/adapter_model.safetensors`)!.sha256).toBe(promoted.sha256);

    // Signed links (fs: asked again at download time, by storage key) serve the checkpoint's bytes.
    const served = await downloadAll(member, run.modelId);
    expect(served.get('adapter_model.safetensors')).toBe(promoted.sha256);
    expect(served.get('adapter_config.json')).toBe(promotedConfig.sha256);
    expect(await bundleFile(viewer, run.modelId, 'adapter_model.safetensors', 'promoted')).toBe(promoted.sha256);
    const share = await owner.models.share.mutate({ modelId: run.modelId });
    const publicApi = client(svc.url);
    const shared = await publicApi.shares.download.mutate({ token: share.token });
    const sharedAdapter = shared.files.find((f) => f.path === 'adapter_model.safetensors')!;
    expect(sharedAdapter.sha256).toBe(promoted.sha256);
    expect(await fetchSha(sharedAdapter.url)).toBe(promoted.sha256);

    await owner.models.promoteCheckpoint.mutate({ modelId: run.modelId, checkpoint: 'final' });
    expect((await owner.models.get.query({ modelId: run.modelId })).checkpoints.main).toBeNull();
    expect((await downloadAll(owner, run.modelId)).get('adapter_model.safetensors')).toBe(original.sha256);
    expect(await bundleFile(owner, run.modelId, 'adapter_model.safetensors', 'restored')).toBe(original.sha256);
  }, 60_000);

  test('refused: a checkpoint the model lacks, one without adapter weights, a model without a top-level adapter; roles', async () => {
    const run = await deliver({ steps: [100, 200] });
    const refusal = (api: Api, modelId: string, checkpoint: string) =>
      api.models.promoteCheckpoint.mutate({ modelId, checkpoint }).then(
        () => null,
        (e: { data?: { code?: string; zodError?: { fieldErrors?: Record<string, string[]> } }; message: string }) => ({
          code: e.data?.code,
          fields: Object.keys(e.data?.zodError?.fieldErrors ?? {}),
          message: e.message,
        }),
      );
    expect(await refusal(owner, run.modelId, 'checkpoint-999')).toMatchObject({ code: 'BAD_REQUEST', fields: ['checkpoint'] });
    expect((await refusal(owner, run.modelId, 'checkpoint-999'))!.message).toContain('checkpoint-100, checkpoint-200');
    // A prefix of a folder name is not a folder.
    expect(await refusal(owner, run.modelId, 'checkpoint-1')).toMatchObject({ code: 'BAD_REQUEST', fields: ['checkpoint'] });
    expect(await refusal(viewer, run.modelId, 'checkpoint-100')).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(stranger, run.modelId, 'checkpoint-100')).toMatchObject({ code: 'NOT_FOUND' });

    const { userId } = (await owner.workspaces.members.list.query({ workspaceId: teamId })).find((m) => m.role === 'owner')!;
    const noWeights = await insertArtifact(svc.deps, userId, {
      workspaceId: teamId,
      files: [
        { path: 'adapter_model.safetensors', kind: 'adapter_weights' },
        { path: 'checkpoint-5/trainer_state.json', kind: 'checkpoint' },
      ],
    });
    expect(await refusal(owner, noWeights.id, 'checkpoint-5')).toMatchObject({ code: 'BAD_REQUEST', fields: ['checkpoint'] });
    expect((await refusal(owner, noWeights.id, 'checkpoint-5'))!.message).toContain('no adapter weights');
    const noTopLevel = await insertArtifact(svc.deps, userId, {
      workspaceId: teamId,
      files: [{ path: 'checkpoint-5/adapter_model.safetensors', kind: 'checkpoint' }],
    });
    expect((await refusal(owner, noTopLevel.id, 'checkpoint-5'))!.message).toContain('no top-level adapter files');
    // Nothing changed.
    expect((await owner.models.get.query({ modelId: run.modelId })).checkpoints.main).toBeNull();
  }, 60_000);
});

describe('pruneCheckpoints', () => {
  test('keeps exactly the chosen checkpoints (and the promoted one), with every kept file byte for byte; the pruned objects go', async () => {
    const run = await deliver();
    const [best, second, ...rest] = run.ranking;
    const sql = sqlFor(svc);
    try {
      // The runner-up is the main adapter: pruning to the best must keep it too.
      await owner.models.promoteCheckpoint.mutate({ modelId: run.modelId, checkpoint: second! });
      const before = await downloadAll(owner, run.modelId);
      const modelBefore = await owner.models.get.query({ modelId: run.modelId });
      const keys = async () =>
        new Map(
          (await sql<{ path: string; storage_key: string }[]>`select path, storage_key from artifact_files where artifact_id = ${run.modelId}`).map(
            (r) => [r.path, r.storage_key],
          ),
        );
      const keysBefore = await keys();
      const doomed = rest.flatMap((name) => folderFiles(run.files, name!));
      const prefix = `artifacts/${run.modelId}/`;
      expect(storedFiles(svc, prefix)).toHaveLength(run.files.length + 1); // and the generated card

      // Bad input and roles first: nothing changes.
      await expect(owner.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 0 })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', zodError: { fieldErrors: { keep: expect.any(Array) } } },
      });
      await expect(member.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 'best' })).rejects.toMatchObject({
        data: { code: 'FORBIDDEN' },
      });
      await expect(stranger.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 'best' })).rejects.toMatchObject({
        data: { code: 'NOT_FOUND' },
      });
      expect(await keys()).toEqual(keysBefore);

      const result = await owner.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 'best' });
      expect([...result.kept].sort()).toEqual([best!, second!].sort());
      expect([...result.pruned].sort()).toEqual([...rest].sort());
      expect(result.freedBytes).toBe(bytesOf(doomed));

      const model = await owner.models.get.query({ modelId: run.modelId });
      expect(model.files.map((f) => f.path)).toEqual(modelBefore.files.map((f) => f.path).filter((p) => !doomed.some((d) => d.path === p)));
      // The prune renders the card again (it lists the files and checkpoints): the total follows the card's new size too.
      const cardSize = (m: typeof model) => m.files.find((f) => f.path === CARD_PATH)!.sizeBytes;
      expect(model.totalBytes).toBe(modelBefore.totalBytes - result.freedBytes + cardSize(model) - cardSize(modelBefore));
      expect(model.checkpoints.prunedBytes).toBe(result.freedBytes);
      expect(
        model.checkpoints.items
          .filter((i) => i.pruned)
          .map((i) => i.name)
          .sort(),
      ).toEqual([...rest].sort());
      expect(model.checkpoints.items.find((i) => i.name === rest[0])!.bytes).toBe(bytesOf(folderFiles(run.files, rest[0]!)));
      expect(model.checkpoints.recommended!.name).toBe(best!);

      // The exact objects go (by key: `…/1` must not take `…/10` with it); every other one stays.
      await svc.deps.boss
        .getSpy<{ keys?: string[] }>('purge-objects')
        .waitForJob((data) => (data.keys ?? []).includes(keysBefore.get(doomed[0]!.path)!), 'completed');
      const left = new Set(storedFiles(svc, prefix));
      for (const f of doomed) expect(left.has(keysBefore.get(f.path)!)).toBe(false);
      // Every kept file keeps its object; the card's is the one its new content names (the old one goes with it).
      const keysAfter = await keys();
      for (const [p, key] of keysAfter) if (p !== CARD_PATH) expect({ p, key }).toEqual({ p, key: keysBefore.get(p)! });
      if (keysAfter.get(CARD_PATH) !== keysBefore.get(CARD_PATH)) expect(left.has(keysBefore.get(CARD_PATH)!)).toBe(false);
      expect(left).toEqual(new Set(model.files.map((f) => keysAfter.get(f.path)!)));
      expect(left.size).toBe(run.files.length - doomed.length + 1);

      // Every kept file downloads with the bytes it had (the promoted adapter included); the card as now recorded.
      const after = await downloadAll(owner, run.modelId);
      expect([...after.keys()].sort()).toEqual([...before.keys()].filter((p) => !doomed.some((d) => d.path === p)).sort());
      for (const [p, sha] of after) if (p !== CARD_PATH) expect({ p, sha }).toEqual({ p, sha: before.get(p)! });
      for (const [p, sha] of after) expect(sha).toBe(model.files.find((f) => f.path === p)!.sha256);

      // A pruned checkpoint cannot be promoted.
      await expect(owner.models.promoteCheckpoint.mutate({ modelId: run.modelId, checkpoint: rest[0]! })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', zodError: { fieldErrors: { checkpoint: [expect.stringContaining('was pruned')] } } },
      });
      // Once the runner-up is no longer the main adapter, keeping 1 prunes it.
      await owner.models.promoteCheckpoint.mutate({ modelId: run.modelId, checkpoint: 'final' });
      const again = await owner.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 1 });
      expect(again).toMatchObject({ kept: [best!], pruned: [second!], freedBytes: bytesOf(folderFiles(run.files, second!)) });
      expect((await owner.models.get.query({ modelId: run.modelId })).checkpoints.prunedBytes).toBe(result.freedBytes + again.freedBytes);
    } finally {
      await sql.end();
    }
  }, 90_000);
});

describe('keepCheckpoints at ingest', () => {
  test("the workspace's N best are copied, the rest never are; pruned bytes are recorded", async () => {
    await expect(owner.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 0 } })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST', zodError: { fieldErrors: { 'settings.keepCheckpoints': expect.any(Array) } } },
    });
    await expect(member.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 2 } })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
    });
    expect((await owner.workspaces.get.query({ workspaceId: teamId })).settings).toEqual({ keepCheckpoints: 'all', includeSkipped: false });
    expect(await owner.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 2 } })).toEqual({
      id: teamId,
      settings: { keepCheckpoints: 2, includeSkipped: false },
    });
    expect((await viewer.workspaces.get.query({ workspaceId: teamId })).settings).toEqual({ keepCheckpoints: 2, includeSkipped: false });
    try {
      const run = await deliver();
      const kept = run.ranking.slice(0, 2);
      const pruned = run.ranking.slice(2);
      const never = pruned.flatMap((name) => folderFiles(run.files, name));
      const model = await owner.models.get.query({ modelId: run.modelId });
      expect(model.files.map((f) => f.path).sort()).toEqual(
        deliveredPaths(run.files.map((f) => f.path).filter((p) => !never.some((n) => n.path === p))),
      );
      // The copied files and the generated card (its size as recorded for it).
      const card = model.files.find((f) => f.path === CARD_PATH)!;
      expect(card.kind).toBe('model_card');
      expect(model.totalBytes).toBe(bytesOf(run.files) - bytesOf(never) + card.sizeBytes);
      expect(storedFiles(svc, `artifacts/${run.modelId}/`)).toHaveLength(run.files.length - never.length + 1);
      expect(model.checkpoints.prunedBytes).toBe(bytesOf(never));
      expect(
        model.checkpoints.items
          .filter((i) => !i.pruned)
          .map((i) => i.name)
          .sort(),
      ).toEqual([...kept].sort());
      expect(
        model.checkpoints.items
          .filter((i) => i.pruned)
          .map((i) => i.name)
          .sort(),
      ).toEqual([...pruned].sort());
      // Still ranked on all of them (the scoring ran on the listing, before the copy).
      expect(model.bestCheckpoint?.checkpoints?.map((c) => c.name).sort()).toEqual(STEPS.map((s) => `checkpoint-${s}`).sort());
      // Each kept file is the run's own; the card is as recorded.
      const served = await downloadAll(owner, run.modelId);
      const output = asKept(run.files);
      for (const [p, sha] of served) expect({ p, sha }).toEqual({ p, sha: p === CARD_PATH ? card.sha256 : output.find((f) => f.path === p)!.sha256 });
    } finally {
      await owner.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 'all' } });
    }
  }, 90_000);

  test('with no validation point to rank by, every checkpoint is kept, and pruning says why', async () => {
    await owner.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 'best' } });
    try {
      // Validation is reported every 50 steps: checkpoints at 10 and 20 have none at or before them.
      const run = await deliver({ steps: [10, 20] });
      const model = await owner.models.get.query({ modelId: run.modelId });
      expect(model.checkpoints.items.map((i) => [i.name, i.pruned, i.validationLoss])).toEqual([
        ['checkpoint-10', false, null],
        ['checkpoint-20', false, null],
      ]);
      expect(model.checkpoints.recommended).toBeNull();
      const result = await owner.models.pruneCheckpoints.mutate({ modelId: run.modelId, keep: 'best' });
      expect(result).toMatchObject({ kept: ['checkpoint-10', 'checkpoint-20'], pruned: [], freedBytes: 0 });
      expect(result.note).toContain('no validation point');
    } finally {
      await owner.workspaces.update.mutate({ workspaceId: teamId, settings: { keepCheckpoints: 'all' } });
    }
  }, 60_000);
});
