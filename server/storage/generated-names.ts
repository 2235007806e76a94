/**
 * The one rule for names the service generates at the top of a model (the bundle's checksum file and
 * the model card): the generated file keeps its name, and a training output file that collides
 * with it is kept as `<stem>.trainer<ext>` (`SHA256SUMS.trainer`, `README.trainer.md`), its original name
 * recorded, so nothing the trainer wrote is lost and no download holds two files of one name.
 */
import { baseName } from '../paths.ts';

/** Name of the checksum file added to every bundle (`sha256sum -c SHA256SUMS` verifies the rest). */
export const CHECKSUMS_NAME = 'SHA256SUMS';

/** Name of the generated model card (server/adapters/card-store.ts), Hugging Face's `README.md`. */
const MODEL_CARD_NAME = 'README.md';

/** Every top-level name the service generates; the ingest and the bundle both follow this list. */
const GENERATED_TOP_LEVEL_NAMES: readonly string[] = [CHECKSUMS_NAME, MODEL_CARD_NAME];

// Compared case-insensitively: on macOS and Windows `readme.md` and `README.md` are one file once unzipped.
const fold = (name: string) => name.toLowerCase();

/** True when `path` (relative, `/`-separated) is a top-level name the service generates. */
function isGeneratedName(path: string, generated: readonly string[] = GENERATED_TOP_LEVEL_NAMES): boolean {
  return baseName(path) === path && generated.some((g) => fold(g) === fold(path));
}

/** `README.md` → `README.trainer.md`, `SHA256SUMS` → `SHA256SUMS.trainer`; `n` > 1 adds a counter (`README.trainer2.md`). */
export function trainerName(name: string, n = 1): string {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${stem}.trainer${n > 1 ? n : ''}${ext}`;
}

/**
 * For each of `paths` (distinct), the path it is kept under: unchanged, or, for a top-level name that
 * collides with a generated one, the first `trainerName` free among all the paths and generated names.
 * Returns `{ path, sourcePath }` in the input order; `sourcePath` is the original name when renamed, else null.
 */
export function keepClearOfGeneratedNames(
  paths: readonly string[],
  generated: readonly string[] = GENERATED_TOP_LEVEL_NAMES,
): { path: string; sourcePath: string | null }[] {
  const taken = new Set([...paths, ...generated].map(fold));
  return paths.map((path) => {
    if (!isGeneratedName(path, generated)) return { path, sourcePath: null };
    let n = 1;
    while (taken.has(fold(trainerName(path, n)))) n++;
    const renamed = trainerName(path, n);
    taken.add(fold(renamed));
    return { path: renamed, sourcePath: path };
  });
}
