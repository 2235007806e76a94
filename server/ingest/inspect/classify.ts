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

// training_args.json is what trainers that do not pickle their arguments write instead of the .bin.
const LOG_FILES = new Set(['trainer_state.json', 'training_args.bin', 'training_args.json']);

const CHECKPOINT_DIR = /^checkpoint-./;

/**
 * Classifies a relative output path ("/"-separated, as returned by validateOutputPath). Anything inside
 * a `checkpoint-*` directory is a checkpoint, whatever its name; elsewhere the file name decides
 * (compared case-insensitively: some tools upper-case extensions).
 */
export function classifyFile(path: string): FileKind {
  const segments = path.split('/');
  const base = (segments[segments.length - 1] ?? '').toLowerCase();
  if (segments.slice(0, -1).some((s) => CHECKPOINT_DIR.test(s))) return 'checkpoint';
  if (base === 'adapter_model.safetensors' || base === 'adapter_model.bin') return 'adapter_weights';
  if (base === 'adapter_config.json') return 'adapter_config';
  if (TOKENIZER_FILES.has(base)) return 'tokenizer';
  if (LOG_FILES.has(base) || base.endsWith('.log') || base.endsWith('.jsonl') || base.startsWith('events.out.tfevents')) {
    return 'log';
  }
  return 'other';
}

/**
 * The step of the checkpoint directory a path lies in (`checkpoint-500/adapter_model.safetensors` → 500),
 * or null when it lies in none or the suffix is not a step number. The innermost such directory wins.
 */
export function checkpointStep(path: string): number | null {
  const dirs = path.split('/').slice(0, -1);
  for (let i = dirs.length - 1; i >= 0; i--) {
    const m = /^checkpoint-(\d{1,15})$/.exec(dirs[i]!);
    if (m) return Number(m[1]);
  }
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
