import { describe, expect, test } from 'bun:test';
import { evalsFromFile, evalsFromPredictions } from '../../server/outputs/evals.ts';
import type { EvalMetric } from '../../server/outputs/types.ts';

const metric = (name: string, value: number, scale: EvalMetric['scale'], task: string | null = null): EvalMetric => ({ name, value, scale, task });

describe('evalsFromFile: HF save_metrics maps', () => {
  // run_clm.py: trainer.save_metrics("eval", metrics) with eval_samples and perplexity = math.exp(eval_loss);
  // json.dump(metrics, indent=4, sort_keys=True).
  const EVAL_RESULTS = `{
    "epoch": 3.0,
    "eval_accuracy": 0.4571,
    "eval_loss": 2.6518,
    "eval_runtime": 12.3456,
    "eval_samples": 240,
    "eval_samples_per_second": 19.44,
    "eval_steps_per_second": 2.43,
    "perplexity": 14.18
}`;

  test('eval_results.json: every number a metric, prefixes kept, accuracy a fraction, the rest raw', () => {
    const { set, warnings } = evalsFromFile(EVAL_RESULTS, 'eval_results.json');
    expect(warnings).toEqual([]);
    expect(set).toEqual({
      path: 'eval_results.json',
      format: 'hf_results',
      metrics: [
        metric('epoch', 3, 'raw'),
        metric('eval_accuracy', 0.4571, 'fraction'),
        metric('eval_loss', 2.6518, 'raw'),
        metric('eval_runtime', 12.3456, 'raw'),
        metric('eval_samples', 240, 'raw'),
        metric('eval_samples_per_second', 19.44, 'raw'),
        metric('eval_steps_per_second', 2.43, 'raw'),
        metric('perplexity', 14.18, 'raw'),
      ],
    });
  });

  test('all_results.json after a diverged run: perplexity Infinity and eval_loss NaN kept as they are', () => {
    // run_clm.py: `except OverflowError: perplexity = float("inf")`; all_results.json merges train and eval.
    const text = `{
    "epoch": 1.0,
    "eval_loss": NaN,
    "eval_runtime": 3.2,
    "perplexity": Infinity,
    "total_flos": 1.2345678901234568e+16,
    "train_loss": 7.25,
    "train_runtime": 60.5,
    "train_samples": 1000,
    "train_samples_per_second": 16.53,
    "train_steps_per_second": 2.07
}`;
    const { set, warnings } = evalsFromFile(text, 'all_results.json');
    expect(warnings).toEqual([]);
    const byName = new Map(set!.metrics.map((m) => [m.name, m]));
    expect(byName.get('perplexity')).toEqual(metric('perplexity', Number.POSITIVE_INFINITY, 'raw'));
    expect(Number.isNaN(byName.get('eval_loss')!.value)).toBe(true);
    expect(byName.get('total_flos')!.value).toBe(1.2345678901234568e16);
    expect(set!.metrics).toHaveLength(10);
    expect(set!.metrics.every((m) => m.scale === 'raw' && m.task === null)).toBe(true);
  });

  test('LLaMA-Factory predict_results.json: bleu-4 and rouge-* in percent, whatever their value', () => {
    // workflow.py: trainer.save_metrics("predict", predict_results.metrics); metric.py ComputeSimilarity, ×100.
    const text = `{
    "predict_bleu-4": 0.8123,
    "predict_model_preparation_time": 0.0031,
    "predict_rouge-1": 35.120981,
    "predict_rouge-2": 14.2,
    "predict_rouge-l": 28.93,
    "predict_runtime": 123.4567,
    "predict_samples_per_second": 1.62,
    "predict_steps_per_second": 0.203
}`;
    const { set, warnings } = evalsFromFile(text, 'saves/qwen/lora/predict/predict_results.json');
    expect(warnings).toEqual([]);
    expect(set!.format).toBe('llamafactory_predict');
    expect(set!.metrics).toEqual([
      metric('predict_bleu-4', 0.8123, 'percent'),
      metric('predict_model_preparation_time', 0.0031, 'raw'),
      metric('predict_rouge-1', 35.120981, 'percent'),
      metric('predict_rouge-2', 14.2, 'percent'),
      metric('predict_rouge-l', 28.93, 'percent'),
      metric('predict_runtime', 123.4567, 'raw'),
      metric('predict_samples_per_second', 1.62, 'raw'),
      metric('predict_steps_per_second', 0.203, 'raw'),
    ]);
    // The same keys from an evaluation (eval_ prefix) in LLaMA-Factory's eval_results.json.
    expect(evalsFromFile('{"eval_bleu-4": 0.5, "eval_accuracy": 0.91}', 'eval_results.json').set!.metrics).toEqual([
      metric('eval_bleu-4', 0.5, 'percent'),
      metric('eval_accuracy', 0.91, 'fraction'),
    ]);
  });

  test("an HF script's predict_results.json is hf_results; BLEU/ROUGE a fraction in 0..1, a percent above", () => {
    // run_summarization.py rounds rouge ×100; `evaluate`'s bleu is 0..1; SQuAD's exact_match/f1 are percents.
    const text = `{"predict_gen_len": 61.2, "predict_loss": 1.9, "predict_rouge1": 41.3, "predict_rougeL": 0.29,
      "eval_bleu": 0.27, "eval_f1": 88.5, "eval_exact_match": 0.81, "eval_recall": 1.5, "eval_matthews_correlation": 0.4}`;
    const { set } = evalsFromFile(text, 'predict_results.json');
    expect(set!.format).toBe('hf_results');
    expect(set!.metrics).toEqual([
      metric('predict_gen_len', 61.2, 'raw'),
      metric('predict_loss', 1.9, 'raw'),
      metric('predict_rouge1', 41.3, 'percent'),
      metric('predict_rougeL', 0.29, 'fraction'),
      metric('eval_bleu', 0.27, 'fraction'),
      metric('eval_f1', 88.5, 'raw'),
      metric('eval_exact_match', 0.81, 'fraction'),
      metric('eval_recall', 1.5, 'raw'),
      metric('eval_matthews_correlation', 0.4, 'raw'),
    ]);
  });

  test('keys without a number (nested, strings, numeric strings, booleans, None): ignored, ONE unknown_keys warning naming 5', () => {
    const text = `{
    "epoch": 2.0,
    "eval_loss": "1.25",
    "eval_accuracy": {"macro": 0.5, "micro": 0.6},
    "eval_confusion_matrix": [[10, 2], [3, 9]],
    "eval_model_name": "qwen2.5-0.5b",
    "eval_is_best": true,
    "eval_f1": null,
    "eval_runtime": 4.5
}`;
    const { set, warnings } = evalsFromFile(text, 'eval_results.json');
    expect(set!.metrics).toEqual([metric('epoch', 2, 'raw'), metric('eval_runtime', 4.5, 'raw')]);
    expect(warnings).toEqual([
      {
        code: 'unknown_keys',
        path: 'eval_results.json',
        message: '6 keys hold no number, ignored: `eval_loss`, `eval_accuracy`, `eval_confusion_matrix`, `eval_model_name`, `eval_is_best`, ….',
      },
    ]);
  });

  test('not JSON, not an object, nothing numeric', () => {
    const bad = evalsFromFile('eval_loss = 1.2\n', 'eval_results.json');
    expect(bad.set).toBeNull();
    expect(bad.warnings.map((w) => w.code)).toEqual(['bad_json']);
    expect(evalsFromFile('[0.5, 0.6]', 'eval_results.json')).toEqual({
      set: null,
      warnings: [{ code: 'bad_shape', path: 'eval_results.json', message: expect.stringContaining('no JSON object') }],
    });
    expect(evalsFromFile('{}', 'all_results.json')).toEqual({ set: null, warnings: [] });
    const allStrings = evalsFromFile('{"note": "see wandb"}', 'all_results.json');
    expect(allStrings.set).toBeNull();
    expect(allStrings.warnings.map((w) => w.code)).toEqual(['unknown_keys']);
  });
});

