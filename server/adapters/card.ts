/**
 * The generated model card: `README.md` at the top of every model, in Hugging Face's model-card format
 * (YAML front matter, then Markdown; https://huggingface.co/docs/hub/model-cards), so a downloaded folder
 * can be pushed to the Hub as it is, plus the usage snippets the detail page shows with copy buttons.
 *
 * Pure and deterministic: no clock, no locale-dependent ordering; the same model always renders to the
 * same bytes, so its SHA-256 (in SHA256SUMS) only changes when what the card says does.
 *
 * Everything a user or a trainer wrote (name, description, tags, base model, file and module names,
 * hyperparameter keys) is escaped for where it lands: Markdown text, code spans, table cells, fenced
 * blocks, shell words, Python strings, Modelfile lines; the front matter is written by Bun.YAML.stringify.
 */
import type { StoredEvalSet } from '../outputs/types.ts';
import type { AdapterInfo } from '../../db/schema/model-artifacts.ts';
import { llamaCppArch } from './bases.ts';
import type { QualityFacts } from './explain.ts';
import type { FitCheck, RuntimeFit, WeightHealth } from './types.ts';

/** What the card says about a model (built by server/adapters/view.ts, shared with models.get). */
export interface CardModel {
  name: string;
  /** The canonical reference, `family@v3`; the downloaded folder is named after it (`family-v3`). */
  ref: string;
  family: string;
  version: number;
  description: string;
  tags: string[];
  /** The adapter's `base_model_name_or_path` (or the job's base model); null when unknown. */
  baseModel: string | null;
  adapter: AdapterInfo | null;
  /** adapter_config.json `task_type` (`CAUSAL_LM`, …). */
  taskType: string | null;
  quality: Pick<QualityFacts, 'score' | 'convergence' | 'lossReductionPct' | 'finalTrainingLoss' | 'finalValidationLoss'> & {
    /** qualityExplanation (server/adapters/explain.ts). */
    explanation: string;
  };
  trainingSummary: { epochsCompleted: number | null; totalSteps: number | null; durationHours: number | null; totalCost: number | null };
  hyperparameters: Record<string, unknown>;
  compatibility: (FitCheck & { runtimes: RuntimeFit[] }) | null;
  weights: WeightHealth | null;
  /** The model's files as delivered, the card itself excluded. */
  files: { path: string; sizeBytes: number; sha256: string }[];
  /** The GGUF export of the main adapter, as a path inside the model's folder; null when there is none yet. */
  ggufFile: string | null;
  datasetName: string | null;
  /** Evaluation results that came with the output (server/outputs/); absent or empty: no section. */
  evaluations?: readonly StoredEvalSet[];
}

type UsageRuntime = 'mlx' | 'peft' | 'vllm' | 'llama.cpp' | 'ollama';

/** One way to run the model, as the card and the detail page show it. */
interface UsageSnippet {
  runtime: UsageRuntime;
  title: string;
  /** Shell or Python, ready to paste (with the model's folder, base model and export names filled in). */
  code: string;
  /** True only where this service's own tests run the runtime (llama.cpp, tests/integration/llama-cpp-lora.test.ts). */
  verified: boolean;
  /** The documentation the snippet follows. */
  source: string;
}

// --- Escaping -------------------------------------------------------------------------------------------

/** C0 controls and DEL, except tab and line feeds (those are handled where they matter). */
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** One line: controls removed, any run of line breaks (and the spaces around them) made a single space. */
function oneLine(s: string): string {
  return s
    .replace(CONTROLS, '')
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .trim();
}

/**
 * User text inline in Markdown (a heading, a sentence, a table cell): one line; `&`, `<`, `>` as entities so
 * no HTML can open; a backslash before every character that starts inline syntax (emphasis `*` `_`, code
 * `` ` ``, links and images `[` `]`, strikethrough `~`, table cells `|`, a heading's closing `#`, HF's KaTeX
 * `$`, and the backslash itself), per CommonMark's backslash escapes (https://spec.commonmark.org/0.31.2/#backslash-escapes).
 * GFM also turns bare `https://…`, `www.…` and `a@b.c` into links (https://github.github.com/gfm/#autolinks-extension-):
 * an escape inside each (`\\://`, `www\\.`, `\\@`) keeps them text, as the reader sees them.
 */
