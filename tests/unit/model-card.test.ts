// The generated model card (README.md): Hugging Face front matter, a body that user text cannot break, and usage
// snippets that name the right folder, base and flags. The body is rendered with Bun's own GFM renderer
// (Bun.markdown) so the checks look at what a reader sees, not at the source text.
import { afterEach, describe, expect, setSystemTime, test } from 'bun:test';
import { type CardModel, renderModelCard, usageSnippets } from '../../server/adapters/card.ts';
import { qualityExplanation } from '../../server/adapters/explain.ts';
import type { BaseFacts, FitCheck, RuntimeFit, WeightHealth } from '../../server/adapters/types.ts';

const LLAMA_1B: BaseFacts = {
  name: 'meta-llama/Llama-3.2-1B',
  modelType: 'llama',
  hiddenSize: 2048,
  intermediateSize: 8192,
  layers: 16,
  attentionHeads: 32,
  kvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
  source: 'https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json',
};

const RUNTIMES: RuntimeFit[] = [
  { name: 'PEFT', ok: true, reason: 'fits meta-llama/Llama-3.2-1B' },
  { name: 'vLLM', ok: false, reason: "rank 32 > vLLM's default max_lora_rank 16: start vLLM with --max-lora-rank 32" },
];

function fits(facts: BaseFacts | null = LLAMA_1B): FitCheck & { runtimes: RuntimeFit[] } {
  return {
    base: { name: facts?.name ?? null, facts },
    verdict: facts ? 'fits' : 'unknown_base',
    checked: 128,
    mismatched: [],
    mismatchCount: 0,
    runtimes: RUNTIMES,
  };
}

/** A realistic model: a rank-32 attention adapter for Llama-3.2-1B with a GGUF export. */
function model(overrides: Partial<CardModel> = {}): CardModel {
  return {
    name: 'Support bot',
    ref: 'support-bot@v3',
    family: 'support-bot',
    version: 3,
    description: 'Answers first-line support tickets for the billing team.',
    tags: ['support', 'billing'],
    baseModel: 'meta-llama/Llama-3.2-1B',
    adapter: {
      baseModel: 'meta-llama/Llama-3.2-1B',
      rank: 32,
      alpha: 64,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      dtype: 'BF16',
      parameterCount: 6_815_744,
      maxRank: 32,
      taskType: 'CAUSAL_LM',
    },
    taskType: 'CAUSAL_LM',
    quality: {
      score: 4,
      convergence: 'good',
      lossReductionPct: 41.2,
      finalTrainingLoss: 1.358,
      finalValidationLoss: 1.42,
      explanation: 'The training loss fell 41.2% (2.31 → 1.358): 4 stars (good).',
    },
    trainingSummary: { epochsCompleted: 3, totalSteps: 1200, durationHours: 1.52, totalCost: 4.2 },
    hyperparameters: { baseModel: 'meta-llama/Llama-3.2-1B', loraRank: 32, loraAlpha: 64, learningRate: 0.0002, epochs: 3, batchSize: 16 },
    compatibility: fits(),
    weights: {
      file: 'adapter_model.safetensors',
      modules: [
        { name: 'layers.0.self_attn.q_proj', layer: 0, updateNorm: 0.118 },
        { name: 'layers.15.self_attn.v_proj', layer: 15, updateNorm: 0.931 },
      ],
      warnings: [],
      untrained: false,
    },
    files: [
      { path: 'adapter_model.safetensors', sizeBytes: 27_280_152, sha256: 'a'.repeat(64) },
      { path: 'adapter_config.json', sizeBytes: 812, sha256: 'b'.repeat(64) },
      { path: 'support-bot-v3.gguf', sizeBytes: 13_650_016, sha256: 'c'.repeat(64) },
    ],
    ggufFile: 'support-bot-v3.gguf',
    datasetName: 'billing-tickets-2026',
    ...overrides,
  };
}

/** The card split as Hugging Face reads it: YAML between the first two `---` lines, then the Markdown body. */
function split(card: string): { meta: Record<string, unknown>; body: string } {
  expect(card.startsWith('---\n')).toBe(true);
  const end = card.indexOf('\n---\n', 3);
  expect(end).toBeGreaterThan(0);
  const meta = Bun.YAML.parse(card.slice(4, end)) as Record<string, unknown>;
  return { meta, body: card.slice(end + 5) };
}

