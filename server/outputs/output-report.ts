/** The parts of a model's output report decided from the listing: what the ingest skipped, and the trainer's best checkpoint. */
import { baseName } from '../paths.ts';
import { checkpointOf, skippedBy } from '../ingest/inspect/classify.ts';
import type { OutputCurve, OutputReport, SkippedFiles } from './types.ts';

const EXAMPLES = 5;

/**
 * Splits a listing into the files to copy and, per skip rule (`classify.ts` skippedBy), those left out, unless the
 * workspace includes them (`include`: everything is copied, nothing listed as skipped).
 */
export function skipFolders<F extends { path: string; source: { size: number } }>(
  files: readonly F[],
  include: boolean,
): { copied: F[]; skipped: SkippedFiles[] } {
  if (include) return { copied: [...files], skipped: [] };
  const copied: F[] = [];
  const byRule = new Map<string, SkippedFiles>();
  for (const f of files) {
    const rule = skippedBy(f.path);
    if (rule === null) {
      copied.push(f);
      continue;
    }
    const entry = byRule.get(rule) ?? { rule, files: 0, bytes: 0, examples: [] };
    entry.files++;
    entry.bytes += f.source.size;
    if (entry.examples.length < EXAMPLES) entry.examples.push(f.path);
    byRule.set(rule, entry);
  }
  return { copied, skipped: [...byRule.values()] };
}

/**
 * trainer_state.json's best_model_checkpoint (a path on the training machine, kept as its basename by the reader),
 * matched by basename to a checkpoint of the output; null checkpoint when it is not there (rotated away).
 */
export function trainerBestOf(
  curve: Pick<OutputCurve, 'bestModelCheckpoint'> | null,
  files: readonly { path: string }[],
): OutputReport['trainerBest'] {
  const name = curve?.bestModelCheckpoint;
  if (!name) return null;
  const checkpoints = new Set(files.flatMap((f) => checkpointOf(f.path)?.name ?? []));
  const match = [...checkpoints].find((c) => baseName(c) === name) ?? null;
  return { name, checkpoint: match };
}

/**
 * The trainer's best checkpoint beside this service's ranking (lowest validation loss), with a sentence when they
 * disagree or the trainer's is no longer in the output; null when the trainer named none.
 */
export function trainerBestView(trainerBest: OutputReport['trainerBest'] | undefined, ours: { name: string } | null) {
  if (!trainerBest) return null;
  const { name, checkpoint } = trainerBest;
  if (checkpoint === null) {
    return {
      name,
      checkpoint,
      agrees: null,
      note: `The trainer's best checkpoint, ${name}, is not in the output (rotated away by save_total_limit).`,
    };
  }
  if (ours === null) return { name, checkpoint, agrees: null, note: null };
  const agrees = ours.name === checkpoint;
  return {
    name,
    checkpoint,
    agrees,
    note: agrees
      ? null
      : `The trainer picked ${checkpoint} as its best (best_model_checkpoint, by its metric_for_best_model); ranked by validation loss, ${ours.name} is best.`,
  };
}
