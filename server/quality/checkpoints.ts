import type { Db, Tx } from '../../db/client.ts';
import { checkpointStep } from '../ingest/inspect/classify.ts';
import type { FileKind } from '../vocabulary.ts';
import { validationPointsAtOrBefore } from './queries.ts';
import { bestCheckpoint, type CheckpointRef } from './score.ts';

/** The checkpoint folders (`…/checkpoint-500`) among an output's checkpoint files, with the step each names. */
export function checkpointFolders(files: readonly { path: string; kind: FileKind }[]): CheckpointRef[] {
  const steps = new Map<string, number | null>();
  for (const f of files) {
    if (f.kind !== 'checkpoint') continue;
    const segments = f.path.split('/');
    const at = segments.findLastIndex((s, i) => i < segments.length - 1 && /^checkpoint-\d+$/.test(s));
    if (at < 0) continue;
    steps.set(segments.slice(0, at + 1).join('/'), checkpointStep(f.path));
  }
  return [...steps].map(([name, step]) => ({ name, step }));
}

/**
 * The best checkpoint of a run's output (lowest validation loss, see `bestCheckpoint`) with every
 * checkpoint scored by its own validation loss, so the dashboard can show them side by side; null
 * when the output has no checkpoint that any validation point judges.
 */
export async function rankCheckpoints(db: Db | Tx, jobId: string, files: readonly { path: string; kind: FileKind }[]) {
  const refs = checkpointFolders(files);
  if (refs.length === 0) return null;
  const points = await validationPointsAtOrBefore(
    db,
    jobId,
    refs.flatMap((r) => (r.step === null ? [] : [r.step])),
  );
  const best = bestCheckpoint(refs, points);
  if (!best) return null;
  const scored = refs
    .map((r) => ({ ...r, validationLoss: bestCheckpoint([r], points)?.validationLoss ?? null }))
    .sort((a, b) => (a.step ?? 0) - (b.step ?? 0));
  return { ...best, checkpoints: scored };
}
