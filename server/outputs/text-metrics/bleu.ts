// BLEU as sacrebleu 2.x computes it (sacrebleu/metrics/bleu.py, tokenizers/tokenizer_13a.py, tokenizer_re.py), so a
// score shown here is the number a user gets from `sacrebleu.corpus_bleu(hyps, [refs])`. Defaults are sacrebleu's:
// tokenize '13a', smooth 'exp', mixed case, n-grams up to 4, effective order off for a corpus and on for a sentence.
// Python works on code points: every regex here has the `u` flag, and whitespace is Python's `str.split()` set.

export interface BleuScore {
  /** 0..100. */
  score: number;
  /** Matched n-grams of each order (add-k smoothing adds k to orders ≥ 2, as sacrebleu reports them). */
  counts: number[];
  /** Hypothesis n-grams of each order (add-k likewise). */
  totals: number[];
  /** Per-order precisions, 0..100. */
  precisions: number[];
  bp: number;
  sysLen: number;
  refLen: number;
}

type SmoothMethod = 'none' | 'floor' | 'add-k' | 'exp';
type Tokenizer = '13a' | 'none' | 'intl' | 'char';

/** sacrebleu's `BLEU(...)` arguments; only the defaults serve the ingest, the rest replay sacrebleu's own test vectors. */
interface BleuOptions {
  tokenize?: Tokenizer;
  smoothMethod?: SmoothMethod;
  /** For 'floor' (default 0.1) and 'add-k' (default 1). */
  smoothValue?: number;
  lowercase?: boolean;
  maxNgramOrder?: number;
  effectiveOrder?: boolean;
}

const SMOOTH_DEFAULTS: Record<SmoothMethod, number> = { none: 0, floor: 0.1, 'add-k': 1, exp: 0 };

// Python's str.isspace() set: JS `\s` lacks U+001C–U+001F and U+0085 and has U+FEFF, which Python keeps in a token.
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACES = new RegExp(`[${PY_SPACE}]+`, 'u');
const PY_SPACE_CHAR = new RegExp(`^[${PY_SPACE}]$`, 'u');

/** Python `line.rstrip()`. A loop, not /\s+$/: that regex retries every run of spaces to the end, quadratic on a long run. */
function pyRstrip(line: string): string {
  let end = line.length;
  // Every Python space is one UTF-16 unit, and no surrogate is a space.
  while (end > 0 && PY_SPACE_CHAR.test(line[end - 1]!)) end--;
  return line.slice(0, end);
}

/** Python `line.split()`: runs of whitespace separate, no empty tokens. */
function pySplit(line: string): string[] {
  const parts = line.split(PY_SPACES);
  return parts[0] === '' || parts.at(-1) === '' ? parts.filter((p) => p !== '') : parts;
}

// sacrebleu's TokenizerRegexp, in order. The first class is mteval-v13a's symbols: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
// ( ) * + : ; < = > ? @ / (written as code ranges because `u` regexes refuse escapes like `\~`).
const RE_13A: readonly [RegExp, string][] = [
  [/([\x7b-\x7e\x5b-\x60\x20-\x26\x28-\x2b\x3a-\x40/])/gu, ' $1 '],
  // period and comma unless preceded by a digit
  [/([^0-9])([.,])/gu, '$1 $2 '],
  // period and comma unless followed by a digit
  [/([.,])([^0-9])/gu, ' $1 $2'],
  // dash when preceded by a digit
  [/([0-9])(-)/gu, '$1 $2 '],
];

/** sacrebleu's mteval-v13a tokenizer (`Tokenizer13a`): tokens joined by single spaces. */
export function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (s.includes('&')) s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  s = ` ${s} `;
  for (const [re, replacement] of RE_13A) s = s.replace(re, replacement);
  return pySplit(s).join(' ');
}

// sacrebleu's TokenizerV14International (mteval-v14 -international-tokenization).
const RE_INTL: readonly [RegExp, string][] = [
  [/(\P{N})(\p{P})/gu, '$1 $2 '],
  [/(\p{P})(\P{N})/gu, ' $1 $2'],
  [/(\p{S})/gu, ' $1 '],
];

