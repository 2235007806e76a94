/**
 * Worker-thread entry for analyseOutput: one message in, one answer out. An InspectionError crosses as
 * its file name and problem so the main thread can rebuild it; anything else as a bare failure.
 */
import { analyseOutput, type AnalyseInput } from './analyse.ts';
import { InspectionError } from './safetensors.ts';

declare const self: Worker;

self.onmessage = (event: MessageEvent<AnalyseInput>) => {
  try {
    self.postMessage({ ok: true, inspection: analyseOutput(event.data) });
  } catch (error) {
    if (error instanceof InspectionError) self.postMessage({ ok: false, fileName: error.fileName, problem: error.problem });
    else self.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
};
