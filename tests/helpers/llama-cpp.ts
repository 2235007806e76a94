/**
 * Runs token ids through llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary) and compares runs:
 * the equivalence check of a GGUF LoRA export against the merged base. Facts behind the choices
 * (threads, few contexts, dispose order): /work/shared/research/llama-cpp-lora.md.
 */
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel, type Token } from 'node-llama-cpp';

/** llama.cpp with its log captured (a failed adapter load gives its reason only there). */
export async function startLlamaCpp(): Promise<{ llama: Llama; logs: string[] }> {
  const logs: string[] = [];
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      logs.push(`${level}: ${message.trim()}`);
    },
  });
  return { llama, logs };
}

/** One prompt's run. */
export interface PromptRun {
  /** Per prompt position, the probability of every vocabulary token being next (softmax of the logits). */
  probs: Float64Array[];
  /** The argmax next token at each prompt position, then `steps` tokens of greedy continuation. */
  greedy: number[];
}

/**
 * Evaluates each prompt (token ids, fed as they are) in a fresh context of `model`, with the LoRA GGUF at
 * `lora` applied at scale 1 when given; the context is disposed before returning, so callers hold none.
 */
export async function runPrompts(
  model: LlamaModel,
  prompts: readonly number[][],
  opts: { lora?: string; steps?: number; vocab: number },
): Promise<PromptRun[]> {
  const context = await model.createContext({
    contextSize: 64,
    sequences: 1,
    // More threads than 2 made evaluation about 10x slower on this 2-core machine (research note).
    threads: 1,
    // An F16 KV cache rounds K and V, so two paths equal to 1e-7 in F32 could round apart (seen: 3e-5).
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    flashAttention: false,
    ...(opts.lora ? { lora: { adapters: [{ filePath: opts.lora, scale: 1 }] } } : {}),
  });
  try {
    const sequence = context.getSequence();
    // Temperature 0: the probabilities are the plain softmax of the logits and `token` is the argmax.
    const next = { generateNext: { probabilities: true, token: true, options: { temperature: 0 } } };
    const dense = (map: Map<Token, number> | undefined) => {
      const p = new Float64Array(opts.vocab);
      for (const [token, prob] of map ?? []) p[token] = prob;
      return p;
    };
    const runs: PromptRun[] = [];
    for (const prompt of prompts) {
      await sequence.clearHistory();
      const out = await sequence.controlledEvaluate(prompt.map((t) => [t as Token, next]));
      const probs = out.map((o) => dense(o?.next.probabilities));
      const greedy: number[] = out.map((o) => o?.next.token ?? -1);
      let token: number = greedy.at(-1) ?? -1;
      for (let step = 0; step < (opts.steps ?? 6) && token >= 0; step++) {
        const [o] = await sequence.controlledEvaluate([[token as Token, next]]);
        token = o?.next.token ?? -1;
        greedy.push(token);
      }
      runs.push({ probs, greedy });
    }
    return runs;
  } finally {
    await context.dispose();
  }
}

/** How far two runs of the same prompts are apart: the largest probability difference and whether every greedy token agrees. */
export function compareRuns(a: readonly PromptRun[], b: readonly PromptRun[]): { maxProbDiff: number; sameGreedy: boolean } {
  let maxProbDiff = 0;
  let sameGreedy = a.length === b.length;
  a.forEach((run, i) => {
    const other = b[i]!;
    sameGreedy &&= run.greedy.length === other.greedy.length && run.greedy.every((t, j) => t === other.greedy[j]);
    run.probs.forEach((p, j) => {
      const q = other.probs[j]!;
      for (let k = 0; k < p.length; k++) maxProbDiff = Math.max(maxProbDiff, Math.abs(p[k]! - q[k]!));
    });
  });
  return { maxProbDiff, sameGreedy };
}