/** The body as a GFM reader (Hugging Face, GitHub) renders it, with every extension that could turn text into markup. */
const html = (body: string): string =>
  Bun.markdown.html(body, { tables: true, strikethrough: true, tasklists: true, latexMath: true, autolinks: true });

/** Every element the renderer produced. Text `<` is always escaped by the renderer, so each `<x` is a real tag. */
const tagsOf = (h: string): string[] => [...h.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!.toLowerCase());
const hrefsOf = (h: string): string[] => [...h.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1]!);
const headingsOf = (h: string): string[] => [...h.matchAll(/<h([1-6])[^>]*>([\s\S]*?)<\/h\1>/g)].map((m) => `h${m[1]} ${m[2]}`);
/** Cells per row, for each table. */
const tablesOf = (h: string): number[][] =>
  [...h.matchAll(/<table>([\s\S]*?)<\/table>/g)].map((t) =>
    [...t[1]!.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) => (r[1]!.match(/<t[hd][ >]/g) ?? []).length),
  );
const decode = (s: string): string =>
  s.replace(/<[^>]+>/g, '').replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);

const ALLOWED_LINKS = ['https://huggingface.co/', 'https://docs.vllm.ai/', 'https://github.com/ggml-org/', 'https://docs.ollama.com/'];
const SECTIONS = ['Quality', 'Training', 'Hyperparameters', 'Adapter', 'Fit with the base model', 'Weight health', 'Runtimes', 'Files', 'Usage'];

afterEach(() => setSystemTime());

describe('front matter', () => {
  test('parses as YAML with base_model, library_name: peft, pipeline_tag and the tags PEFT writes, plus ours', () => {
    const { meta } = split(renderModelCard(model()));
    expect(meta).toEqual({
      base_model: 'meta-llama/Llama-3.2-1B',
      library_name: 'peft',
      pipeline_tag: 'text-generation',
      // Sorted, as PEFT's create_or_update_model_card does.
      tags: ['base_model:adapter:meta-llama/Llama-3.2-1B', 'billing', 'lora', 'peft', 'support'],
    });
  });

  test('a base that is not a Hub id (a local path) is kept out of base_model, which the Hub would refuse', () => {
    const card = renderModelCard(model({ baseModel: '/models/Llama-3.2-1B' }));
    const { meta, body } = split(card);
    expect(meta.base_model).toBeUndefined();
    expect(meta.tags).toEqual(['billing', 'lora', 'peft', 'support']);
    expect(meta.library_name).toBe('peft');
    // The body still names it, as code.
    expect(body).toContain('a LoRA adapter for `/models/Llama-3.2-1B`');
  });

  test('pipeline_tag: text-generation for CAUSAL_LM or a known causal base; none for another task type', () => {
    expect(split(renderModelCard(model({ taskType: null }))).meta.pipeline_tag).toBe('text-generation');
    expect(split(renderModelCard(model({ taskType: null, compatibility: fits(null) }))).meta.pipeline_tag).toBeUndefined();
    expect(split(renderModelCard(model({ taskType: 'SEQ_CLS' }))).meta.pipeline_tag).toBeUndefined();
  });
});