describe('evalsFromFile: lm-evaluation-harness results_*.json', () => {
  // EvaluationTracker.save_results_aggregated: json.dumps(results, indent=2, ensure_ascii=False) to
  // <output_path>/<model_name_sanitized>/results_<date>.json; the shape of lm_eval/result_schema.py.
  const RESULTS = `{
  "results": {
    "hellaswag": {
      "alias": "hellaswag",
      "acc,none": 0.5091,
      "acc_stderr,none": 0.004988,
      "acc_norm,none": 0.6821,
      "acc_norm_stderr,none": 0.004647
    },
    "gsm8k": {
      "alias": "gsm8k",
      "exact_match,strict-match": 0.3511,
      "exact_match_stderr,strict-match": 0.013146,
      "exact_match,flexible-extract": 0.3715,
      "exact_match_stderr,flexible-extract": 0.013311
    },
    "wikitext": {
      "alias": "wikitext",
      "word_perplexity,none": 16.4528,
      "word_perplexity_stderr,none": "N/A",
      "byte_perplexity,none": 1.6842,
      "byte_perplexity_stderr,none": "N/A",
      "bits_per_byte,none": 0.7520,
      "bits_per_byte_stderr,none": "N/A"
    },
    "mmlu": {
      "acc,none": 0.6012,
      "acc_stderr,none": 0.003912,
      "alias": "mmlu",
      "name": "mmlu",
      "sample_len": 14042,
      "sample_count": {"acc,none": 14042}
    }
  },
  "groups": {
    "mmlu": {"acc,none": 0.6012, "acc_stderr,none": 0.003912, "alias": "mmlu"}
  },
  "group_subtasks": {"mmlu": ["mmlu_stem"], "hellaswag": [], "gsm8k": [], "wikitext": []},
  "configs": {"hellaswag": {"task": "hellaswag", "dataset_path": "Rowan/hellaswag", "num_fewshot": 0}},
  "versions": {"hellaswag": 1.0, "gsm8k": 3.0, "wikitext": 2.0, "mmlu": 2},
  "n-shot": {"hellaswag": 0, "gsm8k": 5, "wikitext": 0},
  "higher_is_better": {"hellaswag": {"acc": true, "acc_norm": true}},
  "n-samples": {"hellaswag": {"original": 10042, "effective": 10042}},
  "config": {
    "model": "hf",
    "model_args": "pretrained=Qwen/Qwen2.5-0.5B,peft=/workspace/out/checkpoint-150,dtype=bfloat16",
    "batch_size": "auto",
    "batch_sizes": [64],
    "device": "cuda:0",
    "limit": null,
    "bootstrap_iters": 100000
  },
  "git_hash": "4e7e0d4",
  "date": 1764237600.123,
  "transformers_version": "4.57.1",
  "task_hashes": {},
  "model_source": "hf",
  "model_name": "Qwen/Qwen2.5-0.5B",
  "model_name_sanitized": "Qwen__Qwen2.5-0.5B",
  "start_time": 1234.5,
  "end_time": 2345.6,
  "total_evaluation_time_seconds": "1111.1"
}`;

  test('per-task metrics named without the "none" filter, stderr its own metric, N/A and bookkeeping ignored quietly', () => {
    const { set, warnings } = evalsFromFile(RESULTS, 'lm_eval/Qwen__Qwen2.5-0.5B/results_2026-11-27T10-00-00.123456.json');
    expect(warnings).toEqual([]);
    expect(set!.format).toBe('lm_eval');
    expect(set!.metrics).toEqual([
      metric('acc', 0.5091, 'fraction', 'hellaswag'),
      metric('acc_stderr', 0.004988, 'fraction', 'hellaswag'),
      metric('acc_norm', 0.6821, 'fraction', 'hellaswag'),
      metric('acc_norm_stderr', 0.004647, 'fraction', 'hellaswag'),
      metric('exact_match,strict-match', 0.3511, 'fraction', 'gsm8k'),
      metric('exact_match_stderr,strict-match', 0.013146, 'fraction', 'gsm8k'),
      metric('exact_match,flexible-extract', 0.3715, 'fraction', 'gsm8k'),
      metric('exact_match_stderr,flexible-extract', 0.013311, 'fraction', 'gsm8k'),
      metric('word_perplexity', 16.4528, 'raw', 'wikitext'),
      metric('byte_perplexity', 1.6842, 'raw', 'wikitext'),
      metric('bits_per_byte', 0.752, 'raw', 'wikitext'),
      metric('acc', 0.6012, 'fraction', 'mmlu'),
      metric('acc_stderr', 0.003912, 'fraction', 'mmlu'),
    ]);
  });

  test('lm-eval 0.3 (tests/testdata/arc_easy-v0-res.json): keys without a filter', () => {
    const text =
      '{"results": {"arc_easy": {"acc": 0.2474747474747475, "acc_norm": 0.24074074074074073, "acc_norm_stderr": 0.008772796145221907, "acc_stderr": 0.008855114414834707}}, "versions": {"arc_easy": 0}}';
    const { set, warnings } = evalsFromFile(text, 'results.json');
    expect(warnings).toEqual([]);
    expect(set!.metrics.map((m) => [m.name, m.scale, m.task])).toEqual([
      ['acc', 'fraction', 'arc_easy'],
      ['acc_norm', 'fraction', 'arc_easy'],
      ['acc_norm_stderr', 'fraction', 'arc_easy'],
      ['acc_stderr', 'fraction', 'arc_easy'],
    ]);
  });

  test('unknown task values and a results that is not an object', () => {
    const text =
      '{"results": {"hellaswag": {"alias": "hellaswag", "acc,none": "0.5", "acc_norm,none": 0.6}, "broken": [1, 2], "x": {"acc,none": null}}}';
    const { set, warnings } = evalsFromFile(text, 'results_2026.json');
    expect(set!.metrics).toEqual([metric('acc_norm', 0.6, 'fraction', 'hellaswag')]);
    expect(warnings).toEqual([
      {
        code: 'unknown_keys',
        path: 'results_2026.json',
        message: '3 keys hold no number, ignored: `results.hellaswag.acc,none`, `results.broken`, `results.x.acc,none`.',
      },
    ]);
    const notObject = evalsFromFile('{"results": [], "versions": {}}', 'results_2026.json');
    expect(notObject.set).toBeNull();
    expect(notObject.warnings.map((w) => w.code)).toEqual(['bad_shape']);
  });
});

