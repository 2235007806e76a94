/**
 * The CPU side of inspecting an output: parsing safetensors headers (up to 100 MB of JSON), the adapter
 * config and its rank/alpha patterns, and cross-checking them. Pure, over bytes already read, so it can
 * run on a worker thread (inspect-runner.ts) and never stall the event loop serving requests.
 */
import type { AdapterInfo } from '../../../db/schema/index.ts';
import { baseFromConfigJson, findBase } from '../../adapters/bases.ts';
import { checkFit } from '../../adapters/fit.ts';
import type { FitCheck } from '../../adapters/types.ts';
import { checkRankAgainstTensors, inferFromTensors, parseAdapterConfig, type AdapterConfig } from './adapter-config.ts';
import { parseSafetensorsHeader, type SafetensorsInfo } from './safetensors.ts';

/** The bytes an inspection needs, read from storage beforehand. */
export interface AnalyseInput {
  /** Every `.safetensors` file's header bytes and the size of its data area. */
  headers: { path: string; bytes: Uint8Array; dataSize: number }[];
  /** The main adapter's weights file, one of `headers`, if there is one. */
  weightsPath: string | null;
  /** The main adapter's tensors when its weights are a pickle (adapter_model.bin), read symbolically (server/outputs/pickle.ts). */
  pickled: { path: string; tensors: { name: string; dtype: string; shape: number[] }[] } | null;
  /** The main adapter_config.json, if there is one. */
  config: { path: string; bytes: Uint8Array } | null;
  /** A base model's config.json at the top of the output (torchtune and others copy it), if there is one. */
  baseConfig: { path: string; bytes: Uint8Array } | null;
}

/** A pickled state dict's tensors as a header would describe them (dtypes and parameter count for the catalogue). */
function pickledInfo(tensors: { name: string; dtype: string; shape: number[] }[]): Pick<SafetensorsInfo, 'tensors' | 'dtypes' | 'parameterCount'> {
  return {
    tensors: tensors.map((t) => ({ ...t, begin: 0, end: 0 })),
    dtypes: [...new Set(tensors.map((t) => t.dtype))].sort(),
    parameterCount: tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
  };
}

/** What an inspection finds: the adapter's description, whether it fits its base, and its config as read. */
export interface Inspection {
  adapter: AdapterInfo | null;
  fit: FitCheck;
  config: AdapterConfig | null;
}

/**
 * Validates every header, derives the adapter's description and checks its tensors against its base model
 * (the table's facts for the named base, else a base config.json in the output). Throws InspectionError on a bad file.
 */
export function analyseOutput(input: AnalyseInput): Inspection {
  const headers = new Map<string, SafetensorsInfo>();
  for (const h of input.headers) headers.set(h.path, parseSafetensorsHeader(h.bytes, h.dataSize, h.path));
  let config: AdapterConfig | null = null;
  if (input.config) config = parseAdapterConfig(new TextDecoder('utf-8', { fatal: false }).decode(input.config.bytes), input.config.path);
  const weightsPath = input.weightsPath ?? input.pickled?.path ?? null;
  const header = input.weightsPath ? headers.get(input.weightsPath) : input.pickled ? pickledInfo(input.pickled.tensors) : undefined;
  const baseName = config?.baseModel ?? null;
  const facts = findBase(baseName) ?? (input.baseConfig ? baseFromConfigJson(new TextDecoder().decode(input.baseConfig.bytes)) : null);
  const fit = checkFit(baseName, facts, header?.tensors ?? []);
  if (!config && !header) return { adapter: null, fit, config: null };
  const inferred = header ? inferFromTensors(header.tensors, weightsPath!) : null;
  if (config && inferred) checkRankAgainstTensors(config, inferred, weightsPath!);
  const rank = config?.rank ?? inferred?.rank ?? null;
  const adapter: AdapterInfo = {
    baseModel: baseName,
    rank,
    alpha: config?.alpha ?? null,
    targetModules: config?.targetModules.length ? config.targetModules : (inferred?.targetModules ?? []),
    dtype: header ? (header.dtypes.length === 1 ? header.dtypes[0]! : header.dtypes.join(',') || null) : null,
    parameterCount: header?.parameterCount ?? null,
    // The largest rank of any module (rank_pattern may raise some): what a runtime's rank limit is checked against.
    maxRank: inferred?.ranks.length ? inferred.ranks[inferred.ranks.length - 1]! : rank,
    taskType: config?.taskType ?? null,
  };
  // The tensors say how they are stored; a config says it when there are none (an mlx full fine-tune). Only mlx is
  // written: an AdapterInfo without `format` is PEFT's, as every stored one before mlx was read.
  if ((inferred?.layout ?? config?.format) === 'mlx') adapter.format = 'mlx';
  return { adapter, fit, config };
}
