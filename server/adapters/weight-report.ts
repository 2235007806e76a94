/**
 * The ingest's weight report: the main adapter's weights analysed off the event loop (health-runner.ts), and
 * the checkpoints that are byte-for-byte copies of it or of each other (from the SHA-256s the copy computed).
 */
import type { AdapterConfig } from '../ingest/inspect/adapter-config.ts';
import type { StoredFile } from '../ingest/inspect-artifact.ts';
import type { StorageDriver } from '../storage/storage.ts';
import { isPickle } from '../ingest/inspect/sniff.ts';
import { duplicateCheckpoints } from './health.ts';
import { analyseWeightHealth } from './health-runner.ts';
import type { WeightHealth } from './types.ts';

/** The health of `main` (the output's adapter_model.safetensors; none: no analysis) with the duplicate-checkpoint warnings. */
export async function adapterWeightHealth(
  storage: StorageDriver,
  stored: readonly StoredFile[],
  main: StoredFile | null,
  config: AdapterConfig | null,
  options: { signal?: AbortSignal; trainerBest?: string | null } = {},
): Promise<WeightHealth> {
  const { signal } = options;
  const duplicates = duplicateCheckpoints(
    stored.map((f) => ({ path: f.path, sha256: f.sha256, kind: f.kind })),
    main?.path ?? null,
    options.trainerBest ?? null,
  );
  if (!main) return { file: null, modules: [], warnings: duplicates, untrained: false };
  // A pickled adapter (adapter_model.bin) is never read past its tensor shapes: its weights are not analysed.
  if (isPickle(main.format)) {
    const warning = {
      code: 'pickle_not_read' as const,
      message: `${main.path} is a Python pickle: its shapes were read, its weights were not (re-save it with safe_serialization=True for a weight report and a GGUF export)`,
      subjects: [main.path],
    };
    return { file: null, modules: [], warnings: [warning, ...duplicates], untrained: false };
  }
  const health = await analyseWeightHealth(
    storage,
    { key: main.key, size: main.size, path: main.path },
    config
      ? { rank: config.rank, alpha: config.alpha, rankPattern: config.rankPattern, alphaPattern: config.alphaPattern, useRslora: config.useRslora }
      : null,
    { signal },
  );
  return { ...health, warnings: [...health.warnings, ...duplicates] };
}