function tokenizeIntl(line: string): string {
  let s = line;
  for (const [re, replacement] of RE_INTL) s = s.replace(re, replacement);
  return pySplit(s).join(' ');
}

const TOKENIZERS: Record<Tokenizer, (line: string) => string> = {
  '13a': tokenize13a,
  none: (line) => line,
  intl: tokenizeIntl,
  char: (line) => Array.from(line).join(' '),
};

interface Resolved {
  tokenize: (line: string) => string;
  lowercase: boolean;
  smoothMethod: SmoothMethod;
  smoothValue: number;
  maxNgramOrder: number;
  effectiveOrder: boolean;
}

function resolve(options: BleuOptions | undefined, effectiveOrder: boolean): Resolved {
  const smoothMethod = options?.smoothMethod ?? 'exp';
  const maxNgramOrder = options?.maxNgramOrder ?? 4;
  if (!Number.isInteger(maxNgramOrder) || maxNgramOrder < 1) throw new RangeError(`maxNgramOrder must be a positive integer, not ${maxNgramOrder}`);
  return {
    tokenize: TOKENIZERS[options?.tokenize ?? '13a'],
    lowercase: options?.lowercase ?? false,
    smoothMethod,
    smoothValue: options?.smoothValue ?? SMOOTH_DEFAULTS[smoothMethod],
    maxNgramOrder,
    effectiveOrder: options?.effectiveOrder ?? effectiveOrder,
  };
}

/** sacrebleu `_preprocess_segment`: optional lowercasing, trailing whitespace off, tokenize; then split into tokens. */
function tokens(line: string, o: Resolved): string[] {
  const s = o.lowercase ? line.toLowerCase() : line;
  return pySplit(o.tokenize(pyRstrip(s)));
}

/**
 * Counts of every n-gram, one map per order (index n-1). Tokens hold no whitespace, so a space-joined key is unambiguous;
 * each start position extends its key one token at a time rather than slicing and joining per order.
 */
