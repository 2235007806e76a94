// The Porter stemmer exactly as nltk's `PorterStemmer()` runs it in its default NLTK_EXTENSIONS mode
// (nltk/stem/porter.py), because that is the stemmer rouge-score's `use_stemmer=True` calls. Only that mode:
// the ORIGINAL_ALGORITHM and MARTIN_EXTENSIONS variants would change scores nobody computes with them.
// Words are the lowercase ASCII tokens rouge's tokenizer makes, so UTF-16 indexing equals Python's.

/** nltk's table of irregular forms (word → stem), looked up before any rule. */
const IRREGULAR = new Map<string, string>([
  ['sky', 'sky'],
  ['skies', 'sky'],
  ['dying', 'die'],
  ['lying', 'lie'],
  ['tying', 'tie'],
  ['news', 'news'],
  ['innings', 'inning'],
  ['inning', 'inning'],
  ['outings', 'outing'],
  ['outing', 'outing'],
  ['cannings', 'canning'],
  ['canning', 'canning'],
  ['howe', 'howe'],
  ['proceed', 'proceed'],
  ['exceed', 'exceed'],
  ['succeed', 'succeed'],
]);

const isVowelLetter = (c: string | undefined) => c === 'a' || c === 'e' || c === 'i' || c === 'o' || c === 'u';

/**
 * Whether each letter is a consonant in Porter's sense: not a vowel, and a `y` only after a vowel (or first).
 * One forward pass: nltk recurses backwards over runs of `y`, which a long token would turn into a stack overflow.
 */
function consonants(word: string): boolean[] {
  const out: boolean[] = new Array(word.length);
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    out[i] = isVowelLetter(c) ? false : c === 'y' ? i === 0 || !out[i - 1] : true;
  }
  return out;
}

const isConsonant = (word: string, i: number) => consonants(word)[i] === true;

/** m in [C](VC){m}[V]: the number of vowel→consonant transitions. */
function measure(stem: string): number {
  const c = consonants(stem);
  let m = 0;
  for (let i = 0; i + 1 < c.length; i++) if (!c[i] && c[i + 1]) m++;
  return m;
}

const positiveMeasure = (stem: string) => measure(stem) > 0;
const measureAbove1 = (stem: string) => measure(stem) > 1;
const containsVowel = (stem: string) => consonants(stem).includes(false);

/** Condition *d: ends with a double consonant. */
const endsDoubleConsonant = (word: string) => word.length >= 2 && word.at(-1) === word.at(-2) && isConsonant(word, word.length - 1);

/** Condition *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK also counts a two-letter vowel-consonant word. */
function endsCvc(word: string): boolean {
  const c = consonants(word);
  const n = word.length;
  if (n >= 3 && c[n - 3] && !c[n - 2] && c[n - 1] && !'wxy'.includes(word[n - 1]!)) return true;
  return n === 2 && !c[0] && c[1] === true;
}

/** [suffix, replacement, condition on (stem without the suffix, whole word)]; null: unconditional. */
type Rule = readonly [string, string, ((stem: string, word: string) => boolean) | null];

/** nltk's `_apply_rule_list`: the FIRST rule whose suffix matches decides, even when its condition fails. */
function applyRules(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    if (!word.endsWith(suffix)) continue;
    const stem = word.slice(0, word.length - suffix.length);
    return condition === null || condition(stem, word) ? stem + replacement : word;
  }
  return word;
}

const STEP1A: readonly Rule[] = [
  ['sses', 'ss', null],
  ['ies', 'i', null],
  ['ss', 'ss', null],
  ['s', '', null],
];

function step1a(word: string): string {
  // NLTK: 'dies' → 'die' while 'flies' → 'fli'.
  if (word.endsWith('ies') && word.length === 4) return `${word.slice(0, -3)}ie`;
  return applyRules(word, STEP1A);
}

function step1b(word: string): string {
  // NLTK: 'died' → 'die' while 'spied' → 'spi'.
  if (word.endsWith('ied')) return word.slice(0, -3) + (word.length === 4 ? 'ie' : 'i');
  if (word.endsWith('eed')) {
    const stem = word.slice(0, -3);
    return measure(stem) > 0 ? `${stem}ee` : word;
  }
  let stem: string | null = null;
  for (const suffix of ['ed', 'ing']) {
    if (word.endsWith(suffix) && containsVowel(word.slice(0, -suffix.length))) {
      stem = word.slice(0, -suffix.length);
      break;
    }
  }
  if (stem === null) return word;
  // AT → ATE, BL → BLE, IZ → IZE; then (*d and not *L/*S/*Z) → single letter; then (m=1 and *o) → E.
  if (stem.endsWith('at') || stem.endsWith('bl') || stem.endsWith('iz')) return `${stem}e`;
  if (endsDoubleConsonant(stem)) return 'lsz'.includes(stem.at(-1)!) ? stem : stem.slice(0, -1);
  return measure(stem) === 1 && endsCvc(stem) ? `${stem}e` : stem;
}

