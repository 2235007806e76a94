/** Worker-thread entry for analyseTrainerFiles: one message in, one answer out. */
import { analyseTrainerFiles } from './trainer-analysis.ts';
import type { TrainerFileBytes, TrainerRead } from './trainer-files.ts';
import { columnBuffers, toColumns } from './types.ts';

declare const self: Worker;

self.onmessage = (event: MessageEvent<TrainerFileBytes[]>) => {
  try {
    const { curve, ...rest } = analyseTrainerFiles(event.data);
    // The points as columns, handed over rather than cloned (see CurveColumns).
    const output: TrainerRead = { ...rest, curve: curve ? { ...curve, points: toColumns(curve.points) } : null };
    self.postMessage({ ok: true, output }, output.curve ? columnBuffers(output.curve.points) : []);
  } catch (error) {
    self.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
};