function ngramCounts(toks: readonly string[], maxOrder: number): Map<string, number>[] {
  const out: Map<string, number>[] = Array.from({ length: maxOrder }, () => new Map<string, number>());
  for (let i = 0; i < toks.length; i++) {
    let key = toks[i]!;
    const last = Math.min(maxOrder, toks.length - i);
    for (let n = 1; n <= last; n++) {
      if (n > 1) key += ` ${toks[i + n - 1]!}`;
      const counts = out[n - 1]!;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return out;
}

/** sacrebleu `_get_closest_ref_len`: the nearest reference length, the shorter one on a tie. */
function closestRefLen(hypLen: number, refLens: readonly number[]): number {
  let closestDiff = -1;
  let closestLen = -1;
  for (const len of refLens) {
    const diff = Math.abs(hypLen - len);
    if (closestDiff === -1 || diff < closestDiff) {
      closestDiff = diff;
      closestLen = len;
    } else if (diff === closestDiff && len < closestLen) {
      closestLen = len;
    }
  }
  return closestLen;
}

/** sacrebleu `my_log`: log with log(0) floored to a huge negative number instead of -Infinity. */
const myLog = (x: number) => (x === 0 ? -9999999999 : Math.log(x));

/**
 * sacrebleu `BLEU.compute_bleu`: the score from corpus sufficient statistics. Defaults are compute_bleu's own
 * (smooth 'none', effective order off), which differ from the corpus/sentence defaults.
 */
export function computeBleu(
  correct: readonly number[],
  total: readonly number[],
  sysLen: number,
  refLen: number,
  options?: Pick<BleuOptions, 'smoothMethod' | 'smoothValue' | 'effectiveOrder' | 'maxNgramOrder'>,
): BleuScore {
  const smoothMethod = options?.smoothMethod ?? 'none';
  const smoothValue = options?.smoothValue ?? SMOOTH_DEFAULTS[smoothMethod];
  const maxOrder = options?.maxNgramOrder ?? 4;
  const counts = correct.slice(0, maxOrder);
  const totals = total.slice(0, maxOrder);

  let bp = 1;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0;

  const precisions: number[] = new Array(maxOrder).fill(0);
  // No match at any order: 0, whatever the smoothing (sacrebleu #141).
  if (!counts.some((c) => c !== 0)) return { score: 0, counts, totals, precisions, bp, sysLen, refLen };

  let smoothMteval = 1;
  let effOrder = maxOrder;
  for (let n = 1; n <= maxOrder; n++) {
    if (smoothMethod === 'add-k' && n > 1) {
      counts[n - 1]! += smoothValue;
      totals[n - 1]! += smoothValue;
    }
    if (totals[n - 1] === 0) break;
    // Effective order: orders the hypothesis has no n-gram of do not count (short sentences).
    if (options?.effectiveOrder) effOrder = n;
    if (counts[n - 1] === 0) {
      if (smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * totals[n - 1]!);
      } else if (smoothMethod === 'floor') {
        precisions[n - 1] = (100 * smoothValue) / totals[n - 1]!;
      }
    } else {
      precisions[n - 1] = (100 * counts[n - 1]!) / totals[n - 1]!;
    }
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += myLog(p);
  return { score: bp * Math.exp(logSum / effOrder), counts, totals, precisions, bp, sysLen, refLen };
}

function scoreStreams(hypotheses: readonly string[], references: readonly (readonly string[])[], o: Resolved): BleuScore {
  if (references.length === 0) throw new RangeError('BLEU needs at least one reference stream');
  const maxOrder = o.maxNgramOrder;
  const correct: number[] = new Array(maxOrder).fill(0);
  const total: number[] = new Array(maxOrder).fill(0);
  let sysLen = 0;
  let refLen = 0;
  // sacrebleu zips hypotheses with the reference streams: the shortest of them decides how many lines count.
  const lines = Math.min(hypotheses.length, ...references.map((r) => r.length));
  for (let i = 0; i < lines; i++) {
    // Reference n-grams clipped to their largest count in any one reference.
    const refNgrams: Map<string, number>[] = Array.from({ length: maxOrder }, () => new Map<string, number>());
    const refLens: number[] = [];
    for (const stream of references) {
      const refTokens = tokens(stream[i]!, o);
      refLens.push(refTokens.length);
      ngramCounts(refTokens, maxOrder).forEach((counts, n) => {
        const merged = refNgrams[n]!;
        for (const [key, count] of counts) if (count > (merged.get(key) ?? 0)) merged.set(key, count);
      });
    }
    const hypTokens = tokens(hypotheses[i]!, o);
    sysLen += hypTokens.length;
    refLen += closestRefLen(hypTokens.length, refLens);
    ngramCounts(hypTokens, maxOrder).forEach((counts, n) => {
      const ref = refNgrams[n]!;
      for (const [key, count] of counts) {
        total[n]! += count;
        correct[n]! += Math.min(count, ref.get(key) ?? 0);
      }
    });
  }
  return computeBleu(correct, total, sysLen, refLen, o);
}

/**
 * sacrebleu `corpus_bleu(hypotheses, references)`: `references[k][i]` is the k-th reference of hypothesis i (one array
 * per reference stream). An empty reference string is a reference without tokens, as in sacrebleu (whose README uses it
 * for a missing reference: its length 0 is rarely the closest). No hypotheses: a zero score (sacrebleu raises).
 */
export function corpusBleu(hypotheses: readonly string[], references: readonly (readonly string[])[], options?: BleuOptions): BleuScore {
  return scoreStreams(hypotheses, references, resolve(options, false));
}

/** sacrebleu `sentence_bleu(hypothesis, references)`: one sentence, effective order on. */
export function sentenceBleu(hypothesis: string, references: readonly string[], options?: BleuOptions): BleuScore {
  return scoreStreams(
    [hypothesis],
    references.map((r) => [r]),
    resolve(options, true),
  );
}
