/**
 * `lora jobs watch JOB_ID`: follows a training run until its model is ready (exit 0) or the run or its ingest
 * failed (exit 1). `jobs.get` is the truth, asked every few seconds and at once whenever `GET /api/events`
 * (server-sent events, `event: job`) announces a change of this job; without that stream (an older service, a
 * proxy that buffers) polling alone gets there, a few seconds later.
 */
import type { createClient } from '../client.ts';
import { CliError, EXIT, toCliError } from './errors.ts';

type Api = ReturnType<typeof createClient>;

/** One server-sent event, as the stream's fields spell it. */
interface ServerEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Reads `text/event-stream` (id, event, data, retry; comments ignored) and hands each event to `onEvent`;
 * resolves when the stream ends. Returns the last id seen, for Last-Event-ID on the next connection.
 */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (e: ServerEvent) => void, lastId: string | null): Promise<string | null> {
  const decoder = new TextDecoder();
  let buffer = '';
  let current: ServerEvent = { id: null, event: 'message', data: '' };
  let hasData = false;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(buffer.startsWith('\r\n', nl) ? nl + 2 : nl + 1);
      if (line === '') {
        if (hasData) {
          if (current.id !== null) lastId = current.id;
          onEvent(current);
        }
        current = { id: null, event: 'message', data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') current.event = value;
      else if (field === 'id') current.id = value;
      else if (field === 'data') {
        current.data = hasData ? `${current.data}\n${value}` : value;
        hasData = true;
      }
    }
  }
  return lastId;
}

/**
 * Keeps a connection to `/api/events` open and calls `onJob(jobId)` for every `job` event (and `null` after each
 * reconnection, when events may have been missed). Gives up quietly on a service without the route.
 */
async function followEvents(baseUrl: string, token: string, onJob: (jobId: string | null) => void, signal: AbortSignal): Promise<void> {
  let lastId: string | null = null;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const res = await fetch(`${baseUrl}/api/events`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
        signal,
      });
      if (res.status === 404 || res.status === 405 || res.status === 501) {
        await res.body?.cancel();
        return;
      }
      if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      failures = 0;
      onJob(null);
      lastId = await readEvents(
        res.body,
        (e) => {
          if (e.event !== 'job') return;
          try {
            const data = JSON.parse(e.data) as { jobId?: unknown };
            if (typeof data.jobId === 'string') onJob(data.jobId);
          } catch {
            // Not ours to judge: the poll is the truth anyway.
          }
        },
        lastId,
      );
    } catch {
      if (signal.aborted) return;
      failures++;
    }
    // Reconnect after a pause that grows while the stream keeps failing (2 s, as the stream's `retry:` asks, up to 30 s).
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(30_000, 2000 * 2 ** Math.min(failures, 4)));
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve(null);
        },
        { once: true },
      );
    });
  }
}

type Job = Awaited<ReturnType<Api['jobs']['get']['query']>>;

const describe = (job: Job) => (job.status === 'completed' ? `completed, ingest ${job.ingestStatus}` : job.status);

/** How long the service may stay unreachable before the watch gives up (exit 6). */
const UNREACHABLE_LIMIT_MS = 120_000;

export async function watchJob(
  api: Api,
  credentials: { url: string; token: string },
  jobId: string,
  options: { json: boolean; intervalMs: number },
  print: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const done = AbortSignal.any([signal, stop.signal]);
  let wake: (() => void) | null = null;
  const events = followEvents(
    credentials.url,
    credentials.token,
    (id) => {
      if (id === null || id === jobId) wake?.();
    },
    done,
  );
  let last = '';
  let unreachableSince: number | null = null;
  try {
    for (;;) {
      signal.throwIfAborted();
      let job: Job | null = null;
      try {
        job = await api.jobs.get.query({ jobId });
        unreachableSince = null;
      } catch (err) {
        const cli = toCliError(err, credentials.url);
        // A service restarting is waited out; a refusal (token, unknown job) is final.
        if (cli.exitCode !== EXIT.unavailable) throw cli;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > UNREACHABLE_LIMIT_MS) throw cli;
      }
      if (job) {
        const now = describe(job);
        if (now !== last) {
          last = now;
          print(
            options.json
              ? JSON.stringify({ event: 'status', jobId, name: job.name, status: job.status, ingestStatus: job.ingestStatus })
              : `${job.name}: ${now}`,
          );
        }
        if (job.status === 'failed' || job.status === 'cancelled') {
          throw new CliError(EXIT.failure, `job ${job.name} ${job.status}${job.error ? `: ${job.error}` : ''}`);
        }
        if (job.ingestStatus === 'failed')
          throw new CliError(EXIT.failure, `the ingest of ${job.name} failed${job.ingestError ? `: ${job.ingestError}` : ''}`);
        if (job.ingestStatus === 'ready' && job.artifactId) {
          const model = await api.models.get.query({ modelId: job.artifactId });
          const link = `${credentials.url}/models/${model.id}`;
          if (options.json) print(JSON.stringify({ event: 'ready', jobId, modelId: model.id, ref: model.ref, url: link }));
          else print(`Model ready: ${model.ref} (${model.id})\n  ${link}\n  lora pull ${model.ref}`);
          return;
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, options.intervalMs);
        function finish() {
          clearTimeout(timer);
          wake = null;
          signal.removeEventListener('abort', finish);
          resolve();
        }
        wake = finish;
        signal.addEventListener('abort', finish, { once: true });
      });
    }
  } finally {
    stop.abort();
    await events;
  }
}
