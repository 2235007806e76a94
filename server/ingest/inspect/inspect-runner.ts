/**
 * Runs analyseOutput on a Bun Worker, with a deadline. Measured: JSON.parse of a 100 MB safetensors
 * header (the accepted maximum) holds the thread ~0.9 s in one call that cannot be cut into slices, so
 * yielding to the event loop could not keep /healthz under 100 ms; a worker can, at ~12 ms to start.
 */
import type { AnalyseInput, Inspection } from './analyse.ts';
import { askWorkerOnce } from '../../worker-once.ts';
import { InspectionError } from './safetensors.ts';

/** Long enough for the largest accepted header many times over; a hostile input is cut off here. */
const INSPECTION_TIMEOUT_MS = 60_000;

type Answer = { ok: true; inspection: Inspection } | { ok: false; fileName?: string; problem?: string; message?: string };

/**
 * Analyses `input` off the event loop. Rejects with InspectionError when a file is invalid or the
 * analysis outruns `timeoutMs` (it then names the weights file, or the config, as the one at fault).
 */
export async function analyseInWorker(input: AnalyseInput, timeoutMs = INSPECTION_TIMEOUT_MS): Promise<Inspection> {
  const blamed = input.config?.path ?? input.weightsPath ?? input.headers[0]?.path ?? 'output';
  // The header buffers move to the worker rather than being copied (they can be 100 MB).
  const transfer = [...input.headers.map((h) => h.bytes.buffer), ...[input.config, input.baseConfig].flatMap((c) => (c ? [c.bytes.buffer] : []))];
  const answer = await askWorkerOnce<Answer>(
    new URL('./inspect.worker.ts', import.meta.url),
    input,
    transfer as ArrayBuffer[],
    timeoutMs,
    () => new InspectionError(blamed, `inspection took longer than ${Math.round(timeoutMs / 1000)} s; the file is too complex to check`),
  ).catch((error: Error) => {
    throw error instanceof InspectionError ? error : new Error(`inspection worker failed: ${error.message}`);
  });
  if (answer.ok) return answer.inspection;
  if (answer.fileName !== undefined) throw new InspectionError(answer.fileName, answer.problem ?? 'invalid');
  throw new Error(`inspection failed: ${answer.message}`);
}
