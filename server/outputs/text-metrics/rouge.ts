// ROUGE as google-research's rouge-score computes it (rouge/rouge_scorer.py, tokenize.py, scoring.py), so a score
// here is `RougeScorer([...]).score(target, prediction)`: its default tokenizer (lowercase, anything but [a-z0-9]
// separates tokens, Porter stemming of tokens longer than 3 letters when asked) and rougeL as sentence-level LCS.

import { porterStem } from './porter.ts';

export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

interface RougeOptions {
  /** rouge-score's `use_stemmer`: nltk's Porter stemmer on tokens longer than 3 letters. */
  stemmer?: boolean;
}

/** rouge-score's default tokenizer (`tokenize.tokenize`). */
export function rougeTokenize(text: string, options?: RougeOptions): string[] {
  // rouge-score lowercases, turns every run of non-[a-z0-9] into a space and splits: the [a-z0-9] runs, taken directly.
  // Lowercasing comes first, so a letter that lowercases into ASCII (the Kelvin sign) counts, as in Python.
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  return options?.stemmer ? words.map((w) => (w.length > 3 ? porterStem(w) : w)) : words;
}

/** scoring.fmeasure: the harmonic mean, 0 when precision and recall are both 0. */
const fmeasure = (precision: number, recall: number) => (precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0);

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  // Tokens are [a-z0-9]+: a space-joined key is unambiguous.
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = n === 1 ? tokens[i]! : tokens.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** rouge-score `rougeN` (`_score_ngrams`): clipped n-gram overlap; an empty side scores 0, not NaN. */
export function rougeN(target: string, prediction: string, n: number, options?: RougeOptions): RougeScore {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ROUGE-N needs a positive integer n, not ${n}`);
  const targetTokens = rougeTokenize(target, options);
  const predictionTokens = rougeTokenize(prediction, options);
  const targetNgrams = ngramCounts(targetTokens, n);
  const predictionNgrams = ngramCounts(predictionTokens, n);
  let overlap = 0;
  for (const [key, count] of targetNgrams) overlap += Math.min(count, predictionNgrams.get(key) ?? 0);
  const precision = overlap / Math.max(predictionTokens.length - n + 1, 1);
  const recall = overlap / Math.max(targetTokens.length - n + 1, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** Length of the longest common subsequence: the DP of `_lcs_table`, two typed-array rows over token ids. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  const ids = new Map<string, number>();
  const idOf = (t: string) => {
    const known = ids.get(t);
    if (known !== undefined) return known;
    ids.set(t, ids.size);
    return ids.size - 1;
  };
  const aIds = Int32Array.from(a, idOf);
  const bIds = Int32Array.from(b, idOf);
  let prev = new Int32Array(bIds.length + 1);
  let cur = new Int32Array(bIds.length + 1);
  for (let i = 0; i < aIds.length; i++) {
    const ai = aIds[i]!;
    for (let j = 1; j <= bIds.length; j++) {
      cur[j] = ai === bIds[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[bIds.length]!;
}

/**
 * rouge-score `rougeL` (`_score_lcs`): sentence-level LCS over the whole texts (not rougeLsum). Time is
 * tokens(target) × tokens(prediction), as upstream: a caller scoring untrusted text bounds the token counts.
 */
export function rougeL(target: string, prediction: string, options?: RougeOptions): RougeScore {
  const targetTokens = rougeTokenize(target, options);
  const predictionTokens = rougeTokenize(prediction, options);
  if (targetTokens.length === 0 || predictionTokens.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(targetTokens, predictionTokens);
  const precision = lcs / predictionTokens.length;
  const recall = lcs / targetTokens.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}
