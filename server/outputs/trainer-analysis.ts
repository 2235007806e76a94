/**
 * Parses the trainer files read from an output (trainer-files.ts): pure, over bytes already read, run on a worker
 * thread (trainer-files.worker.ts) so a 30 MB trainer_state.json or 20,000 predictions never stall the API.
 */
import { curveFromTorchtuneLog, curveFromTrainerLog, curveFromTrainerState } from './curves.ts';
import { evalsFromFile, evalsFromPredictions } from './evals.ts';
import type { TrainerFileBytes, TrainerOutput } from './trainer-files.ts';
import type { OutputWarning } from './types.ts';

export function analyseTrainerFiles(files: readonly TrainerFileBytes[]): TrainerOutput {
  const out: TrainerOutput = { curve: null, evals: [], warnings: [] };
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for (const f of files) {
    let text = decoder.decode(f.bytes);
    if (f.truncated) {
      // Only whole lines: the last one read may be cut short.
      text = text.slice(0, Math.max(0, text.lastIndexOf('\n')));
      out.warnings.push({
        code: 'truncated',
        path: f.path,
        message: `only the first ${Math.round(f.bytes.byteLength / (1024 * 1024))} MiB were read: the file is larger than a trainer writes`,
      });
    }
    const warn = (ws: OutputWarning[]) => out.warnings.push(...ws);
    try {
      if (f.role === 'eval' || f.role === 'predictions') {
        const { set, warnings } = f.role === 'eval' ? evalsFromFile(text, f.path) : evalsFromPredictions(text, f.path);
        warn(warnings);
        if (set && set.metrics.length > 0) out.evals.push(set);
        continue;
      }
      const read = f.role === 'trainer_state' ? curveFromTrainerState : f.role === 'trainer_log' ? curveFromTrainerLog : curveFromTorchtuneLog;
      const { curve, warnings } = read(text, f.path);
      warn(warnings);
      if (curve && curve.points.length > 0 && out.curve === null) out.curve = curve;
      else if (curve && out.curve === null) out.curve = { ...curve, points: [] };
    } catch (error) {
      // The readers report bad content as warnings; anything thrown is a bug of ours, still not the ingest's failure.
      out.warnings.push({
        code: 'unreadable',
        path: f.path,
        message: `could not be read: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  return out;
}
