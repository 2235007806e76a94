/**
 * Worker-thread entry for weight health (health-runner.ts): `start`, then the file's bytes in order as
 * `chunk`s (each acknowledged once walked, which is the runner's back-pressure), then `end`, answered with
 * the health or, at the first problem, the error. An InspectionError crosses as its file name and problem.
 */
import { InspectionError } from '../ingest/inspect/safetensors.ts';
import type { HealthReply, HealthRequest } from './health-runner.ts';
import { WeightStream } from './health-stream.ts';

declare const self: Worker;

let stream: WeightStream | null = null;
let failed = false;

self.onmessage = (event: MessageEvent<HealthRequest>) => {
  if (failed) return; // the runner stops at the first error; anything still queued is moot
  const request = event.data;
  try {
    if (request.kind === 'start') {
      stream = new WeightStream(request.fileName, request.size, request.config);
    } else if (request.kind === 'chunk') {
      // The walk keeps nothing of a chunk past push(), so its buffer can go back to the runner's pool.
      stream!.push(new Uint8Array(request.buffer, 0, request.length));
      self.postMessage({ kind: 'ack', buffer: request.buffer } satisfies HealthReply, [request.buffer]);
    } else {
      self.postMessage({ kind: 'done', health: stream!.finish() } satisfies HealthReply);
    }
  } catch (error) {
    failed = true;
    if (error instanceof InspectionError) self.postMessage({ kind: 'error', fileName: error.fileName, problem: error.problem } satisfies HealthReply);
    else self.postMessage({ kind: 'error', message: error instanceof Error ? error.message : String(error) } satisfies HealthReply);
  }
};