function text(s: string): string {
  return oneLine(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]~|#$@]/g, (c) => `\\${c}`)
    .replace(/:\/\//g, '\\://')
    .replace(/(www)\./gi, '$1\\.');
}

/**
 * Multi-line user text (a description) as paragraphs: each line escaped like `text`, then the markers that
 * only mean something at the start of a line (list bullets `-` `+`, setext underlines `=`, ordered lists
 * `1.` / `1)`) escaped too; lines are trimmed (no indented code block) and blank runs kept as one blank line.
 */
function paragraphs(s: string): string {
  const lines = s
    .replace(CONTROLS, '')
    .split(/\r\n?|\n/)
    .map((line) =>
      text(line)
        .replace(/^([-+=])/, '\\$1')
        .replace(/^(\d+)([.)])/, '$1\\$2'),
    );
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * A code span: a backtick fence longer than any run inside, padded when the content touches a backtick
 * (https://spec.commonmark.org/0.31.2/#code-spans). In a table cell, `|` must be escaped even inside code
 * (GFM tables, https://github.github.com/gfm/#tables-extension-).
 */
function code(s: string, inTable = false): string {
  const t = oneLine(s);
  if (t === '') return '(empty)';
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  const span = `${fence}${pad}${t}${pad}${fence}`;
  return inTable ? span.replace(/\|/g, '\\|') : span;
}

/** A fenced code block whose fence is longer than any backtick run in `body`, so nothing inside can close it. */
function fenced(lang: string, body: string): string {
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${body}\n${fence}`;
}

/** A GFM table; cells are already escaped for a cell. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * A Hugging Face Hub repo id (`owner/name`): what `base_model` must hold, since the Hub validates the front
 * matter on push and refuses a local path there (huggingface/transformers#33922, the Hub's
 * `/api/validate-yaml` "is not valid" errors, e.g. huggingface/autotrain-advanced#648). Also the only base
 * names the card links to huggingface.co.
 */
const HUB_REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;
const isHubId = (name: string): boolean => HUB_REPO_ID.test(name) && !name.includes('..') && !name.includes('--');

/** An https URL with no character that could end a Markdown link destination early. */
const SAFE_URL = /^https:\/\/[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+$/;

// --- Formatting -----------------------------------------------------------------------------------------

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const num = (n: number): string => String(Number(n.toPrecision(4)));
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB" (binary multiples, as the dashboard shows them: web/src/lib/format.ts). */
function bytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

function duration(hours: number): string {
  return hours < 1 ? `${Math.round(hours * 60)} min` : `${Number(hours.toFixed(1))} h`;
}

const orDash = <T>(v: T | null | undefined, f: (v: T) => string): string => (v === null || v === undefined ? '—' : f(v));

// --- Names used by the snippets -------------------------------------------------------------------------

/** The folder the model is downloaded into: its reference with `@` made `-` (`support-bot@v3` → `support-bot-v3`). */
function folderName(ref: string): string {
  return (
    ref
      .replace(/@/g, '-')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'model'
  );
}

/**
 * The base model as the snippets may name it: one printable line that cannot be read as an option. Anything
 * else (null, a newline, a leading `-`) gets a placeholder the user fills in.
 */
function usableBase(base: string | null): string | null {
  if (base === null) return null;
  const t = base.trim();
  return t !== '' && t.length <= 300 && !/[\u0000-\u001f\u007f]/.test(t) && !t.startsWith('-') ? t : null;
}

/** A shell word: as is when plainly safe, else single-quoted (`'` written as `'\''`). */
function sh(s: string): string {
  return /^[A-Za-z0-9._/:@+=,%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A Python string literal: JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`) are all valid Python escapes too. */
const py = (s: string): string => JSON.stringify(s);

/** The local GGUF file of the base the llama.cpp and Ollama snippets expect: `Llama-3.2-1B.gguf`. */
function baseGgufName(base: string | null): string {
  const last = (base ?? '').split(/[\\/]/).filter(Boolean).pop() ?? '';
  const stem = last
    .replace(/\.gguf$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return `${stem || 'base-model'}.gguf`;
}

// --- Usage ----------------------------------------------------------------------------------------------

/** The documentation each snippet follows, and how the card names it. */
const SOURCES: Record<UsageRuntime, { url: string; label: string }> = {
  // `model_id`: "A path to a directory containing a PEFT configuration file saved using the save_pretrained method
  // (`./my_peft_config_directory/`)": the downloaded folder as it is.
  peft: {
    url: 'https://huggingface.co/docs/peft/package_reference/peft_model#peft.PeftModel.from_pretrained',
    label: 'PEFT: PeftModel.from_pretrained',
  },
  // "Serving LoRA Adapters": `vllm serve <base> --enable-lora --lora-modules name=path`, then `"model": "<name>"` in a request.
  // A relative path is fine: vllm/lora/utils.py `get_adapter_absolute_path` resolves it against the working directory.
  vllm: { url: 'https://docs.vllm.ai/en/latest/features/lora.html', label: 'vLLM: LoRA Adapters' },
  // `--lora FNAME`: "path to LoRA adapter (can be repeated to use multiple adapters)", for llama-cli and llama-server alike.
  'llama.cpp': { url: 'https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md', label: 'llama.cpp server: --lora' },
  // "ADAPTER": a LoRA adapter (safetensors or GGUF) path relative to the Modelfile, applied to the FROM base.
  ollama: { url: 'https://docs.ollama.com/modelfile#adapter', label: 'Ollama Modelfile: ADAPTER' },
  // LORA.md "Generate": `mlx_lm.generate --model <path_to_model> --adapter-path <path_to_adapters> --prompt …`; the
  // folder holds adapter_config.json and adapters.safetensors (mlx_lm/tuner/utils.py load_adapters), as downloaded.
  mlx: { url: 'https://github.com/ml-explore/mlx-lm/blob/main/mlx_lm/LORA.md#generate', label: 'mlx-lm: LoRA, Generate' },
};

/**
 * The values vLLM accepts for `--max-lora-rank` (vllm/config/lora.py: `MaxLoRARanks = Literal[1, 8, 16, 32,
 * 64, 128, 256, 320, 512]`, default 16; https://docs.vllm.ai/en/latest/configuration/engine_args.html):
 * any other value is refused at start-up, so an adapter of rank 24 needs 32.
 */
const VLLM_MAX_LORA_RANKS = [1, 8, 16, 32, 64, 128, 256, 320, 512] as const;
const VLLM_DEFAULT_MAX_LORA_RANK = 16;

/** PEFT task_type → the transformers Auto class that loads its base (PEFT's `MODEL_TYPE_TO_PEFT_MODEL_MAPPING` task types). */
const AUTO_CLASS: Record<string, string> = {
  CAUSAL_LM: 'AutoModelForCausalLM',
  SEQ_2_SEQ_LM: 'AutoModelForSeq2SeqLM',
  SEQ_CLS: 'AutoModelForSequenceClassification',
  TOKEN_CLS: 'AutoModelForTokenClassification',
  QUESTION_ANS: 'AutoModelForQuestionAnswering',
  FEATURE_EXTRACTION: 'AutoModel',
};

function mismatchNote(m: CardModel): string | null {
  const fit = m.compatibility;
  if (fit?.verdict !== 'mismatch') return null;
  return `# Warning: this adapter does not fit its base model (${fit.mismatchCount} of ${fit.checked} LoRA tensors differ); expect it to be refused.`;
}

/**
 * The ways to run the model: PEFT, vLLM, llama.cpp, Ollama, in that order (an mlx-lm adapter: mlx-lm, llama.cpp,
 * Ollama; PEFT and vLLM cannot read it, runtimes.ts says why). Each assumes the model was downloaded into
 * `./<ref with @ as ->` (the zip unpacked there); only llama.cpp is verified by this service's tests, the
 * others follow the documentation in `source`.
 */
export function usageSnippets(m: CardModel): UsageSnippet[] {
  const folder = folderName(m.ref);
  const base = usableBase(m.baseModel);
  const warning = mismatchNote(m);
  const withWarning = (lines: (string | null)[]) => [warning, ...lines].filter((l): l is string => l !== null).join('\n');
  const mlx = m.adapter?.format === 'mlx';

  // mlx-lm: the base (a Hub id or a local mlx model) with the adapter folder on top of it.
  const mlxBase = base === null ? 'BASE_MODEL' : base;
  const mlxLm = withWarning([
    '# pip install mlx-lm  (Apple silicon)',
    ...(base === null ? ['# BASE_MODEL: the Hugging Face id or local path of the base this adapter was trained on.'] : []),
    `# ./${folder}: this model's folder (adapter_config.json + adapters.safetensors).`,
    `mlx_lm.generate --model ${sh(mlxBase)} --adapter-path ${sh(`./${folder}`)} --prompt 'Hello, ' --max-tokens 64`,
    '',
    '# Or from Python:',
    'from mlx_lm import generate, load',
    `model, tokenizer = load(${py(mlxBase)}, adapter_path=${py(`./${folder}`)})`,
    'print(generate(model, tokenizer, prompt="Hello, ", max_tokens=64))',
  ]);

  // PEFT: load the base with transformers, then the adapter folder on top of it.
  const autoClass = AUTO_CLASS[m.taskType ?? 'CAUSAL_LM'] ?? 'AutoModelForCausalLM';
  const generative = autoClass === 'AutoModelForCausalLM' || autoClass === 'AutoModelForSeq2SeqLM';
  const peft = withWarning([
    '# pip install peft transformers torch',
    'from peft import PeftModel',
    `from transformers import ${autoClass}, AutoTokenizer`,
    '',
    base === null ? 'base_id = "BASE_MODEL"  # the Hugging Face id or local path of the base this adapter was trained on' : `base_id = ${py(base)}`,
    'tokenizer = AutoTokenizer.from_pretrained(base_id)',
    `base = ${autoClass}.from_pretrained(base_id)`,
    `model = PeftModel.from_pretrained(base, ${py(`./${folder}`)})  # this model's folder (adapter_config.json + weights)`,
    ...(generative
      ? [
          '',
          'inputs = tokenizer("Hello, ", return_tensors="pt")',
          'outputs = model.generate(**inputs, max_new_tokens=64)',
          'print(tokenizer.decode(outputs[0], skip_special_tokens=True))',
        ]
      : []),
  ]);

  // vLLM: the OpenAI-compatible server with the adapter registered under the folder's name.
  const rank = m.adapter?.maxRank ?? m.adapter?.rank ?? null;
  const vllmBase = base === null ? 'BASE_MODEL' : sh(base);
  let rankLine: string | null = null;
  let rankFlag: string | null = null;
  if (rank === null) {
    rankLine = `# Rank unknown: if it is above ${VLLM_DEFAULT_MAX_LORA_RANK}, add --max-lora-rank with one of ${VLLM_MAX_LORA_RANKS.join(', ')} (at least the rank).`;
  } else if (rank > VLLM_DEFAULT_MAX_LORA_RANK) {
    const allowed = VLLM_MAX_LORA_RANKS.find((r) => r >= rank);
    if (allowed === undefined) {
      rankLine = `# Rank ${rank} is above the largest --max-lora-rank vLLM accepts (${VLLM_MAX_LORA_RANKS.at(-1)}): vLLM cannot serve this adapter.`;
    } else {
      rankLine = `# Rank ${rank} is above vLLM's default max_lora_rank (${VLLM_DEFAULT_MAX_LORA_RANK}), hence --max-lora-rank ${allowed}.`;
      rankFlag = `  --max-lora-rank ${allowed}`;
    }
  }
  const serve = [`vllm serve ${vllmBase}`, '  --enable-lora', `  --lora-modules ${folder}=./${folder}`, ...(rankFlag ? [rankFlag] : [])];
  const request = JSON.stringify({ model: folder, prompt: 'Hello, ', max_tokens: 64, temperature: 0 });
  const vllm = withWarning([
    '# pip install vllm',
    `# Serve the base with this adapter under the name ${folder} (./${folder}: this model's folder).`,
    ...(base === null ? ['# BASE_MODEL: the Hugging Face id or local path of the base this adapter was trained on.'] : []),
    rankLine,
    serve.join(' \\\n'),
    '',
    '# Ask for the adapter by its name (OpenAI-compatible API).',
    'curl http://localhost:8000/v1/completions \\',
    "  -H 'Content-Type: application/json' \\",
    `  -d ${sh(request)}`,
  ]);

  // llama.cpp and Ollama take the adapter as GGUF: the service's export when there is one.
  const baseGguf = baseGgufName(base);
  const baseNote = `# ${baseGguf}: ${base === null ? 'the base model' : base} as GGUF (llama.cpp's convert_hf_to_gguf.py, or a quantization of that same base).`;
  const ggufPath = `./${folder}/${m.ggufFile === null ? `${folder}.gguf` : oneLine(m.ggufFile)}`;
  // Without an export: the Export button where this service can make one (llama.cpp's `llama` and `qwen2`
  // architectures, bases.ts llamaCppArch), else llama.cpp's own converter (convert_lora_to_gguf.py: `--outfile`,
  // `--outtype`, `--base <dir with the base's config.json>`, the adapter folder last; the base's config is read
  // from the Hub by the adapter's base_model_name_or_path when --base is not given).
  const modelType = m.compatibility?.base.facts?.modelType ?? null;
  let noExport: string[] = [];
  if (m.ggufFile === null && (modelType === null || llamaCppArch(modelType) !== null)) {
    noExport = [
      '# llama.cpp and Ollama load LoRA adapters as GGUF, and this model has no GGUF export yet: press Export on its page',
      `# (or call models.export({ modelId, format: 'gguf' }); Llama, Mistral and Qwen2 bases), then save the export as ${ggufPath}.`,
    ];
  } else if (m.ggufFile === null && mlx) {
    noExport = [
      `# llama.cpp and Ollama load LoRA adapters as GGUF; this service exports GGUF for Llama, Mistral and Qwen2 bases, not ${oneLine(modelType ?? '')},`,
      "# and llama.cpp's convert_lora_to_gguf.py reads PEFT adapters, not mlx-lm's: convert this adapter to PEFT's layout first, or run it with mlx-lm.",
    ];
  } else if (m.ggufFile === null) {
    noExport = [
      `# llama.cpp and Ollama load LoRA adapters as GGUF; this service exports GGUF for Llama, Mistral and Qwen2 bases, not ${oneLine(modelType ?? '')}.`,
      "# Convert it with llama.cpp's own script (add --base <folder with the base's config.json> if the base is not on the Hub):",
      `python convert_lora_to_gguf.py --outtype f16 --outfile ${sh(ggufPath)} ${sh(`./${folder}`)}`,
    ];
  }
  const llamaCpp = withWarning([
    ...noExport,
    baseNote,
    `llama-cli -m ${sh(baseGguf)} --lora ${sh(ggufPath)}`,
    '',
    '# Or serve it (OpenAI-compatible API on port 8080):',
    `llama-server -m ${sh(baseGguf)} --lora ${sh(ggufPath)} --port 8080`,
  ]);
  const ollama = withWarning([
    ...noExport,
    baseNote,
    "cat > Modelfile <<'EOF'",
    `FROM ./${baseGguf}`,
    `ADAPTER ${ggufPath}`,
    'EOF',
    `ollama create ${folder} -f Modelfile`,
    `ollama run ${folder}`,
  ]);

  const gguf: UsageSnippet[] = [
    { runtime: 'llama.cpp', title: 'llama.cpp', code: llamaCpp, verified: true, source: SOURCES['llama.cpp'].url },
    { runtime: 'ollama', title: 'Ollama', code: ollama, verified: false, source: SOURCES.ollama.url },
  ];
  if (mlx) return [{ runtime: 'mlx', title: 'mlx-lm (Apple silicon)', code: mlxLm, verified: false, source: SOURCES.mlx.url }, ...gguf];
  return [
    { runtime: 'peft', title: 'PEFT (Python)', code: peft, verified: false, source: SOURCES.peft.url },
    { runtime: 'vllm', title: 'vLLM (OpenAI-compatible server)', code: vllm, verified: false, source: SOURCES.vllm.url },
    ...gguf,
  ];
}

// --- The card -------------------------------------------------------------------------------------------

/**
 * The front matter, as PEFT's `PeftModel.create_or_update_model_card` writes it (huggingface/peft
 * src/peft/peft_model.py): `library_name: peft`; `tags` sorted, with `lora` and
 * `base_model:adapter:<base>` (`_get_peft_specific_model_tags`); `pipeline_tag: text-generation` for a
 * causal LM; `base_model` the base's id. We add `peft` and the model's own tags, omit `license` (unknown),
 * and write `base_model` (and its tag) only for a Hub id. Keys in PEFT's order of importance.
 */
function frontMatter(m: CardModel): string {
  const hubBase = m.baseModel !== null && isHubId(m.baseModel.trim()) ? m.baseModel.trim() : null;
  // An mlx-lm adapter is mlx's, as mlx_lm/utils.py's own card says (`card.data.library_name = "mlx"`), not PEFT's.
  const library = m.adapter?.format === 'mlx' ? 'mlx' : 'peft';
  const tags = new Set<string>(['lora', library, ...m.tags.map(oneLine).filter(Boolean)]);
  if (hubBase) tags.add(`base_model:adapter:${hubBase}`);
  const causal = m.taskType === 'CAUSAL_LM' || (m.taskType === null && m.compatibility?.base.facts != null);
  const data: Record<string, unknown> = {
    ...(hubBase ? { base_model: hubBase } : {}),
    library_name: library,
    ...(causal ? { pipeline_tag: 'text-generation' } : {}),
    // Sorted by code unit, like Python's sorted(): the same tags always in the same order.
    tags: [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  };
  return `---\n${Bun.YAML.stringify(data, null, 2).trimEnd()}\n---`;
}

function introduction(m: CardModel): string {
  const base = m.baseModel === null ? null : oneLine(m.baseModel);
  const baseText =
    base === null || base === ''
      ? 'a LoRA adapter (base model unknown)'
      : isHubId(base)
        ? `a LoRA adapter for [${text(base)}](https://huggingface.co/${base})`
        : `a LoRA adapter for ${code(base)}`;
  const dataset = m.datasetName ? `, trained on the dataset ${code(m.datasetName)}` : '';
  const lines = [`${code(m.ref)}: version ${m.version} of the ${code(m.family)} family, ${baseText}${dataset}.`];
  const description = paragraphs(m.description);
  if (description) lines.push('', description);
  if (m.tags.length > 0) lines.push('', `Tags: ${m.tags.map((t) => code(t)).join(', ')}`);
  return lines.join('\n');
}

function qualitySection(m: CardModel): string {
  const q = m.quality;
  // The explanation says why (and "Not rated" when there is no score); the stars only show it.
  const filled = q.score === null ? null : Math.min(5, Math.max(0, Math.round(q.score)));
  const stars = filled === null ? '' : `**${'★'.repeat(filled)}${'☆'.repeat(5 - filled)}** `;
  return [
    '## Quality',
    '',
    `${stars}${text(q.explanation)}`,
    '',
    table(
      ['Measure', 'Value'],
      [
        ['Loss reduction', orDash(q.lossReductionPct, (v) => `${Number(v.toFixed(1))}%`)],
        ['Final training loss', orDash(q.finalTrainingLoss, num)],
        ['Final validation loss', orDash(q.finalValidationLoss, num)],
      ],
    ),
  ].join('\n');
}

/** The named hyperparameters first (jobs.create's), then the others sorted, each value as compact JSON. */
const NAMED_HYPERPARAMETERS = ['baseModel', 'loraRank', 'loraAlpha', 'learningRate', 'epochs', 'batchSize'];
const MAX_VALUE_CHARS = 120;

function trainingSection(m: CardModel): string {
  const t = m.trainingSummary;
  const summary = table(
    ['Measure', 'Value'],
    [
      ['Dataset', m.datasetName ? text(m.datasetName) : '—'],
      ['Epochs completed', orDash(t.epochsCompleted, int)],
      ['Steps', orDash(t.totalSteps, int)],
      ['Duration', orDash(t.durationHours, duration)],
      ['Cost', orDash(t.totalCost, (v) => `$${v.toFixed(2)}`)],
    ],
  );
  const keys = Object.keys(m.hyperparameters);
  const ordered = [
    ...NAMED_HYPERPARAMETERS.filter((k) => keys.includes(k)),
    ...keys.filter((k) => !NAMED_HYPERPARAMETERS.includes(k)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  ];
  const rows = ordered.map((k) => {
    const json = JSON.stringify(m.hyperparameters[k]) ?? 'null';
    const value = json.length > MAX_VALUE_CHARS ? `${json.slice(0, MAX_VALUE_CHARS)}…` : json;
    return [code(k, true), code(value, true)];
  });
  return ['## Training', '', summary, '', '### Hyperparameters', '', rows.length > 0 ? table(['Name', 'Value'], rows) : 'None recorded.'].join('\n');
}

function adapterSection(m: CardModel): string {
  const a = m.adapter;
  if (a === null) return '## Adapter\n\nNo adapter configuration was found in the output.';
  const rank = a.rank === null ? '—' : a.maxRank != null && a.maxRank > a.rank ? `${a.rank} (up to ${a.maxRank} by rank_pattern)` : String(a.rank);
  return [
    '## Adapter',
    '',
    table(
      ['Property', 'Value'],
      [
        ['Method', a.format === 'mlx' ? 'LoRA (mlx-lm)' : 'LoRA (PEFT)'],
        ['Base model', a.baseModel === null ? '—' : code(a.baseModel, true)],
        ['Rank (r)', rank],
        ['Alpha', orDash(a.alpha, num)],
        ['Target modules', a.targetModules.length > 0 ? a.targetModules.map((t) => code(t, true)).join(', ') : '—'],
        ['Weights dtype', a.dtype === null ? '—' : code(a.dtype, true)],
        ['Trainable parameters', orDash(a.parameterCount, int)],
        ['Task type', m.taskType === null ? '—' : code(m.taskType, true)],
      ],
    ),
  ].join('\n');
}

/** How many mismatches the card lists; the rest are counted (models.get has the first 50). */
const CARD_MISMATCHES = 10;

function fitSection(m: CardModel): string {
  const fit = m.compatibility;
  const lines = ['## Fit with the base model', ''];
  if (fit === null) {
    lines.push('Not checked.');
    return lines.join('\n');
  }
  const facts = fit.base.facts;
  const baseName = fit.base.name === null ? 'the base model' : code(fit.base.name);
  const source = facts === null ? '' : SAFE_URL.test(facts.source) ? `[config.json](${facts.source})` : text(facts.source);
  const figures =
    facts === null
      ? ''
      : ` (${facts.name === fit.base.name ? '' : `as ${code(facts.name)}, `}${code(facts.modelType)}: hidden size ${int(facts.hiddenSize)}, ${int(facts.layers)} layers, ` +
        `${int(facts.attentionHeads)} attention heads, ${int(facts.kvHeads)} KV heads, head dim ${int(facts.headDim)}, ` +
        `intermediate size ${int(facts.intermediateSize)}, vocabulary ${int(facts.vocabSize)}; figures from ${source})`;
  if (fit.verdict === 'fits') {
    lines.push(`**Fits.** All ${int(fit.checked)} LoRA tensors have the shapes of ${baseName}${figures}.`);
  } else if (fit.verdict === 'unchecked') {
    lines.push('**Not checked.** No LoRA tensor could be read: the output holds no `adapter_model.safetensors` (a pickled `.bin` is never opened).');
  } else if (fit.verdict === 'unknown_base') {
    lines.push(
      `**Not checked: base unknown.** ${fit.base.name === null ? 'The adapter names no base model' : `${baseName} is not in the service's table of base models`}, ` +
        `and the output holds no config.json to read its shapes from (${int(fit.checked)} LoRA tensors seen).`,
    );
  } else {
    lines.push(
      `**Does not fit.** ${int(fit.mismatchCount)} of ${int(fit.checked)} LoRA tensors differ from the shapes of ${baseName}${figures}. ` +
        'Runtimes will refuse this adapter, or (vLLM) may serve the base model without it.',
      '',
      table(
        ['Tensor', 'Expected', 'Got'],
        fit.mismatched.slice(0, CARD_MISMATCHES).map((x) => [code(x.tensor, true), text(x.expected), text(x.got)]),
      ),
    );
    const more = fit.mismatchCount - Math.min(CARD_MISMATCHES, fit.mismatched.length);
    if (more > 0) lines.push('', `…and ${int(more)} more.`);
  }
  return lines.join('\n');
}

const CARD_SUBJECTS = 5;

function weightsSection(m: CardModel): string {
  const w = m.weights;
  const lines = ['## Weight health', ''];
  if (w === null) {
    lines.push('Not analysed.');
    return lines.join('\n');
  }
  if (w.file === null) {
    lines.push('Not analysed: the output has no adapter safetensors file.');
    return lines.join('\n');
  }
  const norms = w.modules.flatMap((mod) => (mod.updateNorm === null ? [] : [{ name: mod.name, norm: mod.updateNorm }]));
  let size = '';
  if (norms.length > 0) {
    const largest = norms.reduce((a, b) => (b.norm > a.norm ? b : a));
    const smallest = norms.reduce((a, b) => (b.norm < a.norm ? b : a));
    size = ` Update size ‖(α/r)·B·A‖ (Frobenius) per module from ${num(smallest.norm)} to ${num(largest.norm)} (largest: ${code(largest.name)}).`;
  }
  const summary = `${int(w.modules.length)} adapted modules in ${code(w.file)}.${size}`;
  if (w.warnings.length === 0) {
    lines.push(`No problems found. ${summary}`);
    return lines.join('\n');
  }
  lines.push(summary, '');
  for (const warning of w.warnings) {
    const shown = warning.subjects.slice(0, CARD_SUBJECTS).map((s) => code(s));
    const more = warning.subjects.length - shown.length;
    const subjects = shown.length > 0 ? ` (${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''})` : '';
    lines.push(`- **${text(warning.code)}**: ${text(warning.message)}${subjects}`);
  }
  return lines.join('\n');
}

function runtimesSection(m: CardModel): string {
  const runtimes = m.compatibility?.runtimes ?? [];
  const body =
    runtimes.length === 0
      ? 'Not checked.'
      : table(
          ['Runtime', 'Accepts it', 'Why'],
          runtimes.map((r) => [text(r.name), r.ok ? 'yes' : '**no**', text(r.reason)]),
        );
  return ['## Runtimes', '', body].join('\n');
}

/** How many files the card lists; SHA256SUMS in the zip download lists them all. */
const CARD_FILES = 100;

const SCALE_NOTE: Record<StoredEvalSet['metrics'][number]['scale'], string> = { fraction: '0–1', percent: '0–100', raw: '' };
const EVAL_SOURCE: Record<StoredEvalSet['format'], string> = {
  hf_results: 'Hugging Face Trainer results',
  lm_eval: 'lm-evaluation-harness',
  llamafactory_predict: "LLaMA-Factory's predict results (its own tokenizers)",
  predictions: 'computed by this service from the predictions and their references (sacrebleu BLEU, rouge-score ROUGE)',
};
/** Metrics listed per file at most. */
const CARD_METRICS = 30;

function evaluationsSection(m: CardModel): string | null {
  const sets = m.evaluations ?? [];
  if (sets.length === 0) return null;
  const lines = ['## Evaluation results', '', 'As the training output reported them (or as noted), not re-run by this service.'];
  for (const set of sets) {
    const rows = set.metrics
      .slice(0, CARD_METRICS)
      .map((x) => [
        x.task ? `${text(x.task)} · ${code(x.name, true)}` : code(x.name, true),
        typeof x.value === 'number' ? String(x.value) : x.value,
        SCALE_NOTE[x.scale],
      ]);
    lines.push('', `${code(set.path)}: ${EVAL_SOURCE[set.format]}.`, '', table(['Metric', 'Value', 'Scale'], rows));
    if (set.metrics.length > CARD_METRICS) lines.push('', `…and ${int(set.metrics.length - CARD_METRICS)} more.`);
  }
  return lines.join('\n');
}

function filesSection(m: CardModel): string {
  const files = [...m.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const rows = files.slice(0, CARD_FILES).map((f) => [code(f.path, true), bytes(f.sizeBytes), code(f.sha256, true)]);
  const lines = ['## Files', '', rows.length > 0 ? table(['File', 'Size', 'SHA-256'], rows) : 'No files.'];
  if (files.length > CARD_FILES) lines.push('', `…and ${int(files.length - CARD_FILES)} more.`);
  lines.push('', 'The zip download also holds `SHA256SUMS`: `sha256sum -c SHA256SUMS` in the folder checks every file.');
  return lines.join('\n');
}

function usageSection(m: CardModel): string {
  const folder = folderName(m.ref);
  const lines = [
    '## Usage',
    '',
    `Unpack the download into a folder named ${code(folder)} and run these next to it. Only the llama.cpp steps are ` +
      "verified by this service's tests (llama.cpp loads the GGUF export, and its output matches the merged weights); " +
      `the ${m.adapter?.format === 'mlx' ? 'mlx-lm' : 'PEFT, vLLM'} and Ollama steps follow their documentation, linked under each, and are not verified by our tests.`,
  ];
  for (const s of usageSnippets(m)) {
    const doc = SOURCES[s.runtime];
    lines.push(
      '',
      `### ${s.title}`,
      '',
      `${s.verified ? 'Verified by our tests.' : 'Not verified by our tests.'} Follows [${doc.label}](${doc.url}).`,
      '',
    );
    lines.push(fenced(s.runtime === 'peft' ? 'python' : 'sh', s.code));
  }
  return lines.join('\n');
}

/**
 * The model card (README.md): Hugging Face front matter, then the model, its quality, training,
 * hyperparameters, adapter, fit with its base, weight health, runtimes, files and usage. Deterministic.
 */
export function renderModelCard(m: CardModel): string {
  const title = `# ${text(m.name) || code(m.ref)}`;
  const sections = [
    frontMatter(m),
    title,
    introduction(m),
    qualitySection(m),
    evaluationsSection(m),
    trainingSection(m),
    adapterSection(m),
    fitSection(m),
    weightsSection(m),
    runtimesSection(m),
    filesSection(m),
    usageSection(m),
  ];
  return `${sections.filter((x) => x !== null).join('\n\n')}\n`;
}