// NLTK: y → i only after a consonant that is not the whole stem ('happy' → 'happi', 'enjoy' and 'by' unchanged).
const STEP1C: readonly Rule[] = [['y', 'i', (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]];

const STEP2: readonly Rule[] = [
  ['ational', 'ate', positiveMeasure],
  ['tional', 'tion', positiveMeasure],
  ['enci', 'ence', positiveMeasure],
  ['anci', 'ance', positiveMeasure],
  ['izer', 'ize', positiveMeasure],
  ['bli', 'ble', positiveMeasure],
  ['alli', 'al', positiveMeasure],
  ['entli', 'ent', positiveMeasure],
  ['eli', 'e', positiveMeasure],
  ['ousli', 'ous', positiveMeasure],
  ['ization', 'ize', positiveMeasure],
  ['ation', 'ate', positiveMeasure],
  ['ator', 'ate', positiveMeasure],
  ['alism', 'al', positiveMeasure],
  ['iveness', 'ive', positiveMeasure],
  ['fulness', 'ful', positiveMeasure],
  ['ousness', 'ous', positiveMeasure],
  ['aliti', 'al', positiveMeasure],
  ['iviti', 'ive', positiveMeasure],
  ['biliti', 'ble', positiveMeasure],
  ['fulli', 'ful', positiveMeasure],
  // NLTK keeps the 'l' with the stem when measuring, so short stems like 'geo', 'theo' qualify.
  ['logi', 'log', (_stem, word) => positiveMeasure(word.slice(0, -3))],
];

function step2(word: string): string {
  // NLTK applies ALLI → AL first and runs the result through step 2 again.
  if (word.endsWith('alli') && positiveMeasure(word.slice(0, -4))) return step2(`${word.slice(0, -4)}al`);
  return applyRules(word, STEP2);
}

const STEP3: readonly Rule[] = [
  ['icate', 'ic', positiveMeasure],
  ['ative', '', positiveMeasure],
  ['alize', 'al', positiveMeasure],
  ['iciti', 'ic', positiveMeasure],
  ['ical', 'ic', positiveMeasure],
  ['ful', '', positiveMeasure],
  ['ness', '', positiveMeasure],
];

const STEP4: readonly Rule[] = [
  ['al', '', measureAbove1],
  ['ance', '', measureAbove1],
  ['ence', '', measureAbove1],
  ['er', '', measureAbove1],
  ['ic', '', measureAbove1],
  ['able', '', measureAbove1],
  ['ible', '', measureAbove1],
  ['ant', '', measureAbove1],
  ['ement', '', measureAbove1],
  ['ment', '', measureAbove1],
  ['ent', '', measureAbove1],
  ['ion', '', (stem) => measureAbove1(stem) && (stem.endsWith('s') || stem.endsWith('t'))],
  ['ou', '', measureAbove1],
  ['ism', '', measureAbove1],
  ['ate', '', measureAbove1],
  ['iti', '', measureAbove1],
  ['ous', '', measureAbove1],
  ['ive', '', measureAbove1],
  ['ize', '', measureAbove1],
];

function step5a(word: string): string {
  // Both E rules are tried (unlike the first-match rule lists): (m>1) E → ; (m=1 and not *o) E → .
  if (!word.endsWith('e')) return word;
  const stem = word.slice(0, -1);
  const m = measure(stem);
  return m > 1 || (m === 1 && !endsCvc(stem)) ? stem : word;
}

// (m>1 and *d and *L) → single letter; the measure is of the word less one 'l'.
const STEP5B: readonly Rule[] = [['ll', 'l', (_stem, word) => measureAbove1(word.slice(0, -1))]];

/** nltk `PorterStemmer().stem(word)` (NLTK_EXTENSIONS mode, lowercasing). */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  const irregular = IRREGULAR.get(word);
  if (irregular !== undefined) return irregular;
  // NLTK leaves words of one or two letters alone.
  if (word.length <= 2) return lower;
  let stem = step1a(lower);
  stem = step1b(stem);
  stem = applyRules(stem, STEP1C);
  stem = step2(stem);
  stem = applyRules(stem, STEP3);
  stem = applyRules(stem, STEP4);
  stem = step5a(stem);
  return applyRules(stem, STEP5B);
}
