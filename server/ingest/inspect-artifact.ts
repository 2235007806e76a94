import { baseName } from '../paths.ts';
import type { FileKind } from '../vocabulary.ts';
import type { StorageDriver } from '../storage/storage.ts';
import { readTorchStateDict, PickleError } from '../outputs/pickle.ts';
import type { OutputWarning } from '../outputs/types.ts';
import type { AnalyseInput, Inspection } from './inspect/analyse.ts';
import { ADAPTER_WEIGHT_FILES, ADAPTER_WEIGHT_NAMES, checkpointOf } from './inspect/classify.ts';
import { analyseInWorker } from './inspect/inspect-runner.ts';
import { InspectionError, readSafetensorsHeaderBytes } from './inspect/safetensors.ts';
import { isPickle, type FileFormat } from './inspect/sniff.ts';

/** A file after its verified copy into storage. */
export interface StoredFile {
  path: string;
  key: string;
  size: number;
  sha256: string;
  kind: FileKind;
  contentType: string;
  /** What its first bytes show (sniff.ts); null for anything else. */
  format: FileFormat | null;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

async function readRange(storage: StorageDriver, key: string, offset: number, length: number): Promise<Uint8Array> {
  if (length === 0) return new Uint8Array(0);
  const stream = await storage.get(key, { start: offset, end: offset + length - 1 });
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  return bytes;
}

const preference = (path: string) => (ADAPTER_WEIGHT_NAMES as readonly string[]).indexOf(baseName(path).toLowerCase());
const folderOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '');

/**
 * The main adapter weights file of an output: the shallowest adapter file outside checkpoints (safetensors before a
 * pickled `.bin`); an output with none there (torchtune's `epoch_<n>/`, a run saved only in checkpoints) has its
 * highest checkpoint's adapter. Undefined when there is no adapter at all.
 */
export function mainAdapterWeights<F extends Pick<StoredFile, 'path' | 'kind'>>(files: readonly F[]): F | undefined {
  const named = files.filter((f) => ADAPTER_WEIGHT_FILES.has(baseName(f.path).toLowerCase()));
  const outside = named.filter((f) => f.kind === 'adapter_weights');
  if (outside.length > 0) {
    return outside.sort((a, b) => a.path.split('/').length - b.path.split('/').length || preference(a.path) - preference(b.path))[0];
  }
  const inCheckpoints = named
    .map((f) => ({ f, id: checkpointOf(f.path) }))
    .filter((c) => c.id !== null && !c.id.file && `${c.id.name}/${baseName(c.f.path)}` === c.f.path)
    .sort((a, b) => (b.id!.step ?? Number.MAX_SAFE_INTEGER) - (a.id!.step ?? Number.MAX_SAFE_INTEGER) || preference(a.f.path) - preference(b.f.path));
  return inCheckpoints[0]?.f;
}

/** The file named `name` in the same folder as `path`, if any. */
function besideFile<F extends Pick<StoredFile, 'path'>>(files: readonly F[], path: string, name: string): F | undefined {
  const wanted = `${folderOf(path)}${name}`;
  return files.find((f) => f.path === wanted);
}

/**
 * Reads what the stored output says about the adapter: every safetensors header is parsed and checked
 * (a corrupt one fails the ingest), the main adapter's config and tensors give base model, rank, alpha,
 * target modules, dtype and parameter count, and its tensors are checked against its base model's shapes.
 * Reads headers and small JSON files only, never whole weight files.
 */
export async function inspectArtifact(storage: StorageDriver, files: StoredFile[]): Promise<Inspection & { warnings: OutputWarning[] }> {
  // Reading happens here (I/O, no CPU to speak of); parsing and pattern checks run on a worker thread.
  const warnings: OutputWarning[] = [];
  const headers: AnalyseInput['headers'] = [];
  for (const f of files) {
    if (!f.path.endsWith('.safetensors')) continue;
    // Content decides: a pickle or a GGUF file named .safetensors is never parsed as one (nor as anything).
    if (f.format !== null && f.format !== 'safetensors') {
      warnings.push({
        code: 'misnamed',
        path: f.path,
        message: `is named .safetensors but its content is ${formatName(f.format)}; it was stored as it is and not read`,
      });
      continue;
    }
    const { bytes, dataSize } = await readSafetensorsHeaderBytes((o, l) => readRange(storage, f.key, o, l), f.size, f.path);
    headers.push({ path: f.path, bytes, dataSize });
  }
  const weights = mainAdapterWeights(files);
  let pickled: AnalyseInput['pickled'] = null;
  if (weights && isPickle(weights.format)) {
    // PEFT's older adapter_model.bin: its tensor names and shapes, read by a bounded symbolic reader that never executes it.
    try {
      pickled = {
        path: weights.path,
        tensors: await readTorchStateDict((o, l) => readRange(storage, weights.key, o, l), weights.size, weights.path),
      };
    } catch (error) {
      if (!(error instanceof PickleError)) throw error;
      warnings.push({ code: 'pickle_unreadable', path: weights.path, message: `its tensor shapes are unknown: ${error.message}` });
    }
  }
  const configFile = weights ? besideFile(files, weights.path, 'adapter_config.json') : files.find((f) => f.path === 'adapter_config.json');
  let config: AnalyseInput['config'] = null;
  if (configFile) {
    if (configFile.size > MAX_CONFIG_BYTES)
      throw new InspectionError(configFile.path, `is ${configFile.size} bytes; an adapter config is at most 1 MiB`);
    config = { path: configFile.path, bytes: await readRange(storage, configFile.key, 0, configFile.size) };
  }
  // A base model's config.json beside the adapter (torchtune copies it into epoch_<n>/) or at the top of the output:
  // base facts for a base the table lacks. One that is too big is not a model config; it is simply not used.
  const baseFile = [weights ? besideFile(files, weights.path, 'config.json') : undefined, files.find((f) => f.path === 'config.json')].find(
    (f) => f !== undefined && f.size <= MAX_CONFIG_BYTES,
  );
  const baseConfig = baseFile ? { path: baseFile.path, bytes: await readRange(storage, baseFile.key, 0, baseFile.size) } : null;
  const inspection = await analyseInWorker({
    headers,
    weightsPath: weights && headers.some((h) => h.path === weights.path) ? weights.path : null,
    pickled,
    config,
    baseConfig,
  });
  return { ...inspection, warnings };
}

function formatName(format: FileFormat): string {
  return format === 'gguf' ? 'GGUF' : 'a Python pickle';
}
