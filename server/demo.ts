/**
 * `bun run demo`: shows the whole flow on a running instance (PUBLIC_URL, default
 * http://127.0.0.1:3000) or, when none answers, on an embedded one started here. It signs up a demo
 * user, creates a dataset and a training run, reports a realistic loss curve, writes real LoRA files
 * (PEFT adapter_config.json, adapter_model.safetensors, tokenizer files) into a local "GPU output"
 * folder, completes the run through the worker API, waits for the model, and checks every file's
 * SHA-256 through a signed download link.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTRPCClient, httpLink } from '@trpc/client';
import { lossCurve, writeLoraOutput } from '../tests/fixtures/lora.ts';
import { TRAINER_KINDS, type TrainerKind, writeTrainerOutput } from '../tests/fixtures/trainers.ts';
import { parseEnv } from './env.ts';
import { defaultOutputFolder } from './ingest/sources/allowed.ts';
import { createLogger } from './logger.ts';
import { startService, type Service } from './runtime.ts';
import type { AppRouter } from './trpc/root.ts';

const env = parseEnv(process.env);

/**
 * `--from hf|trl|mlx|torchtune|llamafactory`: the output is laid out as that trainer writes it (checkpoints, pickles,
 * logs, evaluation results, the folders it leaves behind), and the worker reports no metrics where the trainer
 * logged them, so the curve comes from the output. Without it: a PEFT output and a worker that reports its curve.
 */
function fromArgument(argv: readonly string[]): TrainerKind | null {
  const at = argv.findIndex((a) => a === '--from' || a.startsWith('--from='));
  if (at < 0) return null;
  const value = argv[at]!.includes('=') ? argv[at]!.slice('--from='.length) : argv[at + 1];
  if (!TRAINER_KINDS.includes(value as TrainerKind)) {
    console.error(`--from takes one of ${TRAINER_KINDS.join(', ')}${value ? `, not "${value}"` : ''}.`);
    process.exit(2);
  }
  return value as TrainerKind;
}
const from = fromArgument(process.argv.slice(2));
const EMAIL = 'demo@example.com';
const PASSWORD = 'lora-demo-password';

function api(baseUrl: string, headers: Record<string, string>) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${baseUrl}/trpc`, headers: () => headers })] });
}

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function session(baseUrl: string): Promise<{ cookie: string; userId: string }> {
  const post = (p: string, body: unknown) =>
    fetch(`${baseUrl}/api/auth/${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: baseUrl },
      body: JSON.stringify(body),
    });
  let res = await post('sign-in/email', { email: EMAIL, password: PASSWORD });
  if (res.status === 401) res = await post('sign-up/email', { email: EMAIL, password: PASSWORD, name: 'Demo User' });
  if (!res.ok) throw new Error(`could not sign the demo user in: ${res.status} ${await res.text()}`);
  const { user } = (await res.json()) as { user: { id: string } };
  return {
    cookie: res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; '),
    userId: user.id,
  };
}

let embedded: Service | null = null;
let baseUrl = env.publicUrl;
if (!(await reachable(baseUrl))) {
  console.log(`No instance answers at ${baseUrl}; starting an embedded one (DATA_DIR ${path.resolve(env.dataDir)}) …`);
  embedded = await startService({ env, log: createLogger('warn'), webDist: path.join(import.meta.dir, '..', 'web', 'dist') });
  baseUrl = embedded.url!;
}