describe('evalsFromPredictions (LLaMA-Factory generated_predictions.jsonl)', () => {
  // CustomSeq2SeqTrainer.save_predictions: json.dumps({"prompt", "predict", "label"}, ensure_ascii=False) a line.
  const line = (prompt: string, predict: string, label: string) => JSON.stringify({ prompt, predict, label });
  const PROMPT =
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhere did the cat sit?<|im_end|>\n<|im_start|>assistant\n';

  test('corpus BLEU (predictions against labels, brevity penalty included) and mean ROUGE F, by hand', () => {
    const text = `${line(PROMPT, 'the cat sat on the mat', 'the cat sat on the mat')}\n${line(PROMPT, 'the cat sat', 'the cat sat on the mat')}\n`;
    const { set, warnings } = evalsFromPredictions(text, 'generated_predictions.jsonl');
    expect(warnings).toEqual([]);
    expect(set!.format).toBe('predictions');
    expect(set!.path).toBe('generated_predictions.jsonl');
    const [bleu, rouge1, rouge2, rougeL, count] = set!.metrics;
    // Every n-gram precision is 9/9, 7/7, 5/5, 3/3; hypothesis length 9 against reference length 12: BP = exp(1 - 12/9).
    expect(bleu!.name).toBe('bleu');
    expect(bleu!.scale).toBe('percent');
    expect(bleu!.value).toBeCloseTo(100 * Math.exp(-1 / 3), 6);
    // Line 2: ROUGE-1 P 3/3 R 3/6 → F 2/3; ROUGE-2 P 2/2 R 2/5 → F 4/7; ROUGE-L LCS 3 → F 2/3. Line 1 scores 1.
    expect(rouge1).toEqual({ name: 'rouge1', value: expect.closeTo(5 / 6, 10), scale: 'fraction', task: null });
    expect(rouge2).toEqual({ name: 'rouge2', value: expect.closeTo(11 / 14, 10), scale: 'fraction', task: null });
    expect(rougeL).toEqual({ name: 'rougeL', value: expect.closeTo(5 / 6, 10), scale: 'fraction', task: null });
    expect(count).toEqual({ name: 'predictions', value: 2, scale: 'raw', task: null });
  });

  test('bad lines and lines without predict/label strings are skipped and counted', () => {
    const text = [
      line(PROMPT, 'a b c d', 'a b c d'),
      '{"prompt": "x", "predict": "y"',
      '{"prompt": "x", "predict": 5, "label": "y"}',
      '{"prompt": "x", "predict": "y"}',
      '"just a string"',
      '',
      line('', 'a b c d', 'a b c d'),
    ].join('\n');
    const { set, warnings } = evalsFromPredictions(text, 'generated_predictions.jsonl');
    expect(set!.metrics.find((m) => m.name === 'predictions')!.value).toBe(2);
    expect(set!.metrics.find((m) => m.name === 'bleu')!.value).toBeCloseTo(100, 10);
    expect(warnings).toEqual([
      { code: 'bad_json', path: 'generated_predictions.jsonl', message: '2 lines are not JSON objects, skipped: line 2, line 5.' },
      {
        code: 'bad_value',
        path: 'generated_predictions.jsonl',
        message: '2 lines lack a `predict` or `label` string, skipped: line 3 predict, line 4 label.',
      },
    ]);
  });

  test('empty, or nothing usable: no set, a warning', () => {
    expect(evalsFromPredictions('', 'generated_predictions.jsonl')).toEqual({
      set: null,
      warnings: [{ code: 'empty', path: 'generated_predictions.jsonl', message: expect.stringContaining('no line has both') }],
    });
    const garbage = evalsFromPredictions('not json\nnor this\n', 'generated_predictions.jsonl');
    expect(garbage.set).toBeNull();
    expect(garbage.warnings.map((w) => w.code)).toEqual(['bad_json', 'empty']);
  });

  test('more than 20,000 lines: the first 20,000 scored, a truncated warning', () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(line('q', `answer number ${i} is here`, `answer number ${i} is here`));
    lines.push(line('q', 'completely different words', 'nothing in common'));
    const { set, warnings } = evalsFromPredictions(lines.join('\n'), 'generated_predictions.jsonl');
    expect(set!.metrics.find((m) => m.name === 'predictions')!.value).toBe(20_000);
    expect(set!.metrics.find((m) => m.name === 'rouge1')!.value).toBe(1);
    expect(warnings).toEqual([
      {
        code: 'truncated',
        path: 'generated_predictions.jsonl',
        message: 'Only the first 20,000 predictions were scored (at most 20,000 lines and 4 million characters are).',
      },
    ]);
    // Exactly 20,000: nothing left out, no warning.
    expect(evalsFromPredictions(lines.slice(0, 20_000).join('\n'), 'generated_predictions.jsonl').warnings).toEqual([]);
  });

  test('long texts: at most 4 million characters scored, and a pair over 20,000 characters skipped', () => {
    const words = (n: number, seed: number) => Array.from({ length: n }, (_, i) => `w${(i * 7 + seed) % 50}`).join(' ');
    const lines = [line('q', words(5000, 1), words(5000, 1))];
    for (let i = 0; i < 2_000; i++) lines.push(line('q', words(400, i), words(400, i)));
    const { set, warnings } = evalsFromPredictions(lines.join('\n'), 'generated_predictions.jsonl');
    const scored = set!.metrics.find((m) => m.name === 'predictions')!.value;
    // Each pair is about 2 × 1,520 characters: scoring stops once 4 million are in (about 1,316 pairs).
    expect(scored).toBeGreaterThan(1250);
    expect(scored).toBeLessThan(1400);
    expect(warnings.map((w) => w.code)).toEqual(['too_large', 'truncated']);
    expect(warnings[0]!.message).toContain('1 line has');
  });
});
