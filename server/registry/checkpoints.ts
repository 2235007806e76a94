/**
 * Checkpoints kept by quality. A run's `checkpoint-<step>/` folders are ranked by their validation loss (the
 * scoring in server/quality/checkpoints.ts); a workspace keeps `all`, the `best`, the `best+final` or the
 * N best, at ingest (pruned checkpoints are never copied) or on demand (their files are deleted). A model's
 * main adapter may be a promoted checkpoint's, served in place of the run's own (a view: `asDelivered`).
 * The decisions are pure functions; the services around them are short.
 */
import type { Db } from '../../db/client.ts';
import type { modelArtifacts } from '../../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { checkpointFolders, rankCheckpoints } from '../quality/checkpoints.ts';
import { checkpointOf, classifyFile } from '../ingest/inspect/classify.ts';
import { enqueueKeyPurge } from '../storage/purge-objects.job.ts';
import type { FileKind } from '../vocabulary.ts';
import { memberRole } from '../workspaces/queries.ts';
import { type Actor, judge, rls } from '../workspaces/roles.ts';
import * as q from './checkpoints-queries.ts';
import { refreshCardAfter } from '../adapters/card-store.ts';

declare const delivered: unique symbol;

/** A stored file as a delivery serves it: only `asDelivered` makes one, so no download path can skip it. */
export type Delivered<F> = F & { readonly [delivered]: true };

interface StoredFileLike {
  path: string;
  kind: FileKind;
  sizeBytes: number;
  sha256: string;
  contentType: string;
  storageKey: string;
}

/**
 * The files of a model as every delivery serves them (file lists, downloads, bundles, share pages). A
 * promoted checkpoint (`model_artifacts.main_checkpoint`) is a view, not a copy: each TOP-LEVEL file of kind
 * adapter_weights or adapter_config is served with the storage key, size, hash and type of the same-named
 * file in that checkpoint folder, under its own path and id. Every other file, and a top-level adapter file
 * the checkpoint has no twin of, is served as stored. One pass over `files` (all of the model's, as listed).
 */
export function asDelivered<F extends StoredFileLike>(files: readonly F[], mainCheckpoint: string | null): Delivered<F>[] {
  if (mainCheckpoint === null) return files as Delivered<F>[];
  const byPath = new Map(files.map((f) => [f.path, f]));
  return files.map((f) => {
    const top = !f.path.includes('/') && (f.kind === 'adapter_weights' || f.kind === 'adapter_config');
    const twin = top ? byPath.get(twinPath(mainCheckpoint, f)) : undefined;
    return (
      twin ? { ...f, sizeBytes: twin.sizeBytes, sha256: twin.sha256, contentType: twin.contentType, storageKey: twin.storageKey } : f
    ) as Delivered<F>;
  });
}

/** A workspace's retention: every checkpoint, the best, the best and the last, or the N best (1..999). */
export type KeepCheckpoints = 'all' | 'best' | 'best+final' | number;

/** A checkpoint folder with the validation loss that judges it (null: no validation point at or before its step). */
export interface CheckpointScore {
  name: string;
  step: number | null;
  validationLoss: number | null;
}

type PrunedCheckpoint = (typeof modelArtifacts.$inferSelect)['prunedCheckpoints'][number];
type BestCheckpointColumn = (typeof modelArtifacts.$inferSelect)['bestCheckpoint'];

/** workspaces.keep_checkpoints (text, CHECKed in SQL) as the setting; anything unreadable keeps everything. */
export function parseKeepCheckpoints(stored: string): KeepCheckpoints {
  if (stored === 'all' || stored === 'best' || stored === 'best+final') return stored;
  const n = Number(stored);
  return Number.isInteger(n) && n >= 1 && n <= 999 ? n : 'all';
}

const scored = (c: CheckpointScore): c is CheckpointScore & { validationLoss: number } =>
  c.validationLoss !== null && Number.isFinite(c.validationLoss);
const stepOf = (c: CheckpointScore) => c.step ?? -1;
const loss = (n: number) => n.toFixed(3);