try {
  const { cookie, userId } = await session(baseUrl);
  const user = api(baseUrl, { cookie });
  const { id: datasetId } = await user.datasets.create.mutate({ name: 'customer-support-10k', format: 'jsonl', rowCount: 10_000 });
  const runName = `support-assistant-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;
  const { jobId, workerToken } = await user.jobs.create.mutate({
    datasetId,
    name: runName,
    config: {
      baseModel: 'Qwen/Qwen2.5-0.5B',
      loraRank: 16,
      loraAlpha: 32,
      learningRate: 2e-4,
      epochs: 3,
      batchSize: 16,
      loraDropout: 0.05,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    },
    gpu: { type: 'NVIDIA A100 80GB', count: 1 },
  });

  // The GPU worker's side, with its per-job token.
  const worker = api(baseUrl, { authorization: `Bearer ${workerToken}` });
  await worker.jobs.start.mutate({ jobId });
  const steps = 1875;
  const curve = lossCurve({ steps, evalEvery: 125, initial: 2.35, final: 0.92, seed: 7 });
  // A trainer that logs its curve to a file (all but mlx-lm, which prints it) leaves the worker nothing to report.
  const workerReports = from === null || from === 'mlx';
  for (let i = 0; workerReports && i < curve.length; i += 10_000) {
    await worker.jobs.reportMetrics.mutate({
      jobId,
      points: curve
        .slice(i, i + 10_000)
        .map((p) => ({ step: p.step, epoch: p.epoch, trainingLoss: p.trainingLoss, validationLoss: p.validationLoss, learningRate: p.learningRate })),
    });
  }
  // The server reads outputs only from its SOURCE_FILE_ROOTS (default DATA_DIR/outputs/{jobId}); this
  // process reads the same DATA_DIR and roots from the same environment, so it writes where the server looks.
  const { workspaceId } = await user.jobs.get.query({ jobId });
  const outputDir = defaultOutputFolder(env, { jobId, userId, workspaceId });
  if (!outputDir) throw new Error('SOURCE_FILE_ROOTS gives no folder for this job; set it as the server has it');
  fs.mkdirSync(outputDir, { recursive: true });
  const { files } = from
    ? await writeTrainerOutput(outputDir, from, { seed: 7 })
    : await writeLoraOutput(outputDir, {
        rank: 16,
        alpha: 32,
        targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
        checkpoints: [1250, 1875],
        seed: 7,
        curve,
        dtype: 'BF16',
      });
  console.log(
    `Wrote ${files.length} files of ${from ? `a ${from} training output, as that trainer lays it out,` : 'a real PEFT LoRA adapter'} to ${outputDir}`,
  );
  const started = performance.now();
  await worker.jobs.complete.mutate({
    jobId,
    outputUri: `file://${outputDir}`,
    summary: { epochsCompleted: 3, totalSteps: steps, durationSeconds: 2.6 * 3600, costUsd: 4.84 },
  });

  let job = await user.jobs.get.query({ jobId });
  while (job.ingestStatus !== 'ready' && job.ingestStatus !== 'failed') {
    if (performance.now() - started > 120_000) throw new Error(`ingest still ${job.ingestStatus} after 2 minutes`);
    await Bun.sleep(100);
    job = await user.jobs.get.query({ jobId });
  }
  if (job.ingestStatus === 'failed') throw new Error(`ingest failed: ${job.ingestError}`);
  const model = await user.models.get.query({ modelId: job.artifactId! });
  const { files: links } = await user.models.download.mutate({ modelId: model.id });
  let verified = 0;
  let card = '';
  for (const link of links) {
    const bytes = new Uint8Array(await (await fetch(link.url)).arrayBuffer());
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== link.sha256) throw new Error(`SHA-256 mismatch for ${link.path}`);
    // README.md is the generated model card; the trainer's own README.md is kept as README.trainer.md.
    if (link.path === 'README.md') card = new TextDecoder().decode(bytes);
    else {
      const original = files.find((f) => f.path === (link.path === 'README.trainer.md' ? 'README.md' : link.path));
      if (!original || sha !== original.sha256) throw new Error(`SHA-256 mismatch for ${link.path}`);
    }
    verified++;
  }
  // A GGUF for llama.cpp and Ollama, made by the export job.
  const exportStarted = performance.now();
  const { exportId } = await user.models.export.mutate({ modelId: model.id, format: 'gguf' });
  let exported = (await user.models.exports.query({ modelId: model.id })).find((e) => e.id === exportId);
  while (exported && (exported.status === 'queued' || exported.status === 'running')) {
    if (performance.now() - exportStarted > 60_000) throw new Error('the GGUF export is still running after a minute');
    await Bun.sleep(100);
    exported = (await user.models.exports.query({ modelId: model.id })).find((e) => e.id === exportId);
  }
  if (exported?.status !== 'ready') throw new Error(`GGUF export failed: ${exported?.error}`);
  const fit = model.compatibility;
  const runtimes = fit?.runtimes.map((r) => `${r.name} ${r.ok ? '✓' : '✗'}`).join(', ');
  const norms = model.weights?.modules.flatMap((m) => (m.updateNorm === null ? [] : [m.updateNorm])) ?? [];
  const frontMatter = (/^---\n([\s\S]*?)\n---/.exec(card)?.[1] ?? '').split('\n');
  // `base_model: …, library_name: peft, pipeline_tag: …, 4 tags`: the scalar keys, then how many tags.
  const cardKeys = [...frontMatter.filter((l) => /^[a-z_]+: \S/.test(l)), `${frontMatter.filter((l) => /^ +- /.test(l)).length} tags`].join(', ');
  const q = model.quality;
  const cs = model.curveSource;
  const curveLine =
    cs?.file && cs.file.added > 0
      ? `${cs.file.added} points from ${cs.file.path}${cs.workerPoints ? ` and ${cs.workerPoints} from the worker` : ''}`
      : `${cs?.workerPoints ?? 0} points from the worker`;
  const tb = model.checkpoints.trainerBest;
  const checkpointLine = `${model.checkpoints.items.map((c) => c.name).join(', ') || 'none'}${tb ? `; the trainer's best: ${tb.checkpoint ?? tb.name}${tb.note ? ` (${tb.note})` : ''}` : ''}`;
  const evalLine =
    model.evaluations
      .map(
        (e) =>
          `${e.path}: ${e.metrics
            .slice(0, 4)
            .map((m) => `${m.name} ${typeof m.value === 'number' ? Number(m.value.toPrecision(4)) : m.value}`)
            .join(', ')}`,
      )
      .join('\n               ') || 'none in the output';
  const pickles = model.files.filter((f) => f.format === 'pickle' || f.format === 'torch_zip').length;
  const skippedLine = model.output?.skipped.map((s) => `${s.rule} (${s.files} ${s.files === 1 ? 'file' : 'files'})`).join(', ') || 'nothing';
  console.log(`
Model "${model.name}" is ready (${Math.round(performance.now() - started)} ms after the run completed).
  quality      ${q.score ? `${'★'.repeat(q.score)}${'☆'.repeat(5 - q.score)} ${q.convergence}` : 'not rated'}, loss ${q.initialLoss?.toFixed(3)} → ${q.finalTrainingLoss?.toFixed(3)} (−${q.lossReductionPct?.toFixed(1)}%)${q.perplexity === null ? '' : `, perplexity ${q.perplexity.toFixed(2)}`}
               ${q.explanation}
  adapter      ${model.adapter?.baseModel}, rank ${model.adapter?.rank}, alpha ${model.adapter?.alpha}, ${model.adapter?.targetModules.join(', ')}, ${model.adapter?.parameterCount?.toLocaleString()} parameters
  fit          ${fit?.verdict === 'fits' ? `fits ${fit.base.facts?.name}: all ${fit.checked} LoRA tensors have its shapes` : fit?.verdict}
  runs on      ${runtimes}
  weights      ${norms.length} modules, update size ${Math.min(...norms).toFixed(3)}–${Math.max(...norms).toFixed(3)}, ${model.weights?.warnings.length ? model.weights.warnings.map((w) => w.message).join('; ') : 'no warnings'}
  curve        ${curveLine}
  checkpoints  ${checkpointLine}
  evaluations  ${evalLine}
  files        ${verified} of ${links.length} downloaded through signed links, SHA-256 matching the originals; ${pickles} ${pickles === 1 ? 'pickle' : 'pickles'} stored, never executed
  skipped      ${skippedLine}
  model card   README.md: ${cardKeys}
  GGUF export  ${exported.path} (${((exported.sizeBytes ?? 0) / 1e6).toFixed(1)} MB, ${Math.round(performance.now() - exportStarted)} ms): llama-cli -m base.gguf --lora ${exported.path}

Open ${baseUrl}/models/${model.id}
Sign in as ${EMAIL} / ${PASSWORD}`);
  if (embedded) {
    console.log('\nThe embedded instance keeps running so you can look; press Ctrl+C to stop it.');
    const svc = embedded;
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => void svc.stop().then(() => process.exit(0)));
  }
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.message : e}`);
  await embedded?.stop();
  process.exit(1);
}
