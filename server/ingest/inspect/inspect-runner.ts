/**
 * Runs analyseOutput on a Bun Worker, with a deadline. Measured: JSON.parse of a 100 MB safetensors
 * header (the accepted maximum) holds the thread ~0.9 s in one call that cannot be cut into slices, so
 * yielding to the event loop could not keep /healthz under 100 ms; a worker can, at ~12 ms to start.
 * A fresh worker per inspection keeps the deadline simple: a stuck one is terminated, nothing is shared.
 */
import type { AnalyseInput, Inspection } from './analyse.ts';
import { InspectionError } from './safetensors.ts';

/** Long enough for the largest accepted header many times over; a hostile input is cut off here. */
const INSPECTION_TIMEOUT_MS = 60_000;

type Answer = { ok: true; inspection: Inspection } | { ok: false; fileName?: string; problem?: string; message?: string };

/**
 * Analyses `input` off the event loop. Rejects with InspectionError when a file is invalid or the
 * analysis outruns `timeoutMs` (it then names the weights file, or the config, as the one at fault).
 */
export function analyseInWorker(input: AnalyseInput, timeoutMs = INSPECTION_TIMEOUT_MS): Promise<Inspection> {
  const worker = new Worker(new URL('./inspect.worker.ts', import.meta.url).href);
  return new Promise<Inspection>((resolve, reject) => {
    const timer = setTimeout(() => {
      const blamed = input.config?.path ?? input.weightsPath ?? input.headers[0]?.path ?? 'output';
      finish(() =>
        reject(new InspectionError(blamed, `inspection took longer than ${Math.round(timeoutMs / 1000)} s; the file is too complex to check`)),
      );
    }, timeoutMs);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      worker.terminate();
      settle();
    };
    worker.onmessage = (event: MessageEvent<Answer>) => {
      const answer = event.data;
      if (answer.ok) finish(() => resolve(answer.inspection));
      else if (answer.fileName !== undefined) finish(() => reject(new InspectionError(answer.fileName!, answer.problem ?? 'invalid')));
      else finish(() => reject(new Error(`inspection failed: ${answer.message}`)));
    };
    worker.onerror = (event) => finish(() => reject(new Error(`inspection worker failed: ${event.message}`)));
    // The header buffers move to the worker rather than being copied (they can be 100 MB).
    const transfer = [...input.headers.map((h) => h.bytes.buffer), ...[input.config, input.baseConfig].flatMap((c) => (c ? [c.bytes.buffer] : []))];
    worker.postMessage(input, [...new Set(transfer)] as ArrayBuffer[]);
  });
}
