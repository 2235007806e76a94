import type { Db, Tx } from '../../db/client.ts';
import { checkpointOf } from '../ingest/inspect/classify.ts';
import type { FileKind } from '../vocabulary.ts';
import { validationPointsAtOrBefore } from './queries.ts';
import { bestCheckpoint, type CheckpointRef } from './score.ts';

/**
 * The checkpoints among an output's checkpoint files (`checkpoint-500/`, `run-0/checkpoint-500/`, `last-checkpoint/`,
 * torchtune `epoch_0/`, mlx `0000100_adapters.safetensors`), each with the number its name carries, sorted by that
 * number (never by name: checkpoint-1000 comes after checkpoint-500).
 */
export function checkpointFolders(files: readonly { path: string; kind: FileKind }[]): (CheckpointRef & { unit: 'step' | 'epoch' })[] {
  const found = new Map<string, CheckpointRef & { unit: 'step' | 'epoch' }>();
  for (const f of files) {
    if (f.kind !== 'checkpoint') continue;
    const id = checkpointOf(f.path);
    if (id && !found.has(id.name)) found.set(id.name, { name: id.name, step: id.step, unit: id.unit });
  }
  // A checkpoint without a number (last-checkpoint/) is the run's latest.
  const order = (c: CheckpointRef) => c.step ?? Number.MAX_SAFE_INTEGER;
  return [...found.values()].sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name));
}

/**
 * The best checkpoint of a run's output (lowest validation loss, see `bestCheckpoint`) with every
 * checkpoint scored by its own validation loss, so the dashboard can show them side by side; null
 * when the output has no checkpoint that any validation point judges.
 */
export async function rankCheckpoints(db: Db | Tx, jobId: string, files: readonly { path: string; kind: FileKind }[]) {
  const refs = checkpointFolders(files);
  if (refs.length === 0) return null;
  // Only a step number can be matched with the curve's steps (torchtune's epoch_<n> counts epochs).
  const bySteps = refs.filter((r) => r.unit === 'step');
  const points = await validationPointsAtOrBefore(
    db,
    jobId,
    bySteps.flatMap((r) => (r.step === null ? [] : [r.step])),
  );
  const best = bestCheckpoint(bySteps, points);
  if (!best) return null;
  const scored = refs.map((r) => ({
    name: r.name,
    step: r.step,
    validationLoss: r.unit === 'step' ? (bestCheckpoint([r], points)?.validationLoss ?? null) : null,
  }));
  return { ...best, checkpoints: scored };
}
