import { A } from '@solidjs/router';
import { Show } from 'solid-js';
import { useWorkspace } from '../lib/workspace.ts';
import { CopyButton } from './copy-button.tsx';

/**
 * The script an integrator starts from: the platform's side (`datasets.create`, `jobs.create`) with an API
 * token, then the GPU worker's side (`jobs.start`, `jobs.reportMetrics`, `jobs.complete`) with the job's own
 * worker token, against this very instance (`origin`) and workspace. Plain fetch, so Node 18+ or Bun runs it.
 */
function trainingSnippet(origin: string, workspaceId: string): string {
  return `// train.mjs: LORA_TOKEN=<API token> OUTPUT_URI=<s3://bucket/run/ or file:///…> node train.mjs
const BASE = '${origin}';
const call = async (procedure, input, token) => {
  const res = await fetch(\`\${BASE}/trpc/\${procedure}\`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: \`Bearer \${token}\` },
    body: JSON.stringify(input),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(\`\${procedure}: \${body.error?.message ?? res.status}\`);
  return body.result.data;
};

// The platform's side: a dataset and a training job in this workspace.
const token = process.env.LORA_TOKEN;
const workspaceId = '${workspaceId}';
const dataset = await call('datasets.create', { workspaceId, name: 'support-10k', format: 'jsonl', rowCount: 10000 }, token);
const { jobId, workerToken } = await call('jobs.create', {
  workspaceId,
  datasetId: dataset.id,
  name: 'support-bot-v1',
  config: { baseModel: 'Qwen/Qwen2.5-0.5B', loraRank: 16, loraAlpha: 32, learningRate: 2e-4, epochs: 3, batchSize: 16 },
  gpu: { type: 'NVIDIA A100 80GB', count: 1 },
}, token);

// The GPU worker's side, with the job's own token: start, report the loss curve, complete with the output.
await call('jobs.start', { jobId }, workerToken);
await call('jobs.reportMetrics', {
  jobId,
  points: [
    { step: 100, epoch: 1, trainingLoss: 1.92, validationLoss: 1.95 },
    { step: 200, epoch: 2, trainingLoss: 1.31, validationLoss: 1.4 },
    { step: 300, epoch: 3, trainingLoss: 0.98, validationLoss: 1.12 },
  ],
}, workerToken);
await call('jobs.complete', {
  jobId,
  outputUri: process.env.OUTPUT_URI,
  summary: { epochsCompleted: 3, totalSteps: 300, durationSeconds: 5400, costUsd: 3.2 },
}, workerToken);
console.log(\`Job \${jobId} completed: its model appears in the catalogue once the files are copied.\`);
`;
}

/**
 * How a training run starts: runs are started through the API by a training script and its GPU worker,
 * so this shows the script, ready to copy, for this instance; and, on a local instance, the demo.
 */
export function StartTraining(props: { id?: string }) {
  const ws = useWorkspace();
  const origin = window.location.origin;
  const local = /^(localhost|127\.0\.0\.1|\[::1\])$/.test(window.location.hostname);
  const snippet = () => trainingSnippet(origin, ws.current().id);
  // The demo talks to PUBLIC_URL, http://127.0.0.1:3000 unless set: name this instance when it is elsewhere.
  const demoCommand = () => (origin === 'http://127.0.0.1:3000' ? 'bun run demo' : `PUBLIC_URL=${origin} bun run demo`);
  return (
    <section class="start-training" id={props.id ?? 'start-training'} aria-labelledby={`${props.id ?? 'start-training'}-title`}>
      <h2 id={`${props.id ?? 'start-training'}-title`}>Start a training run</h2>
      <p class="muted">
        Runs start through the API: your training script creates the job, and its GPU worker reports the run and delivers the files.
      </p>
      <ol>
        <li>
          Create an <A href={ws.href('/tokens')}>API token</A> in this workspace.
        </li>
        <li>
          Run this script with <code>LORA_TOKEN</code> set to it and <code>OUTPUT_URI</code> set to the trained adapter's folder (an{' '}
          <code>s3://</code> prefix, or a <code>file://</code> folder this server may read).
        </li>
      </ol>
      <div class="snippet">
        {/* Focusable, so a keyboard can scroll it; the section names it for a screen reader. */}
        <section class="snippet-scroll" tabindex="0" aria-label="Training script">
          <pre data-testid="training-snippet" tabindex="0">
            <code>{snippet()}</code>
          </pre>
        </section>
        <CopyButton text={snippet()} label="the training script" class="snippet-copy" />
      </div>
      <Show
        when={local}
        fallback={
          <p class="muted small">
            Trying it on your own machine? In a checkout, <code>bun run demo</code> runs a whole training run against a local instance.
          </p>
        }
      >
        <p class="notice" data-testid="demo-hint">
          <strong>Run the demo:</strong> in a second terminal, in the checkout, <code>{demoCommand()}</code> trains a run against this instance and
          delivers a real LoRA adapter to the catalogue of its demo user (demo@example.com, password <code>lora-demo-password</code>).
        </p>
      </Show>
    </section>
  );
}
