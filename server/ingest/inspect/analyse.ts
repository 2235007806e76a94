/**
 * The CPU side of inspecting an output: parsing safetensors headers (up to 100 MB of JSON), the adapter
 * config and its rank/alpha patterns, and cross-checking them. Pure, over bytes already read, so it can
 * run on a worker thread (inspect-runner.ts) and never stall the event loop serving requests.
 */
import type { AdapterInfo } from '../../../db/schema/index.ts';
import { checkRankAgainstTensors, inferFromTensors, parseAdapterConfig, type AdapterConfig } from './adapter-config.ts';
import { parseSafetensorsHeader, type SafetensorsInfo } from './safetensors.ts';

/** The bytes an inspection needs, read from storage beforehand. */
export interface AnalyseInput {
  /** Every `.safetensors` file's header bytes and the size of its data area. */
  headers: { path: string; bytes: Uint8Array; dataSize: number }[];
  /** The main adapter's weights file, one of `headers`, if there is one. */
  weightsPath: string | null;
  /** The main adapter_config.json, if there is one. */
  config: { path: string; bytes: Uint8Array } | null;
}

/** Validates every header and derives the adapter's description. Throws InspectionError on a bad file. */
export function analyseOutput(input: AnalyseInput): AdapterInfo | null {
  const headers = new Map<string, SafetensorsInfo>();
  for (const h of input.headers) headers.set(h.path, parseSafetensorsHeader(h.bytes, h.dataSize, h.path));
  let config: AdapterConfig | null = null;
  if (input.config) config = parseAdapterConfig(new TextDecoder('utf-8', { fatal: false }).decode(input.config.bytes), input.config.path);
  const weightsPath = input.weightsPath;
  const header = weightsPath ? headers.get(weightsPath) : undefined;
  if (!config && !header) return null;
  const inferred = header ? inferFromTensors(header.tensors, weightsPath!) : null;
  if (config && inferred) checkRankAgainstTensors(config, inferred, weightsPath!);
  return {
    baseModel: config?.baseModel ?? null,
    rank: config?.rank ?? inferred?.rank ?? null,
    alpha: config?.alpha ?? null,
    targetModules: config?.targetModules.length ? config.targetModules : (inferred?.targetModules ?? []),
    dtype: header ? (header.dtypes.length === 1 ? header.dtypes[0]! : header.dtypes.join(',') || null) : null,
    parameterCount: header?.parameterCount ?? null,
  };
}
