import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What an ingest attempt ended as: delivered (or found delivered), failed for good, or failed and retried later. */
const INGEST_OUTCOMES = ['delivered', 'failed', 'retried'] as const;
/** What a webhook delivery attempt ended as (counted by server/webhooks). */
const WEBHOOK_OUTCOMES = ['succeeded', 'failed', 'gave_up'] as const;

/**
 * prom-client's defaults that mean nothing under Bun (JavaScriptCore, not V8): the V8 heap spaces read as
 * zeros, the active handle/request/resource counts as 0 whatever runs, and no GC entries ever reach the
 * observer. Exported they would look like facts; the process (CPU, memory, fds), event-loop lag and heap
 * totals are real and stay.
 */
const MEANINGLESS_UNDER_BUN = [
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_gc_duration_seconds',
];

const PREFIX = 'lora_';

/**
 * The service's Prometheus metrics, one registry per process (per `startService`, so tests running several
 * services in one process each count their own). Served at `/metrics` (server/metrics/route.ts). Every
 * label takes values from a closed set (route patterns, procedure names of the router, outcomes), never a
 * path, id or token; labels whose values are known up front start at 0, so a rate() has a first sample.
 */
export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  for (const name of MEANINGLESS_UNDER_BUN) registry.removeSingleMetric(PREFIX + name);

  const metrics = {
    registry,
    /**
     * Every HTTP request, to its response's headers (a streamed download's body is not timed): a tRPC
     * procedure by its path (`models.list`; each call of a batch on its own), any other route by its pattern.
     */
    httpRequestDuration: new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'HTTP request latency to response headers, by procedure (tRPC procedure or route pattern) and status code.',
      labelNames: ['procedure', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    /** One ingest attempt, from the job's start to delivery or failure. */
    ingestDuration: new Histogram({
      name: `${PREFIX}ingest_duration_seconds`,
      help: 'Duration of one ingest attempt by outcome (delivered, failed, retried).',
      labelNames: ['outcome'] as const,
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600],
      registers,
    }),
    ingestBytes: new Counter({
      name: `${PREFIX}ingest_bytes_total`,
      help: 'Bytes of whole files copied into storage by ingest attempts, by outcome (a file cut off by a failure is not counted).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: `${PREFIX}queue_jobs`,
      help: 'pg-boss jobs per queue and state (ready: may run now; deferred: waiting for a retry delay or start time; active), read at scrape time.',
      labelNames: ['queue', 'state'] as const,
      registers,
    }),
    queueOldestAge: new Gauge({
      name: `${PREFIX}queue_oldest_ready_age_seconds`,
      help: 'Seconds the oldest ready job of each queue has waited since it could run (0 when none waits), read at scrape time.',
      labelNames: ['queue'] as const,
      registers,
    }),
    webhookDeliveries: new Counter({
      name: `${PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts by outcome (succeeded, failed, gave_up).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    downloads: new Counter({
      name: `${PREFIX}downloads_total`,
      help: 'Downloads recorded (one per download_events row): kind files (signed file links) or bundle (a zip fetched), via member or share link.',
      labelNames: ['kind', 'via'] as const,
      registers,
    }),
    signedLinks: new Counter({
      name: `${PREFIX}signed_links_issued_total`,
      help: 'Signed download links handed out: kind file (one object), bundle (a model zip) or many (a zip of several models).',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
  for (const outcome of INGEST_OUTCOMES) {
    metrics.ingestDuration.zero({ outcome });
    metrics.ingestBytes.inc({ outcome }, 0);
  }
  for (const outcome of WEBHOOK_OUTCOMES) metrics.webhookDeliveries.inc({ outcome }, 0);
  for (const kind of ['files', 'bundle'] as const) for (const via of ['member', 'share'] as const) metrics.downloads.inc({ kind, via }, 0);
  for (const kind of ['file', 'bundle', 'many'] as const) metrics.signedLinks.inc({ kind }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