describe('hostile text cannot break the card', () => {
  const name =
    'Evil</h1><script>alert(1)</script>\n---\nlicense: mit\n# Injected [click](javascript:alert(1)) ![x](https://t.example/x.png) | a | b | $$x$$ ~~s~~';
  const description = [
    'Intro with <img src=x onerror=alert(1)> and **bold** and `code`',
    '---',
    'Setext underline above',
    '===',
    '# not a heading',
    '- [ ] not a task',
    '1. not a list',
    '    not indented code',
    '```',
    'not a fence',
    '[ref]: javascript:alert(1)',
    '[ref] www.evil.example <https://evil.example> https://evil.example/x mail@evil.example',
    '',
    '| not | a | table |',
    '| --- | --- | --- |',
  ].join('\n');
  const hostile = model({
    name,
    description,
    tags: ['evil\nbase_model: x', 'a|b', 'x*y'],
    baseModel: 'meta-llama/Llama-3.2-1B"\n---\nlicense: mit',
    datasetName: 'data | x</td><td>y',
    compatibility: { ...fits(), runtimes: [{ name: 'vLLM | x', ok: false, reason: 'a | b | c' }] },
    hyperparameters: { 'k|ey\n| injected |': '</td><script>', loraRank: 8 },
    files: [{ path: 'a|b`c\n| x |.safetensors', sizeBytes: 1, sha256: 'd'.repeat(64) }],
    weights: {
      file: 'adapter_model.safetensors',
      modules: [],
      warnings: [{ code: 'non_finite', message: '2 NaN values in <b>x</b>', subjects: ['layers.0.q_proj|`x`'] }],
      untrained: false,
    },
  });
  const card = renderModelCard(hostile);

  test('the front matter holds exactly our keys, and only its two delimiters are `---` lines', () => {
    const { meta } = split(card);
    expect(Object.keys(meta).sort()).toEqual(['library_name', 'pipeline_tag', 'tags']);
    expect(meta.license).toBeUndefined();
    expect(meta.base_model).toBeUndefined();
    // A tag with a newline stays one (quoted) string; it cannot add a key.
    expect(meta.tags).toContain('evil base_model: x');
    const delimiters = card.split('\n').flatMap((line, i) => (line === '---' ? [i] : []));
    expect(delimiters).toHaveLength(2);
    expect(delimiters[0]).toBe(0);
  });

  test('rendered, the body has no HTML of its own, no foreign links, only our headings, and intact tables', () => {
    const { body } = split(card);
    const h = html(body);
    const allowed = new Set(['h1', 'h2', 'h3', 'p', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'code', 'pre', 'strong', 'a', 'ul', 'li']);
    expect(tagsOf(h).filter((t) => !allowed.has(t))).toEqual([]);
    for (const href of hrefsOf(h)) expect(ALLOWED_LINKS.some((prefix) => href.startsWith(prefix))).toBe(true);
    // The title is the whole name on one line, as text; then our sections, nothing the description made.
    const headings = headingsOf(h);
    expect(headings.map(decode)).toEqual([
      `h1 ${name.replace(/\n/g, ' ')}`,
      ...SECTIONS.map((s) => `${s === 'Hyperparameters' ? 'h3' : 'h2'} ${s}`),
      'h3 PEFT (Python)',
      'h3 vLLM (OpenAI-compatible server)',
      'h3 llama.cpp',
      'h3 Ollama',
    ]);
    // Our tables only (Quality, Training, Hyperparameters, Adapter, Runtimes, Files), each row with its header's columns.
    expect(tablesOf(h).map((rows) => [...new Set(rows)])).toEqual([[2], [2], [2], [2], [3], [3]]);
    // The description's lines are text in paragraphs: no rule, no list, no code block, no table.
    expect(h).not.toContain('<hr');
    expect(decode(h)).toContain('- [ ] not a task');
    expect(decode(h)).toContain('Intro with <img src=x onerror=alert(1)> and **bold** and `code`');
  });

  test('hostile cells keep their text: the pipe, the backtick and the newline of a path are shown, not obeyed', () => {
    const h = html(split(card).body);
    expect(h).toContain('<code>a|b`c | x |.safetensors</code>');
    expect(h).toContain('<code>&quot;&lt;/td&gt;&lt;script&gt;&quot;</code>');
  });
});