/** Best first: lowest validation loss; equal losses, the later step (more training for the same loss); unscored last, later first. */
export function rankByValidationLoss(checkpoints: readonly CheckpointScore[]): CheckpointScore[] {
  return [...checkpoints].sort((a, b) => {
    const sa = scored(a);
    const sb = scored(b);
    if (sa !== sb) return sa ? -1 : 1;
    if (sa && sb && a.validationLoss !== b.validationLoss) return a.validationLoss! - b.validationLoss!;
    return stepOf(b) - stepOf(a);
  });
}

/** The last checkpoint of the run: the highest step. */
function finalOf(checkpoints: readonly CheckpointScore[]): CheckpointScore | undefined {
  return checkpoints.reduce<CheckpointScore | undefined>((last, c) => (last === undefined || stepOf(c) > stepOf(last) ? c : last), undefined);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

function policyText(keep: Exclude<KeepCheckpoints, 'all'>): string {
  if (keep === 'best') return 'keeping the best checkpoint';
  if (keep === 'best+final') return 'keeping the best and the final checkpoints';
  return keep === 1 ? 'keeping the best checkpoint' : `keeping the ${keep} best checkpoints`;
}

export interface CheckpointPlan {
  keep: string[];
  prune: { name: string; reason: string }[];
  /** Why nothing was pruned although the policy would prune, for the log and the caller. */
  note: string | null;
}

/**
 * Which checkpoints `keep` keeps. Ranked by validation loss (`rankByValidationLoss`): `best` keeps the
 * first, `best+final` the first and the last (highest step), N the first N. `protect` (the promoted main
 * checkpoint) is always kept. When no checkpoint has a validation loss there is nothing to rank by, and
 * all are kept (`note` says so).
 */
export function planCheckpoints(checkpoints: readonly CheckpointScore[], keep: KeepCheckpoints, protect: string | null = null): CheckpointPlan {
  const all = checkpoints.map((c) => c.name);
  if (keep === 'all' || checkpoints.length === 0) return { keep: all, prune: [], note: null };
  const ranked = rankByValidationLoss(checkpoints);
  const best = ranked[0]!;
  if (!scored(best)) {
    return {
      keep: all,
      prune: [],
      note: `No checkpoint has a validation loss to rank it by (the run reported no validation point at or before any checkpoint's step), so all ${all.length} are kept.`,
    };
  }
  const kept = new Set<string>(typeof keep === 'number' ? ranked.slice(0, keep).map((c) => c.name) : [best.name]);
  if (keep === 'best+final') kept.add(finalOf(checkpoints)!.name);
  if (protect !== null && all.includes(protect)) kept.add(protect);
  const prune = ranked.flatMap((c, i) => {
    if (kept.has(c.name)) return [];
    const why = scored(c)
      ? `validation loss ${loss(c.validationLoss)}, ${ordinal(i + 1)} of ${ranked.length}`
      : 'no validation loss at or before its step';
    return [{ name: c.name, reason: `${policyText(keep)} (${best.name}: ${loss(best.validationLoss)}); this one: ${why}` }];
  });
  return { keep: all.filter((n) => kept.has(n)), prune, note: null };
}

/** The checkpoint (among `names`) a path belongs to: the innermost folder it lies in, or the checkpoint file it is; null for none. */
export function folderOf(path: string, names: readonly string[]): string | null {
  let found: string | null = null;
  for (const name of names) if ((path === name || path.startsWith(`${name}/`)) && (found === null || name.length > found.length)) found = name;
  return found;
}

/**
 * The stored twin of a top-level adapter file in checkpoint `checkpoint`: the same-named file in its folder, or for a
 * checkpoint that is one file (mlx-lm's `0000100_adapters.safetensors`) that file for the adapter weights.
 */
function twinPath(checkpoint: string, file: { path: string; kind: FileKind }): string {
  if (checkpointOf(checkpoint)?.file) return file.kind === 'adapter_weights' ? checkpoint : '';
  return `${checkpoint}/${file.path}`;
}

/**
 * Splits files by a plan: those kept, and per pruned checkpoint its bytes and file count (`at`: when, ISO).
 * Files outside any pruned checkpoint folder are always kept.
 */
export function splitByPlan<F extends { path: string; size: number }>(files: readonly F[], plan: CheckpointPlan, at: string) {
  const reasons = new Map(plan.prune.map((p) => [p.name, p.reason]));
  const names = [...reasons.keys()];
  const kept: F[] = [];
  const gone = new Map<string, { files: F[]; bytes: number }>();
  for (const f of files) {
    const folder = names.length === 0 ? null : folderOf(f.path, names);
    if (folder === null) {
      kept.push(f);
      continue;
    }
    const entry = gone.get(folder) ?? { files: [], bytes: 0 };
    entry.files.push(f);
    entry.bytes += f.size;
    gone.set(folder, entry);
  }
  const entries: PrunedCheckpoint[] = [...gone].map(([name, g]) => ({ name, bytes: g.bytes, files: g.files.length, at, reason: reasons.get(name)! }));
  return {
    kept,
    pruned: gone,
    entries,
    prunedBytes: entries.reduce((a, e) => a + e.bytes, 0),
  };
}

/** The checkpoint folders among `files` with their validation losses as the ingest scored them (`best_checkpoint`). */
function scoresOf(files: readonly { path: string; kind: FileKind }[], best: BestCheckpointColumn): CheckpointScore[] {
  const losses = new Map<string, number | null>((best?.checkpoints ?? []).map((c) => [c.name, c.validationLoss]));
  // Rows scored before every checkpoint's own loss was kept know the best one only.
  if (best && !best.checkpoints) losses.set(best.name, best.validationLoss);
  return checkpointFolders(files).map((f) => ({ name: f.name, step: f.step, validationLoss: losses.get(f.name) ?? null }));
}

/**
 * The ingest's checkpoint decision, made from the listing before anything is copied: the run's checkpoints
 * ranked (`rankCheckpoints`, which needs only paths and the job's metrics) and the workspace's policy.
 * Returns the files to copy, what is pruned, and the ranking for `best_checkpoint`.
 */
export async function planIngestCheckpoints<F extends { path: string; size: number }>(
  db: Db,
  job: { jobId: string; workspaceId: string },
  files: readonly F[],
  nowMs: number,
) {
  const listed = files.map((f) => ({ path: f.path, kind: classifyFile(f.path) }));
  const [best, stored] = await Promise.all([rankCheckpoints(db, job.jobId, listed), q.keepCheckpointsOf(db, job.workspaceId)]);
  const plan = planCheckpoints(scoresOf(listed, best), parseKeepCheckpoints(stored));
  return { best, note: plan.note, ...splitByPlan(files, plan, new Date(nowMs).toISOString()) };
}

/**
 * Deletes the files of the checkpoints `keep` does not keep (admin: bytes cannot come back). In one
 * transaction the rows go, the model's totals and record of pruned checkpoints move, and the deletion of
 * exactly those objects is enqueued; the main (promoted) checkpoint and the top-level adapter always stay.
 */
export async function pruneCheckpoints(deps: Deps, actor: Actor, input: { modelId: string; keep: Exclude<KeepCheckpoints, 'all'> }) {
  const result = await deps.database.asUser(rls(actor), async (tx) => {
    // Pipelined in order: the lock is held before the files are read, so a concurrent prune's deletions are seen.
    const [access, state, files] = await Promise.all([
      q.modelRole(tx, actor, input.modelId),
      q.lockCheckpointState(tx, input.modelId),
      q.storedFiles(tx, input.modelId),
    ]);
    judge(actor, access?.role ?? null, 'admin', 'Model');
    if (!state) throw ERRORS.notFound('Model');
    const plan = planCheckpoints(scoresOf(files, state.bestCheckpoint), input.keep, state.mainCheckpoint);
    const split = splitByPlan(
      files.map((f) => ({ ...f, size: f.sizeBytes })),
      plan,
      new Date(deps.now()).toISOString(),
    );
    const doomed = [...split.pruned.values()].flatMap((g) => g.files);
    if (doomed.length > 0) {
      await q.recordPruned(tx, input.modelId, { fileIds: doomed.map((f) => f.id), bytes: split.prunedBytes, entries: split.entries });
      await q.leaveUserRole(tx);
      await enqueueKeyPurge(
        deps.boss,
        tx,
        doomed.map((f) => f.storageKey),
      );
    }
    return { kept: plan.keep, pruned: split.entries.map((e) => e.name), freedBytes: split.prunedBytes, note: plan.note };
  });
  // The model card lists the files: rendered again without the pruned ones.
  if (result.pruned.length > 0) await refreshCardAfter(deps, input.modelId);
  return result;
}

const ADAPTER_KINDS: readonly FileKind[] = ['adapter_weights', 'adapter_config'];

/**
 * Makes a checkpoint's adapter the model's main adapter for every download (member: write); `final` goes
 * back to the run's own. Nothing is copied: the delivery listing reads the checkpoint's objects in place of
 * the top-level adapter files.
 */
export async function promoteCheckpoint(deps: Deps, actor: Actor, input: { modelId: string; checkpoint: string }) {
  const result = await deps.database.asUser(rls(actor), async (tx) => {
    const [access, state, files] = await Promise.all([
      q.modelRole(tx, actor, input.modelId),
      q.lockCheckpointState(tx, input.modelId),
      q.storedFiles(tx, input.modelId),
    ]);
    judge(actor, access?.role ?? null, 'write', 'Model');
    if (!state) throw ERRORS.notFound('Model');
    const name = input.checkpoint === 'final' ? null : input.checkpoint;
    if (name !== null) assertPromotable(name, files, state.prunedCheckpoints);
    await q.setMainCheckpoint(tx, input.modelId, name);
    return { modelId: input.modelId, mainCheckpoint: name };
  });
  // The card lists the main adapter's hashes and its GGUF export: rendered again for the promoted checkpoint.
  await refreshCardAfter(deps, input.modelId);
  return result;
}

function assertPromotable(name: string, files: readonly { path: string; kind: FileKind }[], pruned: readonly PrunedCheckpoint[]): void {
  const gone = pruned.find((p) => p.name === name);
  if (gone) throw ERRORS.invalidField('checkpoint', `${name} was pruned on ${gone.at.slice(0, 10)}; its files are no longer stored.`);
  const folders = checkpointFolders(files).map((f) => f.name);
  if (!folders.includes(name)) {
    const known =
      folders.length === 0 ? 'it has no checkpoints' : `its checkpoints are ${folders.slice(0, 10).join(', ')}${folders.length > 10 ? ', …' : ''}`;
    throw ERRORS.invalidField('checkpoint', `This model has no checkpoint "${name.slice(0, 100)}"; ${known} (or "final" for the run's own adapter).`);
  }
  const top = files.filter((f) => ADAPTER_KINDS.includes(f.kind) && !f.path.includes('/'));
  if (top.length === 0) {
    throw ERRORS.badRequest(
      'This model has no top-level adapter files (adapter_model.safetensors, adapter_config.json) for a checkpoint to stand in for; download the checkpoint folder instead.',
    );
  }
  const paths = new Set(files.map((f) => f.path));
  const weights = top.filter((f) => f.kind === 'adapter_weights');
  if (!weights.some((w) => paths.has(twinPath(name, w)))) {
    const wanted = weights.map((w) => w.path).join(' or ') || 'adapter_model.safetensors';
    throw ERRORS.invalidField('checkpoint', `${name} has no adapter weights (${wanted}) to serve as the model's adapter.`);
  }
}

/** One checkpoint as models.get shows it. */
interface CheckpointItem extends CheckpointScore {
  pruned: boolean;
  bytes: number;
}

/**
 * The checkpoint recommended for promotion: the kept one with the lowest validation loss, and why, in a
 * sentence (compared with the run's last checkpoint); null when no kept checkpoint has a validation loss.
 */
export function recommend(items: readonly CheckpointItem[]): { name: string; validationLoss: number; reason: string } | null {
  const best = rankByValidationLoss(items.filter((i) => !i.pruned))[0];
  if (!best || !scored(best)) return null;
  const at = best.step === null ? loss(best.validationLoss) : `${loss(best.validationLoss)} at step ${best.step}`;
  const final = finalOf(items)!;
  let reason = `lowest validation loss (${at})`;
  if (final.name === best.name) reason += ', and the last checkpoint of the run';
  else if (scored(final) && final.validationLoss > 0) {
    const pct = Math.round(((final.validationLoss - best.validationLoss) * 100) / final.validationLoss);
    reason += `, ${pct < 1 ? 'under 1%' : `${pct}%`} below the final checkpoint's ${loss(final.validationLoss)}`;
  } else if (scored(final)) reason += `, against the final checkpoint's ${loss(final.validationLoss)}`;
  else reason += `, among the ${items.filter(scored).length} checkpoints with a validation loss`;
  return { name: best.name, validationLoss: best.validationLoss, reason };
}

/**
 * models.get's `checkpoints`: the main (promoted) one, the recommendation, and every checkpoint with its
 * loss, bytes and whether it was pruned. `files` are the model's stored files as listed for delivery (a
 * checkpoint's own files are never substituted there).
 */
export function checkpointsView(
  best: BestCheckpointColumn,
  columns: { mainCheckpoint: string | null; prunedCheckpoints: PrunedCheckpoint[]; prunedBytes: number } | null,
  files: readonly { path: string; kind: FileKind; sizeBytes: number }[],
) {
  const present = scoresOf(files, best);
  const names = present.map((c) => c.name);
  const bytes = new Map<string, number>();
  for (const f of files) {
    const folder = f.kind === 'checkpoint' ? folderOf(f.path, names) : null;
    if (folder !== null) bytes.set(folder, (bytes.get(folder) ?? 0) + Number(f.sizeBytes));
  }
  const losses = new Map((best?.checkpoints ?? []).map((c) => [c.name, c]));
  const items: CheckpointItem[] = [
    ...present.map((c) => ({ ...c, pruned: false, bytes: bytes.get(c.name) ?? 0 })),
    ...(columns?.prunedCheckpoints ?? []).map((p) => ({
      name: p.name,
      step: losses.get(p.name)?.step ?? checkpointOf(p.name)?.step ?? checkpointOf(`${p.name}/x`)?.step ?? null,
      validationLoss: losses.get(p.name)?.validationLoss ?? null,
      pruned: true,
      bytes: p.bytes,
    })),
  ].sort((a, b) => stepOf(a) - stepOf(b) || a.name.localeCompare(b.name));
  return {
    main: columns?.mainCheckpoint ?? null,
    recommended: items.length === 0 ? null : recommend(items),
    items,
    prunedBytes: columns?.prunedBytes ?? 0,
  };
}

/** workspaces.update: the workspace's settings (admin): checkpoint retention, and whether an ingest copies the folders it skips. */
export async function updateWorkspaceSettings(
  deps: Deps,
  actor: Actor,
  input: { workspaceId: string; settings: { keepCheckpoints?: KeepCheckpoints | undefined; includeSkipped?: boolean | undefined } },
) {
  const { keepCheckpoints, includeSkipped } = input.settings;
  const stored = await deps.database.asUser(rls(actor), async (tx) => {
    judge(actor, await memberRole(tx, actor.userId, input.workspaceId), 'admin');
    const changes = {
      ...(keepCheckpoints !== undefined ? { keepCheckpoints: String(keepCheckpoints) } : {}),
      ...(includeSkipped !== undefined ? { includeSkipped } : {}),
    };
    if (Object.keys(changes).length > 0) await q.setSettings(tx, input.workspaceId, changes);
    return q.settingsOf(tx, input.workspaceId);
  });
  return { id: input.workspaceId, settings: workspaceSettings(stored) };
}

/** A workspace's settings as the API shows them. */
export function workspaceSettings(stored: { keepCheckpoints: string; includeSkipped: boolean }) {
  return { keepCheckpoints: parseKeepCheckpoints(stored.keepCheckpoints), includeSkipped: stored.includeSkipped };
}
