/**
 * What each file of a training output is, from its path alone, so the catalogue can group files and
 * the downloader can offer "adapter only" without opening anything.
 */
import type { FileKind } from '../../vocabulary.ts';

const TOKENIZER_FILES = new Set([
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
]);

// training_args.json is what trainers that do not pickle their arguments write instead of the .bin; trainer_log.jsonl is
// LLaMA-Factory's per-step log.
const LOG_FILES = new Set(['trainer_state.json', 'training_args.bin', 'training_args.json', 'trainer_log.jsonl']);

/**
 * The adapter weight files trainers write, most wanted first: PEFT's safetensors, mlx-lm's / unsloth-MLX's, and PEFT's
 * older pickle (the `.bin` beside a safetensors is its twin).
 */
export const ADAPTER_WEIGHT_NAMES = ['adapter_model.safetensors', 'adapters.safetensors', 'adapter_model.bin'] as const;
export const ADAPTER_WEIGHT_FILES: ReadonlySet<string> = new Set(ADAPTER_WEIGHT_NAMES);

// Any `checkpoint-*` folder holds checkpoint files (HF names them checkpoint-<step>; some tools checkpoint-final).
const CHECKPOINT_LIKE_DIR = /^checkpoint-./;

/**
 * The checkpoints trainers write, each with the number it is named by: HF/TRL/axolotl/unsloth/LLaMA-Factory
 * `checkpoint-<step>/` (also inside the `run-<n>` folders of a hyperparameter search), the `last-checkpoint/` a hub push keeps,
 * torchtune `epoch_<n>/` and `step_<n>/`, and mlx-lm's `<7 digits>_adapters.safetensors` files (a checkpoint that
 * is one file). DeepSpeed's `global_step<n>/` lies inside a `checkpoint-<step>/` and is part of it.
 */
const CHECKPOINT_DIRS: readonly { re: RegExp; unit: CheckpointUnit }[] = [
  { re: /^checkpoint-(\d{1,15})$/, unit: 'step' },
  { re: /^step_(\d{1,15})$/, unit: 'step' },
  { re: /^epoch_(\d{1,15})$/, unit: 'epoch' },
  { re: /^last-checkpoint$/, unit: 'step' },
];
const MLX_CHECKPOINT_FILE = /^(\d{1,15})_adapters\.safetensors$/;

/** What a checkpoint's number counts: training steps (most trainers) or epochs (torchtune's `epoch_<n>/`). */
type CheckpointUnit = 'step' | 'epoch';

/** A checkpoint of an output: its name (a folder, or for mlx the file), the number in that name, and what it counts. */
export interface CheckpointId {
  name: string;
  /** The number the name carries (`checkpoint-500` → 500, `epoch_2` → 2); null for `last-checkpoint`. */
  step: number | null;
  unit: CheckpointUnit;
  /** True for a checkpoint that is a single file (mlx-lm). */
  file: boolean;
}

/** The checkpoint a path belongs to, or null: the innermost checkpoint folder it lies in, or the mlx checkpoint file it is. */
export function checkpointOf(path: string): CheckpointId | null {
  const segments = path.split('/');
  for (let i = segments.length - 2; i >= 0; i--) {
    for (const { re, unit } of CHECKPOINT_DIRS) {
      const m = re.exec(segments[i]!);
      if (m) return { name: segments.slice(0, i + 1).join('/'), step: m[1] === undefined ? null : Number(m[1]), unit, file: false };
    }
  }
  const m = MLX_CHECKPOINT_FILE.exec(segments[segments.length - 1]!);
  return m ? { name: path, step: Number(m[1]), unit: 'step', file: true } : null;
}

/**
 * Classifies a relative output path ("/"-separated, as returned by validateOutputPath). Anything inside a
 * checkpoint (a `checkpoint-*` folder or one of `checkpointOf`'s) is a checkpoint, whatever its name; elsewhere
 * the file name decides (compared case-insensitively: some tools upper-case extensions).
 */
export function classifyFile(path: string): FileKind {
  const segments = path.split('/');
  const base = (segments[segments.length - 1] ?? '').toLowerCase();
  if (segments.slice(0, -1).some((s) => CHECKPOINT_LIKE_DIR.test(s)) || checkpointOf(path) !== null) return 'checkpoint';
  if (ADAPTER_WEIGHT_FILES.has(base)) return 'adapter_weights';
  if (base === 'adapter_config.json') return 'adapter_config';
  if (TOKENIZER_FILES.has(base)) return 'tokenizer';
  if (LOG_FILES.has(base) || base.endsWith('.log') || base.endsWith('.jsonl') || base.startsWith('events.out.tfevents')) {
    return 'log';
  }
  return 'other';
}

// A merged full model (a trainer's `merge_and_unload`, torchtune's checkpointer): HF's sharded weights and their index.
const MERGED_MODEL_FILE = /^(?:model|pytorch_model)(?:-\d{5}-of-\d{5}\.(?:safetensors|bin)|\.safetensors\.index\.json|\.bin\.index\.json)$/;

/** Whether a file is part of a merged full model (`model-00001-of-00004.safetensors`, `model.safetensors.index.json`). */
export function isMergedModelFile(path: string): boolean {
  return MERGED_MODEL_FILE.test(path.slice(path.lastIndexOf('/') + 1));
}

/**
 * Folders no model needs, skipped at ingest unless the workspace includes them: version control, TensorBoard
 * and Weights & Biases logs, unsloth's compile cache and temporary buffers, and HF's interrupted saves
 * (`tmp-checkpoint-<step>/`, renamed to `checkpoint-<step>/` once complete).
 */
const SKIPPED_DIRS: readonly { re: RegExp; label: string }[] = [
  { re: /^\.git$/, label: '.git/' },
  { re: /^runs$/, label: 'runs/' },
  { re: /^wandb$/, label: 'wandb/' },
  { re: /^unsloth_compiled_cache$/, label: 'unsloth_compiled_cache/' },
  { re: /^_unsloth_temporary_saved_buffers$/, label: '_unsloth_temporary_saved_buffers/' },
  { re: /^tmp-checkpoint-.+$/, label: 'tmp-checkpoint-*/' },
];

/** Why the ingest skips a path (the folder rule it falls under, e.g. `wandb/`), or null when it copies it. */
export function skippedBy(path: string): string | null {
  const dirs = path.split('/').slice(0, -1);
  for (const dir of dirs) for (const { re, label } of SKIPPED_DIRS) if (re.test(dir)) return label;
  return null;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  json: 'application/json',
  jsonl: 'application/x-ndjson',
  md: 'text/markdown; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  jinja: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  safetensors: 'application/octet-stream',
  bin: 'application/octet-stream',
  pt: 'application/octet-stream',
  pth: 'application/octet-stream',
  model: 'application/octet-stream',
  gguf: 'application/octet-stream',
};

/**
 * The Content-Type to store and serve a file with. Unknown types are application/octet-stream: served
 * as an attachment, a file from a GPU node must never be rendered as HTML by the browser.
 */
export function contentTypeFor(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return 'application/octet-stream';
  return CONTENT_TYPES[base.slice(dot + 1)] ?? 'application/octet-stream';
}