describe('usage snippets', () => {
  const byRuntime = (m: CardModel) => Object.fromEntries(usageSnippets(m).map((s) => [s.runtime, s]));

  test('four runtimes in order; only llama.cpp is verified here; each cites its documentation', () => {
    const snippets = usageSnippets(model());
    expect(snippets.map((s) => s.runtime)).toEqual(['peft', 'vllm', 'llama.cpp', 'ollama']);
    expect(snippets.filter((s) => s.verified).map((s) => s.runtime)).toEqual(['llama.cpp']);
    for (const s of snippets) expect(s.source).toMatch(/^https:\/\//);
  });

  test('PEFT loads the base, then the folder named after the ref', () => {
    const { peft } = byRuntime(model());
    expect(peft!.code).toContain('base_id = "meta-llama/Llama-3.2-1B"');
    expect(peft!.code).toContain('base = AutoModelForCausalLM.from_pretrained(base_id)');
    expect(peft!.code).toContain('model = PeftModel.from_pretrained(base, "./support-bot-v3")');
    expect(peft!.code).toContain('model.generate(');
    const cls = byRuntime(model({ taskType: 'SEQ_CLS' })).peft!.code;
    expect(cls).toContain('AutoModelForSequenceClassification.from_pretrained(base_id)');
    expect(cls).not.toContain('generate(');
  });

  test('vLLM serves the base with --lora-modules <name>=./<folder> and a request names the adapter', () => {
    const { vllm } = byRuntime(model());
    expect(vllm!.code).toContain('vllm serve meta-llama/Llama-3.2-1B \\\n  --enable-lora \\\n  --lora-modules support-bot-v3=./support-bot-v3');
    expect(vllm!.code).toContain('"model":"support-bot-v3"');
  });

  test.each([
    [8, null],
    [16, null],
    [24, 32], // vLLM refuses --max-lora-rank 24: only 1, 8, 16, 32, 64, 128, 256, 320, 512 are accepted
    [64, 64],
    [320, 320],
    [512, 512],
  ])('rank %p → --max-lora-rank %p', (rank, flag) => {
    const code = byRuntime(model({ adapter: { ...model().adapter!, rank, maxRank: rank } })).vllm!.code;
    if (flag === null) expect(code).not.toContain('--max-lora-rank');
    else expect(code).toContain(`  --max-lora-rank ${flag}\n`);
  });

  test('the largest rank decides (a rank_pattern may raise some modules), and a rank vLLM cannot take is said', () => {
    expect(byRuntime(model({ adapter: { ...model().adapter!, rank: 16, maxRank: 64 } })).vllm!.code).toContain('--max-lora-rank 64');
    const tooBig = byRuntime(model({ adapter: { ...model().adapter!, rank: 1024, maxRank: 1024 } })).vllm!.code;
    expect(tooBig).toContain('vLLM cannot serve this adapter');
    expect(tooBig).not.toContain('--max-lora-rank 1024');
  });

  test('llama.cpp and Ollama use the GGUF export in the folder; without one they say how to get it', () => {
    const withExport = byRuntime(model());
    expect(withExport['llama.cpp']!.code).toContain('llama-cli -m Llama-3.2-1B.gguf --lora ./support-bot-v3/support-bot-v3.gguf');
    expect(withExport['llama.cpp']!.code).toContain('llama-server -m Llama-3.2-1B.gguf --lora ./support-bot-v3/support-bot-v3.gguf');
    expect(withExport.ollama!.code).toContain('FROM ./Llama-3.2-1B.gguf\nADAPTER ./support-bot-v3/support-bot-v3.gguf\nEOF');
    expect(withExport.ollama!.code).toContain('ollama create support-bot-v3 -f Modelfile');
    expect(withExport['llama.cpp']!.code).not.toContain('models.export');

    const inCheckpoint = byRuntime(model({ ggufFile: 'checkpoint-500/support-bot-v3.gguf' }));
    expect(inCheckpoint['llama.cpp']!.code).toContain('--lora ./support-bot-v3/checkpoint-500/support-bot-v3.gguf');

    const none = byRuntime(model({ ggufFile: null }));
    for (const runtime of ['llama.cpp', 'ollama']) {
      expect(none[runtime]!.code).toContain('press Export');
      expect(none[runtime]!.code).toContain("models.export({ modelId, format: 'gguf' }");
      // The command then names where the export was told to go.
      expect(none[runtime]!.code).toContain(' ./support-bot-v3/support-bot-v3.gguf\n');
    }

    // An architecture the service does not export: llama.cpp's own converter, not a button that would refuse.
    const gemma = byRuntime(model({ ggufFile: null, compatibility: fits({ ...LLAMA_1B, name: 'google/gemma-2-2b', modelType: 'gemma2' }) }));
    expect(gemma['llama.cpp']!.code).not.toContain('press Export');
    expect(gemma['llama.cpp']!.code).toContain(
      'python convert_lora_to_gguf.py --outtype f16 --outfile ./support-bot-v3/support-bot-v3.gguf ./support-bot-v3',
    );
    expect(gemma['llama.cpp']!.code).toContain('not gemma2');
  });

  test('a mismatched adapter carries a warning in every snippet', () => {
    const mismatch: FitCheck & { runtimes: RuntimeFit[] } = {
      ...fits(),
      verdict: 'mismatch',
      mismatched: [{ tensor: 't', expected: '[32, 2048]', got: '[32, 4096]' }],
      mismatchCount: 1,
    };
    for (const s of usageSnippets(model({ compatibility: mismatch }))) expect(s.code).toStartWith('# Warning: this adapter does not fit');
  });

  test('a hostile base name is one quoted shell word, a Python string, and never a new Modelfile line', () => {
    const base = "evil'; touch /tmp/pwned #`x` $(id)";
    const snippets = byRuntime(model({ baseModel: base }));
    const serve = snippets.vllm!.code.split('\n').find((l) => l.startsWith('vllm serve '))!;
    const word = serve.slice('vllm serve '.length, -' \\'.length);
    // bash reads the word back as exactly the name, as one argument.
    const echoed = Bun.spawnSync(['bash', '-c', `printf '%s\\0' ${word}`]);
    expect(echoed.stdout.toString()).toBe(`${base}\0`);
    expect(snippets.peft!.code).toContain(`base_id = ${JSON.stringify(base)}`);
    const modelfile = snippets.ollama!.code.split("<<'EOF'\n")[1]!.split('\nEOF\n')[0]!.split('\n');
    expect(modelfile).toEqual(['FROM ./pwned-x-id.gguf', 'ADAPTER ./support-bot-v3/support-bot-v3.gguf']);

    // A base with a line break is not used at all: the snippets ask for it.
    const broken = byRuntime(model({ baseModel: 'x\nADAPTER /etc/passwd' }));
    expect(broken.ollama!.code).not.toContain('/etc/passwd');
    expect(broken.vllm!.code).toContain('vllm serve BASE_MODEL');
    expect(broken.peft!.code).toContain('base_id = "BASE_MODEL"');
  });

  test('a backtick run in a snippet cannot close its fenced block in the card', () => {
    const card = renderModelCard(model({ baseModel: 'org/x```y' }));
    const blocks = [...html(split(card).body).matchAll(/<pre><code[^>]*>([\s\S]*?)<\/code><\/pre>/g)].map((m) => decode(m[1]!));
    expect(blocks).toHaveLength(4);
    expect(blocks[1]).toContain("vllm serve 'org/x```y'");
  });
});

describe('an mlx-lm adapter', () => {
  const mlx = (overrides: Partial<CardModel> = {}) =>
    model({
      baseModel: 'mlx-community/Llama-3.2-1B-Instruct-4bit',
      adapter: { ...model().adapter!, baseModel: 'mlx-community/Llama-3.2-1B-Instruct-4bit', alpha: 640, taskType: null, format: 'mlx' },
      taskType: null,
      files: [
        { path: 'adapters.safetensors', sizeBytes: 27_280_152, sha256: 'a'.repeat(64) },
        { path: 'adapter_config.json', sizeBytes: 1_212, sha256: 'b'.repeat(64) },
        { path: 'support-bot-v3.gguf', sizeBytes: 13_650_016, sha256: 'c'.repeat(64) },
      ],
      ...overrides,
    });

  test('snippets: mlx-lm, then llama.cpp and Ollama through the GGUF export; no PEFT or vLLM snippet, which could not load it', () => {
    const snippets = usageSnippets(mlx());
    expect(snippets.map((s) => s.runtime)).toEqual(['mlx', 'llama.cpp', 'ollama']);
    const code = snippets[0]!.code;
    expect(code).toContain('mlx_lm.generate --model mlx-community/Llama-3.2-1B-Instruct-4bit --adapter-path ./support-bot-v3 --prompt');
    expect(code).toContain('model, tokenizer = load("mlx-community/Llama-3.2-1B-Instruct-4bit", adapter_path="./support-bot-v3")');
    expect(snippets[0]!.source).toBe('https://github.com/ml-explore/mlx-lm/blob/main/mlx_lm/LORA.md#generate');
    expect(snippets[1]!.code).toContain('--lora ./support-bot-v3/support-bot-v3.gguf');
    // No export possible for the base: llama.cpp's own converter reads PEFT adapters only, so it is not offered.
    const gemma = usageSnippets(mlx({ ggufFile: null, compatibility: fits({ ...LLAMA_1B, name: 'google/gemma-2-2b', modelType: 'gemma2' }) }));
    expect(gemma[1]!.code).not.toContain('convert_lora_to_gguf.py --outtype');
    expect(gemma[1]!.code).toContain("reads PEFT adapters, not mlx-lm's");
    // An unnamed base is a placeholder, quoted like any other.
    expect(usageSnippets(mlx({ baseModel: null }))[0]!.code).toContain('mlx_lm.generate --model BASE_MODEL --adapter-path');
  });

  test('the card: library mlx (as mlx-lm writes its own cards), method LoRA (mlx-lm), the usage section says which steps are unverified', () => {
    const card = renderModelCard(mlx());
    const { meta, body } = split(card);
    expect(meta.library_name).toBe('mlx');
    expect(meta.tags).toEqual(['base_model:adapter:mlx-community/Llama-3.2-1B-Instruct-4bit', 'billing', 'lora', 'mlx', 'support']);
    expect(body).toContain('| Method | LoRA (mlx-lm) |');
    expect(body).toContain('the mlx-lm and Ollama steps follow their documentation');
    expect(body).toContain('### mlx-lm (Apple silicon)');
    expect(body).not.toContain('PeftModel');
    // A PEFT adapter's card is unchanged.
    expect(renderModelCard(model())).toContain('| Method | LoRA (PEFT) |');
  });
});

describe('sections', () => {
  test('a mismatch lists the first 10 differing tensors and counts the rest', () => {
    const mismatched = Array.from({ length: 50 }, (_, i) => ({
      tensor: `base_model.model.model.layers.${i}.self_attn.q_proj.lora_A.weight`,
      expected: '[32, 2048]',
      got: '[32, 4096]',
    }));
    const card = renderModelCard(model({ compatibility: { ...fits(), verdict: 'mismatch', mismatched, mismatchCount: 57 } }));
    const h = html(split(card).body);
    expect(h).toContain('<strong>Does not fit.</strong> 57 of 128 LoRA tensors differ');
    expect(h).toContain('layers.9.self_attn.q_proj.lora_A.weight');
    expect(h).not.toContain('layers.10.self_attn.q_proj.lora_A.weight');
    expect(h).toContain('…and 47 more.');
  });

  test('fits, unknown base and not checked each say so', () => {
    expect(renderModelCard(model())).toContain('**Fits.** All 128 LoRA tensors have the shapes of `meta-llama/Llama-3.2-1B`');
    const unknown = renderModelCard(
      model({ baseModel: 'acme/secret-7b', compatibility: { ...fits(null), base: { name: 'acme/secret-7b', facts: null } } }),
    );
    expect(unknown).toContain("**Not checked: base unknown.** `acme/secret-7b` is not in the service's table of base models");
    expect(renderModelCard(model({ compatibility: null }))).toContain('## Fit with the base model\n\nNot checked.');
  });

  test('weight warnings are listed with their subjects (the first 5, then a count)', () => {
    const weights: WeightHealth = {
      file: 'adapter_model.safetensors',
      modules: [],
      warnings: [
        {
          code: 'untrained',
          message: 'every lora_B is zero: the adapter was never trained and changes nothing (PEFT initialises B to zero)',
          subjects: [],
        },
        { code: 'duplicate_checkpoint', message: 'identical files', subjects: ['c-1/a', 'c-2/a', 'c-3/a', 'c-4/a', 'c-5/a', 'c-6/a', 'c-7/a'] },
      ],
      untrained: true,
    };
    const card = renderModelCard(model({ weights }));
    expect(card).toContain('- **untrained**: every lora\\_B is zero: the adapter was never trained and changes nothing');
    expect(card).toContain('(`c-1/a`, `c-2/a`, `c-3/a`, `c-4/a`, `c-5/a`, and 2 more)');
  });

  test('files are listed by path with size and SHA-256; the card says how to check them', () => {
    const card = renderModelCard(model());
    const at = (s: string) => card.indexOf(s);
    expect(at('| `adapter_config.json` | 812 B |')).toBeLessThan(at('| `adapter_model.safetensors` | 26.0 MB |'));
    expect(card).toContain(`| \`support-bot-v3.gguf\` | 13.0 MB | \`${'c'.repeat(64)}\` |`);
    expect(card).toContain('sha256sum -c SHA256SUMS');
  });

  test('deterministic: the same model renders to the same bytes at any time and in any file order', () => {
    setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const first = renderModelCard(model());
    setSystemTime(new Date('2031-07-15T12:34:56Z'));
    const m = model();
    const second = renderModelCard({
      ...m,
      files: [...m.files].reverse(),
      hyperparameters: Object.fromEntries(Object.entries(m.hyperparameters).reverse()),
    });
    expect(second).toBe(first);
    expect(first).not.toContain('2031');
  });
});

describe('qualityExplanation', () => {
  const q = (over: Partial<Parameters<typeof qualityExplanation>[0]> = {}) => ({
    score: 5,
    convergence: 'excellent',
    lossReductionPct: 62,
    initialLoss: 2.5,
    finalTrainingLoss: 0.95,
    finalValidationLoss: 1.1,
    overfitGap: 0.15,
    ...over,
  });
  const healthy: WeightHealth = { file: 'adapter_model.safetensors', modules: [], warnings: [], untrained: false };

  test.each([
    [
      'stars from the loss reduction, the overfit check passed',
      q(),
      'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.15 ≤ 0.5: not overfit.',
    ],
    [
      'an overfit gap costs a star',
      q({ score: 4, convergence: 'overfit', finalValidationLoss: 1.7, overfitGap: 0.75 }),
      'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.75 > 0.5: overfit, −1 → 4 stars.',
    ],
    [
      'an overfit 1-star run stays at 1',
      q({ score: 1, convergence: 'overfit', lossReductionPct: 4, finalTrainingLoss: 2.4, finalValidationLoss: 3, overfitGap: 0.6 }),
      'Loss fell 4 %, 2.5 → 2.4 (≤ 5 %: 1 star); validation − training = 0.6 > 0.5: overfit, −1, but never below 1 star.',
    ],
    [
      'a loss that rose',
      q({ score: 1, convergence: 'poor', lossReductionPct: -20, finalTrainingLoss: 3 }),
      'Loss rose 20 %, 2.5 → 3 (≤ 5 %: 1 star); validation − training = 0.15 ≤ 0.5: not overfit.',
    ],
    [
      'not rated',
      q({ score: null, convergence: null, lossReductionPct: null, finalValidationLoss: null, overfitGap: null }),
      'Fewer than two finite training losses were reported: too few points to judge convergence, so the run is not rated.',
    ],
    [
      'diverged',
      q({ score: 1, convergence: 'poor', lossReductionPct: null, finalTrainingLoss: null, overfitGap: null }),
      'Loss ended as NaN or infinity: the run diverged, 1 star.',
    ],
    [
      'an initial loss of zero',
      q({ score: 1, convergence: 'poor', lossReductionPct: null, initialLoss: 0, finalTrainingLoss: 0 }),
      'The first training loss (0) is not above zero, so no fall can be measured: 1 star.',
    ],
  ])('%s', (_name, quality, expected) => {
    expect(qualityExplanation(quality, healthy)).toBe(expected);
    expect(qualityExplanation(quality, null)).toBe(expected);
  });

  test('untrained: score 1 because every lora_B is zero, whatever the loss curve did', () => {
    const untrained: WeightHealth = { ...healthy, untrained: true, warnings: [{ code: 'untrained', message: 'every lora_B is zero', subjects: [] }] };
    expect(qualityExplanation(q({ score: 1 }), untrained)).toBe(
      'Untrained: every lora_B is zero, so the adapter changes nothing (PEFT initialises B to zero): 1 star. ' +
        'Loss fell 62 %, 2.5 → 0.95, but none of that training reached the saved weights.',
    );
  });

  test('non-finite weights are said after the reason', () => {
    const nan: WeightHealth = {
      ...healthy,
      warnings: [{ code: 'non_finite', message: '3 NaN values', subjects: ['a.lora_A.weight', 'b.lora_B.weight'] }],
    };
    expect(qualityExplanation(q(), nan)).toBe(
      'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.15 ≤ 0.5: not overfit. The weights also hold NaN or infinite values (2 tensors), so its outputs cannot be trusted.',
    );
  });

  test('the reduction keeps one decimal, so one just above a star bound does not read as the bound', () => {
    expect(qualityExplanation(q({ lossReductionPct: 50.4, initialLoss: 20, finalTrainingLoss: 9.92 }), healthy)).toContain(
      'fell 50.4 %, 20 → 9.92 (> 50 %',
    );
  });
});
