// BLEU and ROUGE checked against the reference projects' own test vectors, copied as facts:
// - sacrebleu (github.com/mjpost/sacrebleu @ f615c72): test/test_bleu.py, test/test_sentence_bleu.py, README.md.
// - rouge-score (github.com/google-research/google-research, rouge/): rouge_scorer_test.py (with testdata/target.txt and
//   testdata/prediction.txt copied to tests/fixtures/rouge/), tokenize_test.py, tokenizers_test.py.
// - nltk (github.com/nltk/nltk @ f2a92bd): nltk/test/unit/test_stem.py PorterTest, whose vocabulary lives in nltk_data.
// Precision is upstream's: sacrebleu's `abs(a - b) < EPSILON`, absltest's assertAlmostEqual(places) = toBeCloseTo(places).
import { describe, expect, test } from 'bun:test';
import { type BleuScore, computeBleu, corpusBleu, sentenceBleu, tokenize13a } from '../../server/outputs/text-metrics/bleu.ts';
import { porterStem } from '../../server/outputs/text-metrics/porter.ts';
import { type RougeScore, rougeL, rougeN, rougeTokenize } from '../../server/outputs/text-metrics/rouge.ts';

const fixture = (name: string) => Bun.file(new URL(`../fixtures/rouge/${name}`, import.meta.url)).text();

const within = (actual: number, expected: number, epsilon: number) => {
  expect(Math.abs(actual - expected)).toBeLessThan(epsilon);
};

// sacrebleu test_bleu.py `_refs` / `_hyps` (the README example).
const REFS = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const HYPS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

/** sacrebleu.raw_corpus_bleu: no tokenization, floor smoothing, effective order. */
const rawCorpusBleu = (hyps: string[], refs: string[][], smoothValue?: number) =>
  corpusBleu(hyps, refs, { tokenize: 'none', smoothMethod: 'floor', smoothValue, effectiveOrder: true });

/** sacrebleu's BLEUScore verbose string: `48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)`. */
const verbose = (s: BleuScore) =>
  `${s.score.toFixed(2)} ${s.precisions.map((p) => p.toFixed(1)).join('/')} (BP = ${s.bp.toFixed(3)} ratio = ${(s.refLen ? s.sysLen / s.refLen : 0).toFixed(3)} hyp_len = ${s.sysLen} ref_len = ${s.refLen})`;

