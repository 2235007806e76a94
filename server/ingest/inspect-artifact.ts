import { baseName } from '../paths.ts';
import type { FileKind } from '../vocabulary.ts';
import type { StorageDriver } from '../storage/storage.ts';
import type { AnalyseInput, Inspection } from './inspect/analyse.ts';
import { analyseInWorker } from './inspect/inspect-runner.ts';
import { InspectionError, readSafetensorsHeaderBytes } from './inspect/safetensors.ts';

/** A file after its verified copy into storage. */
export interface StoredFile {
  path: string;
  key: string;
  size: number;
  sha256: string;
  kind: FileKind;
  contentType: string;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

async function readRange(storage: StorageDriver, key: string, offset: number, length: number): Promise<Uint8Array> {
  if (length === 0) return new Uint8Array(0);
  const stream = await storage.get(key, { start: offset, end: offset + length - 1 });
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  return bytes;
}

/** Top-level files win over same-named files inside checkpoint folders. */
function topLevel(files: StoredFile[], kind: FileKind, base: string): StoredFile | undefined {
  return files.filter((f) => f.kind === kind && baseName(f.path) === base).sort((a, b) => a.path.split('/').length - b.path.split('/').length)[0];
}

/** The main adapter weights file of an output (top-level wins over checkpoint folders), if any. */
export function mainAdapterWeights(files: StoredFile[]): StoredFile | undefined {
  return topLevel(files, 'adapter_weights', 'adapter_model.safetensors');
}

/**
 * Reads what the stored output says about the adapter: every safetensors header is parsed and checked
 * (a corrupt one fails the ingest), the main adapter's config and tensors give base model, rank, alpha,
 * target modules, dtype and parameter count, and its tensors are checked against its base model's shapes.
 * Reads headers and small JSON files only, never whole weight files.
 */
export async function inspectArtifact(storage: StorageDriver, files: StoredFile[]): Promise<Inspection> {
  // Reading happens here (I/O, no CPU to speak of); parsing and pattern checks run on a worker thread.
  const headers: AnalyseInput['headers'] = [];
  for (const f of files) {
    if (!f.path.endsWith('.safetensors')) continue;
    const { bytes, dataSize } = await readSafetensorsHeaderBytes((o, l) => readRange(storage, f.key, o, l), f.size, f.path);
    headers.push({ path: f.path, bytes, dataSize });
  }
  const weights = mainAdapterWeights(files);
  const configFile = topLevel(files, 'adapter_config', 'adapter_config.json');
  let config: AnalyseInput['config'] = null;
  if (configFile) {
    if (configFile.size > MAX_CONFIG_BYTES)
      throw new InspectionError(configFile.path, `is ${configFile.size} bytes; an adapter config is at most 1 MiB`);
    config = { path: configFile.path, bytes: await readRange(storage, configFile.key, 0, configFile.size) };
  }
  // A base model's config.json beside the adapter (not one inside a checkpoint): base facts for a base the table lacks.
  // One that is too big is not a model config; it is simply not used.
  const baseFile = files.find((f) => f.path === 'config.json' && f.size <= MAX_CONFIG_BYTES);
  const baseConfig = baseFile ? { path: baseFile.path, bytes: await readRange(storage, baseFile.key, 0, baseFile.size) } : null;
  return analyseInWorker({
    headers,
    weightsPath: weights && headers.some((h) => h.path === weights.path) ? weights.path : null,
    config,
    baseConfig,
  });
}