describe('sacrebleu test_bleu.py', () => {
  const EPSILON = 1e-8;

  // test_raw_bleu: raw_corpus_bleu(hyps, refs, .01).score / 100
  const rawCases: [string[], string[][], number][] = [
    // "This now returns 0.0 score (#141)"
    [['this is a test', 'another test'], [['ref1', 'ref2']], 0.0],
    [['this is a test'], [['this is a test']], 1.0],
    [['this is a fest'], [['this is a test']], 0.223606797749979],
  ];
  test.each(rawCases)('test_raw_bleu %j', (hyps, refs, expected) => {
    within(rawCorpusBleu(hyps, refs, 0.01).score / 100, expected, EPSILON);
  });

  // test_corpus_bleu: corpus_bleu(hyps, refs, **kwargs).score
  const corpusCases: [string, string[], Parameters<typeof corpusBleu>[2], number][] = [
    ['default settings', HYPS, {}, 48.530827],
    ['empty hypotheses are not removed', ['', '', ''], {}, 0.0],
    ["tokenize 'none'", HYPS, { tokenize: 'none' }, 49.1919566],
    ["tokenize '13a'", HYPS, { tokenize: '13a' }, 48.530827],
    ["tokenize 'intl'", HYPS, { tokenize: 'intl' }, 43.91623493],
    ["smooth_method 'none'", HYPS, { smoothMethod: 'none' }, 48.530827],
  ];
  test.each(corpusCases)('test_corpus_bleu: %s', (_name, hyps, options, expected) => {
    within(corpusBleu(hyps, REFS, options).score, expected, EPSILON);
  });

  // test_effective_order: raw_corpus_bleu(hyps, refs, .01).score / 100
  const effectiveOrderCases: [string[], string[][], number][] = [
    [['test'], [['a test']], 0.3678794411714425],
    [['a test'], [['a test']], 1.0],
    [['a little test'], [['a test']], 0.03218297948685433],
  ];
  test.each(effectiveOrderCases)('test_effective_order %j', (hyps, refs, expected) => {
    within(rawCorpusBleu(hyps, refs, 0.01).score / 100, expected, EPSILON);
  });

  test('test_statistics: counts and totals', () => {
    const result = rawCorpusBleu(['am I am a character sequence'], [['I am a symbol string sequence a a']], 0.01);
    expect(result.counts).toEqual([4, 2, 1, 0]);
    expect(result.totals).toEqual([6, 5, 4, 3]);
  });

  test('test_scoring: compute_bleu from statistics', () => {
    within(computeBleu([9, 7, 5, 3], [10, 8, 6, 4], 11, 11).score / 100, 0.8375922397, EPSILON);
  });

  test('test_offset: floor smoothing with 0, the default (None) and the default argument', () => {
    const hyps = ['am I am a character sequence'];
    const refs = [['I am a symbol string sequence a a']];
    within(rawCorpusBleu(hyps, refs, 0.0).score / 100, 0, EPSILON);
    within(rawCorpusBleu(hyps, refs, undefined).score / 100, 0.1555722182, EPSILON);
    within(corpusBleu(hyps, refs, { tokenize: 'none', smoothMethod: 'floor', effectiveOrder: true }).score / 100, 0.1555722182, EPSILON);
  });

  // test_degenerate_statistics: compute_bleu(common, total, sys_len, ref_len, smooth_method='floor', smooth_value=offset)
  const degenerate: [number[], number[], number, number, number][] = [
    [[0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0],
    [[0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0],
    [[6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1],
    [[0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01],
  ];
  test.each(degenerate)('test_degenerate_statistics %j %j sys %d ref %d offset %p', (common, total, sysLen, refLen, offset) => {
    expect(computeBleu(common, total, sysLen, refLen, { smoothMethod: 'floor', smoothValue: offset }).score / 100).toBe(0);
  });

  // test_max_ngram_order: f"{BLEU(max_ngram_order=order).corpus_score(hyps, refs).score:.2f}"
  const maxOrder: [number, string][] = [
    [1, '77.65'],
    [2, '60.50'],
    [3, '53.93'],
    [4, '48.53'],
    [5, '46.14'],
    [6, '43.28'],
  ];
  test.each(maxOrder)('test_max_ngram_order %d', (order, expected) => {
    expect(corpusBleu(HYPS, REFS, { maxNgramOrder: order }).score.toFixed(2)).toBe(expected);
  });
});

describe('sacrebleu README.md', () => {
  test('BLEU() corpus_score: BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)', () => {
    expect(verbose(corpusBleu(HYPS, REFS))).toBe('48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)');
  });

  test("Variable Number of References ('' for the first): BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ...)", () => {
    const refs = [['', 'It was not unexpected.', 'The man bit him first.'], REFS[1]!];
    expect(verbose(corpusBleu(HYPS, refs))).toBe('29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)');
  });
});

describe('sacrebleu test_sentence_bleu.py', () => {
  const EPSILON = 1e-3;
  // Example taken from #98
  const REF = 'producţia de zahăr brut se exprimă în zahăr alb;';
  const SYS = 'Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;';

  // test_compat_sentence_bleu and test_api_sentence_bleu (the same computation through two APIs):
  // smooth_method, smooth_value, lowercase, tokenize, expected score
  type Options = NonNullable<Parameters<typeof sentenceBleu>[2]>;
  type Case = [Options['smoothMethod'], number | undefined, boolean, Options['tokenize'], number];
  const cases: Case[] = [
    // change smoothing
    ['exp', undefined, false, '13a', 8.493],
    ['none', undefined, false, '13a', 0.0],
    ['floor', undefined, false, '13a', 4.51688], // defaults to 0.1
    ['floor', 0.1, false, '13a', 4.51688],
    ['floor', 0.5, false, '13a', 10.1],
    ['add-k', undefined, false, '13a', 14.882], // defaults to 1
    ['add-k', 1, false, '13a', 14.882],
    ['add-k', 2, false, '13a', 21.389],
    // change tok
    ['exp', undefined, false, 'none', 7.347],
    ['exp', undefined, false, 'intl', 8.493],
    ['exp', undefined, false, 'char', 40.8759],
    // change case
    ['exp', undefined, true, 'char', 42.0267],
  ];
  test.each(cases)('test_api_sentence_bleu %s %p lowercase=%p tok=%s', (smoothMethod, smoothValue, lowercase, tokenize, expected) => {
    within(sentenceBleu(SYS, [REF], { smoothMethod, smoothValue, lowercase, tokenize }).score, expected, EPSILON);
  });

  // test_api_sentence_bleu_zero: example taken from #141
  const zeroCases: Case[] = [
    ['exp', undefined, false, '13a', 0.0],
    ['none', undefined, false, '13a', 0.0],
    ['floor', undefined, false, '13a', 0.0],
    ['floor', 0.1, false, '13a', 0.0],
    ['add-k', undefined, false, '13a', 0.0],
    ['add-k', 1, false, '13a', 0.0],
  ];
  test.each(zeroCases)('test_api_sentence_bleu_zero %s %p', (smoothMethod, smoothValue, lowercase, tokenize, expected) => {
    within(sentenceBleu('this is a cat', ['okay thanks'], { smoothMethod, smoothValue, lowercase, tokenize }).score, expected, EPSILON);
  });

  test('defaults are exp smoothing with effective order', () => {
    within(sentenceBleu(SYS, [REF]).score, 8.493, EPSILON);
  });
});

describe('corpusBleu edges', () => {
  test('no reference stream is refused', () => {
    expect(() => corpusBleu(HYPS, [])).toThrow(RangeError);
  });

  test('equally close references: the shorter length counts (sacrebleu run with CPython 3.11: ref_len 4, BP 1)', () => {
    for (const refs of [
      [['a b c d'], ['a b c d e f']],
      [['a b c d e f'], ['a b c d']],
    ]) {
      expect(corpusBleu(['a b c d e'], refs)).toMatchObject({ sysLen: 5, refLen: 4, bp: 1 });
    }
  });

  test('no hypotheses score 0', () => {
    expect(corpusBleu([], REFS)).toMatchObject({ score: 0, sysLen: 0, refLen: 0, counts: [0, 0, 0, 0] });
  });
});

describe('tokenize13a', () => {
  // sacrebleu has no 13a tokenizer test; these outputs come from running its Tokenizer13a (tokenizer_13a.py and
  // tokenizer_re.py @ f615c72) on each input with CPython 3.11. They pin the entity unescaping, the digit rules, code
  // points beyond the BMP, and Python's whitespace set (U+001C and U+0085 split, U+FEFF does not).
  const cases: [string, string][] = [
    ['Hello, world. 3.5 &quot;x&quot; 1-2', 'Hello , world . 3.5 " x " 1 - 2'],
    ["It wasn't surprising.", "It wasn't surprising ."],
    ['The price is $1,000.50 (approx.) or 3,5%.', 'The price is $ 1,000.50 ( approx . ) or 3,5 % .'],
    ['a&amp;quot;b &lt;tag&gt; AT&T', 'a & quot ; b < tag > AT & T'],
    ['line one-\nline two\n<skipped>end', 'line oneline two end'],
    ['producţia de zahăr brut se exprimă în zahăr alb;', 'producţia de zahăr brut se exprimă în zahăr alb ;'],
    ['emoji 😀. ok,😀 𝟘.5', 'emoji 😀 . ok , 😀 𝟘 . 5'],
    ['a\u001cb\u0085c\u00a0d\ufeffe\u3000f', 'a b c d\ufeffe f'],
    ['10-20 a-b -5 x.', '10 - 20 a-b -5 x .'],
    ['e.g.,a...b 1.a a.1', 'e . g . , a . . . b 1 . a a . 1'],
    ['{curly} [square] ~tilde^ `tick` @at/slash|pipe', '{ curly } [ square ] ~ tilde ^ ` tick ` @ at / slash | pipe'],
    ['  ', ''],
  ];
  test.each(cases)('%j', (line, expected) => {
    expect(tokenize13a(line)).toBe(expected);
  });
});

const expectRouge = (actual: RougeScore, precision: number, recall: number, fmeasure: number, places = 7) => {
  expect(actual.precision).toBeCloseTo(precision, places);
  expect(actual.recall).toBeCloseTo(recall, places);
  expect(actual.fmeasure).toBeCloseTo(fmeasure, places);
};

describe('rouge-score rouge_scorer_test.py', () => {
  test('testInvalidRougeTypes: rouge0', () => {
    expect(() => rougeN('testing one two', 'testing', 0)).toThrow(RangeError);
  });

  test('testValidRougeTypes: rouge1, rouge9, rougeL', () => {
    expect(rougeN('testing one two', 'testing', 1).fmeasure).toBeGreaterThan(0);
    expect(rougeN('testing one two', 'testing', 9)).toEqual({ precision: 0, recall: 0, fmeasure: 0 });
    expect(rougeL('testing one two', 'testing').fmeasure).toBeGreaterThan(0);
  });

  test('testRouge1', () => {
    expectRouge(rougeN('testing one two', 'testing', 1), 1, 1 / 3, 1 / 2);
  });

  test('testRougeEmpty: rouge1, rouge2, rougeL', () => {
    expectRouge(rougeN('testing one two', '', 1), 0, 0, 0);
    expectRouge(rougeN('testing one two', '', 2), 0, 0, 0);
    expectRouge(rougeL('testing one two', ''), 0, 0, 0);
  });

  test('testRouge2', () => {
    expectRouge(rougeN('testing one two', 'testing one', 2), 1, 1 / 2, 2 / 3);
  });

  test('testRougeLConsecutive', () => {
    expectRouge(rougeL('testing one two', 'testing one'), 1, 2 / 3, 4 / 5);
  });

  test('testRougeLNonConsecutive', () => {
    expectRouge(rougeL('testing one two', 'testing two'), 1, 2 / 3, 4 / 5);
  });

  test('testMultipleRougeTypes: rouge1 and rougeL', () => {
    expectRouge(rougeN('testing one two', 'testing one', 1), 1, 2 / 3, 4 / 5);
    expectRouge(rougeL('testing one two', 'testing one'), 1, 2 / 3, 4 / 5);
  });

  // "Ground truth" scores from manual runs of ROUGE-1.5.5; [line, precision, recall, fmeasure], assertAlmostEqual(…, 5).
  type Versus155 = [string, (t: string, p: string, stemmer: boolean) => RougeScore, boolean, [number, number, number, number][]];
  const versus155: Versus155[] = [
    [
      'testRouge1AgainstRouge155',
      (t, p, stemmer) => rougeN(t, p, 1, { stemmer }),
      false,
      [
        [0, 0.6875, 0.40741, 0.51163],
        [1, 0.65385, 0.40476, 0.5],
      ],
    ],
    [
      'testRouge1AgainstRouge155WithStemming',
      (t, p, stemmer) => rougeN(t, p, 1, { stemmer }),
      true,
      [
        [0, 0.6875, 0.40741, 0.51163],
        [1, 0.69231, 0.42857, 0.52941],
      ],
    ],
    [
      'testRouge2AgainstRouge155',
      (t, p, stemmer) => rougeN(t, p, 2, { stemmer }),
      false,
      [
        [0, 0.53333, 0.30769, 0.39024],
        [1, 0.48, 0.29268, 0.36364],
      ],
    ],
    [
      'testRouge2AgainstRouge155WithStemming',
      (t, p, stemmer) => rougeN(t, p, 2, { stemmer }),
      true,
      [
        [0, 0.53333, 0.30769, 0.39024],
        [1, 0.48, 0.29268, 0.36364],
      ],
    ],
    [
      'testRougeLAgainstRouge155',
      (t, p, stemmer) => rougeL(t, p, { stemmer }),
      false,
      [
        [0, 0.6875, 0.40741, 0.51163],
        [1, 0.65385, 0.40476, 0.5],
      ],
    ],
  ];
  test.each(versus155)('%s', async (_name, score, stemmer, rows) => {
    // setUp: f.readlines() of testdata/target.txt and testdata/prediction.txt (line endings kept).
    const targets = (await fixture('target.txt')).split(/(?<=\n)/);
    const predictions = (await fixture('prediction.txt')).split(/(?<=\n)/);
    for (const [line, precision, recall, fmeasure] of rows) {
      expectRouge(score(targets[line]!, predictions[line]!, stemmer), precision, recall, fmeasure, 5);
    }
  });

  test('testLcsTable: LCS of [1,2,3,4,5] and [2,5,3,4] is 3; with [8,9] it is 0 (as rougeL of those tokens)', () => {
    expectRouge(rougeL('1 2 3 4 5', '2 5 3 4'), 3 / 4, 3 / 5, (2 * (3 / 4) * (3 / 5)) / (3 / 4 + 3 / 5));
    expectRouge(rougeL('1 2 3 4 5', '8 9'), 0, 0, 0);
  });
});

describe('rouge-score tokenizer', () => {
  test('tokenize_test.py test_give_me_a_name', () => {
    expect(rougeTokenize('one Two three')).toEqual(['one', 'two', 'three']);
    expect(rougeTokenize('one\n Two \nthree')).toEqual(['one', 'two', 'three']);
  });

  test('tokenizers_test.py test_default_tokenizer_no_stemmer_init', () => {
    expect(rougeTokenize('this is a test')).toEqual(['this', 'is', 'a', 'test']);
  });

  test('tokenizers_test.py test_default_tokenizer_with_stemmer_init', () => {
    expect(rougeTokenize('the friends had a meeting', { stemmer: true })).toEqual(['the', 'friend', 'had', 'a', 'meet']);
  });

  test('only tokens longer than 3 letters are stemmed (rouge-score tokenize.tokenize with nltk PorterStemmer, CPython 3.11)', () => {
    expect(rougeTokenize('Cats was running, ties has dies.', { stemmer: true })).toEqual(['cat', 'was', 'run', 'tie', 'has', 'die']);
  });

  test('lowercasing comes before dropping non-[a-z0-9] (output of rouge-score tokenize.tokenize run with CPython 3.11)', () => {
    expect(rougeTokenize('\u212aelvin İstanbul café_au-lait 3.5')).toEqual(['kelvin', 'i', 'stanbul', 'caf', 'au', 'lait', '3', '5']);
  });
});

describe('nltk PorterStemmer (NLTK_EXTENSIONS), which rouge-score stems with', () => {
  test('test_vocabulary_nltk_mode: a sample of porter_vocabulary.txt → porter_nltk_output.txt', async () => {
    const pairs = (await fixture('porter-nltk-sample.txt'))
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(' ') as [string, string]);
    expect(pairs.length).toBe(599);
    const wrong = pairs.filter(([word, stem]) => porterStem(word) !== stem).map(([word, stem]) => `${word}: ${porterStem(word)} ≠ ${stem}`);
    expect(wrong).toEqual([]);
  });

  test('test_oed_bug', () => {
    expect(porterStem('oed')).toBe('o');
  });

  test('test_lowercase_option (to_lowercase=True, the default)', () => {
    expect(porterStem('On')).toBe('on');
    expect(porterStem('I')).toBe('i');
    expect(porterStem('Github')).toBe('github');
  });
});
