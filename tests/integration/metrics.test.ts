/**
 * /metrics (server/metrics/): the Prometheus text format, parsed strictly here (prom-client has no parser);
 * requests timed by tRPC procedure (each call of a batch) or route pattern, never by a raw path; the
 * METRICS_TOKEN / local-caller guard; queue gauges read live from pg-boss; a real ingest, downloads and
 * signed links counted.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { freePort } from '../helpers/net.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const TOKEN = 'metrics-token-for-tests-0123456789';

let open: TestService; // no METRICS_TOKEN, behind one trusted proxy (TRUST_PROXY=1)
let guarded: TestService; // METRICS_TOKEN set
beforeAll(async () => {
  [open, guarded] = await Promise.all([
    startTestService({ label: 'metrics_open', env: { TRUST_PROXY: '1' } }),
    startTestService({ label: 'metrics_guarded', env: { METRICS_TOKEN: TOKEN } }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
});

// --- a strict parser of the text exposition format (version 0.0.4) ---

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  // Prometheus reads values with Go's strconv.ParseFloat, which takes NaN in any case; prom-client writes `Nan`
  // (its util.js), e.g. for the event-loop lag's mean when no delay was sampled since the last scrape.
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!NUMBER.test(text)) throw new Error(`not a sample value: ${JSON.stringify(text)}`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from `start` (at the `{`): the labels and the index after the `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`label without '=': ${line}`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice: ${line}`);
    if (line[eq + 1] !== '"') throw new Error(`label value not quoted: ${line}`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const ch = line[j];
      if (ch === undefined) throw new Error(`unterminated label value: ${line}`);
      if (ch === '"') break;
      if (ch === '\\') {
        const next = line[j + 1];
        if (next === '\\' || next === '"') value += next;
        else if (next === 'n') value += '\n';
        else throw new Error(`bad escape \\${next}: ${line}`);
        j += 2;
      } else {
        value += ch;
        j += 1;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i += 1;
    else if (line[i] !== '}') throw new Error(`expected ',' or '}' after a label: ${line}`);
  }
}

/** The families of a scrape, by name. Throws on anything the format does not allow. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  const familyOf = (name: string): Family | undefined => {
    const own = families.get(name);
    if (own) return own;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (!name.endsWith(suffix)) continue;
      const base = families.get(name.slice(0, -suffix.length));
      if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
    }
    return undefined;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) continue; // any other comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in ${line}`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`HELP twice for ${name}`);
        if (/\\[^\\n]/.test(rest.replaceAll('\\\\', ''))) throw new Error(`bad escape in HELP: ${line}`);
        helps.set(name, rest);
        const f = families.get(name);
        if (f) f.help = rest;
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad TYPE: ${line}`);
        if (families.has(name)) throw new Error(`TYPE twice for ${name}`);
        families.set(name, { type: rest, help: helps.get(name) ?? null, samples: [] });
      }
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`not a sample line: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name: ${line}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i));
    const fields = line.slice(i).trim().split(/ +/);
    if (line[i] !== ' ' || fields.length < 1 || fields.length > 2) throw new Error(`bad value part: ${line}`);
    const value = parseValue(fields[0]!);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`bad timestamp: ${line}`);
    const family = familyOf(name);
    if (!family) throw new Error(`sample of an undeclared family: ${line}`);
    if (family.type === 'histogram' && name.endsWith('_bucket') && !('le' in labels)) throw new Error(`bucket without le: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series twice: ${line}`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  }
  // Histograms: cumulative buckets ending in +Inf, which equals _count, per series.
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of f.samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => parseValue(b.labels.le!));
      for (let k = 1; k < buckets.length; k++) {
        if (les[k]! <= les[k - 1]! || buckets[k]!.value < buckets[k - 1]!.value) throw new Error(`${name}${key}: buckets not cumulative`);
      }
      if (les.at(-1) !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`);
      const count = f.samples.find((x) => x.name === `${name}_count` && JSON.stringify(Object.entries(x.labels).sort()) === key);
      if (count?.value !== buckets.at(-1)!.value) throw new Error(`${name}${key}: _count differs from the +Inf bucket`);
    }
  }
  return families;
}

/** The value of the one sample `name` with exactly `labels`, or undefined when there is none. */
function sample(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  const want = JSON.stringify(Object.entries(labels).sort());
  return family?.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

async function scrape(svc: TestService, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}/metrics`, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return { text, families: parseExposition(text), contentType: res.headers.get('content-type') };
}

const requests = (families: Map<string, Family>, procedure: string, status: string) =>
  sample(families, 'lora_http_request_duration_seconds_count', { procedure, status }) ?? 0;

const OUR_METRICS = [
  ['lora_http_request_duration_seconds', 'histogram'],
  ['lora_ingest_duration_seconds', 'histogram'],
  ['lora_ingest_bytes_total', 'counter'],
  ['lora_queue_jobs', 'gauge'],
  ['lora_queue_oldest_ready_age_seconds', 'gauge'],
  ['lora_webhook_deliveries_total', 'counter'],
  ['lora_downloads_total', 'counter'],
  ['lora_signed_links_issued_total', 'counter'],
] as const;

describe('the scrape', () => {
  test('parses as the text format, with every metric of the service, the process metrics, and outcomes at 0 from the start', async () => {
    const { families, contentType } = await scrape(open);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const [name, type] of OUR_METRICS) {
      expect({ name, type: families.get(name)?.type, help: Boolean(families.get(name)?.help) }).toEqual({ name, type, help: true });
    }
    // prom-client's process metrics, under our prefix, and none of the V8-only ones that read as zeros under Bun.
    expect(sample(families, 'lora_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(families, 'lora_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(families.has('lora_nodejs_eventloop_lag_seconds')).toBe(true);
    expect([...families.keys()].filter((n) => /heap_space|active_handles|active_requests|active_resources|gc_duration/.test(n))).toEqual([]);
    // A rate() needs a first sample: known outcomes start at 0 before anything happened.
    for (const outcome of ['succeeded', 'failed', 'gave_up']) expect(sample(families, 'lora_webhook_deliveries_total', { outcome })).toBe(0);
    for (const outcome of ['delivered', 'failed', 'retried']) {
      expect(sample(families, 'lora_ingest_duration_seconds_count', { outcome })).toBe(0);
      expect(sample(families, 'lora_ingest_bytes_total', { outcome })).toBe(0);
    }
    for (const via of ['member', 'share'])
      for (const kind of ['files', 'bundle']) expect(sample(families, 'lora_downloads_total', { kind, via })).toBe(0);
    for (const kind of ['file', 'bundle', 'many']) expect(sample(families, 'lora_signed_links_issued_total', { kind })).toBe(0);
  });

  test('the parser is strict: it refuses what the format does not allow', () => {
    const head = '# HELP x_total X.\n# TYPE x_total counter\n';
    expect(() => parseExposition(`${head}x_total 1\n`)).not.toThrow();
    for (const bad of [
      `${head}x_total 1`, // no final newline
      `${head}x_total one\n`,
      `${head}x_total{a="1} 1\n`,
      `${head}x_total{a="\\q"} 1\n`,
      `${head}x_total{1a="1"} 1\n`,
      `${head}x_total 1\nx_total 2\n`,
      `${head}y_total 1\n`,
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n',
    ]) {
      expect(() => parseExposition(bad)).toThrow();
    }
  });
});

describe('request latency', () => {
  test('a tRPC call is counted under its procedure and status, once per call', async () => {
    const user = await newUser(open, 'counted');
    const before = (await scrape(open)).families;
    for (let i = 0; i < 3; i++) await user.api.models.list.query({});
    // An unauthenticated call: the same procedure, another status.
    expect((await fetch(`${open.url}/trpc/models.list?input=${encodeURIComponent('{}')}`)).status).toBe(401);
    const after = (await scrape(open)).families;
    expect(requests(after, 'models.list', '200') - requests(before, 'models.list', '200')).toBe(3);
    expect(requests(after, 'models.list', '401') - requests(before, 'models.list', '401')).toBe(1);
    // Its time is in the sum, and in a bucket no wider than +Inf.
    const sum = (f: Map<string, Family>) => sample(f, 'lora_http_request_duration_seconds_sum', { procedure: 'models.list', status: '200' }) ?? 0;
    expect(sum(after)).toBeGreaterThan(sum(before));
  });

  test('a batch counts each of its procedures; a name the router lacks is `unknown`, not a label of its own', async () => {
    const user = await newUser(open, 'batch');
    const before = (await scrape(open)).families;
    const input = encodeURIComponent(JSON.stringify({ 0: {}, 1: {}, 2: {} }));
    const res = await fetch(`${open.url}/trpc/models.list,notifications.list,models.list?batch=1&input=${input}`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBe(3);
    const bogus = `no.such${crypto.randomUUID().slice(0, 8)}`;
    const mixed = await fetch(`${open.url}/trpc/models.list,${bogus}?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: {}, 1: {} }))}`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    const mixedStatus = String(mixed.status);
    const { families: after, text } = await scrape(open);
    expect(requests(after, 'models.list', '200') - requests(before, 'models.list', '200')).toBe(mixedStatus === '200' ? 3 : 2);
    expect(requests(after, 'notifications.list', '200') - requests(before, 'notifications.list', '200')).toBe(1);
    expect(requests(after, 'models.list', mixedStatus) - requests(before, 'models.list', mixedStatus)).toBeGreaterThanOrEqual(1);
    expect(requests(after, 'unknown', mixedStatus) - requests(before, 'unknown', mixedStatus)).toBe(1);
    expect(text).not.toContain(bogus);
  });

  test('ids, tokens and signed keys in a path never become labels: routes are timed by their pattern', async () => {
    const secret = crypto.randomUUID();
    const before = (await scrape(open)).families;
    const calls: [string, string][] = [
      [`/files/models/${secret}/0?exp=1&sig=${secret}`, '/files/*'],
      [`/bundles/${secret}.zip?exp=1&sig=x`, '/bundles/*'],
      [`/api/${secret}`, '/api/*'],
      [`/api/auth/${secret}`, '/api/auth/*'],
      [`/s/${secret}`, '/s/*'],
      [`/models/${secret}`, 'other'],
      [`/trpc/${secret}`, 'unknown'],
      ['/healthz', '/healthz'],
    ];
    const statuses: string[] = [];
    for (const [path] of calls) statuses.push(String((await fetch(`${open.url}${path}`)).status));
    const { families: after, text } = await scrape(open);
    calls.forEach(([path, pattern], i) => {
      expect({ path, moved: requests(after, pattern, statuses[i]!) - requests(before, pattern, statuses[i]!) }).toEqual({ path, moved: 1 });
    });
    expect(text).not.toContain(secret);
    // Every procedure label is a procedure of the router or one of the patterns.
    const labels = new Set(after.get('lora_http_request_duration_seconds')!.samples.map((s) => s.labels.procedure!));
    for (const label of labels) expect(label).toMatch(/^([a-z]+\.[a-zA-Z.]+|\/[a-z/]*\*?|other|unknown)$/);
  });
});

describe('the guard', () => {
  test('with METRICS_TOKEN: no token or a wrong one is 401 in the JSON envelope, even from this machine; the token is 200', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token',
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      TOKEN,
      `Basic ${btoa(`x:${TOKEN}`)}`,
    ]) {
      const res = await fetch(`${guarded.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.requestId).toBeTruthy();
      expect(JSON.stringify(body)).not.toContain('lora_');
    }
    const ok = await scrape(guarded, { authorization: `Bearer ${TOKEN}` });
    expect(ok.families.has('lora_http_request_duration_seconds')).toBe(true);
    // The refusals were requests too, counted under the route's pattern.
    expect(requests(ok.families, '/metrics', '401')).toBe(6);
    // The token works from anywhere: that is what it is for.
    expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '203.0.113.9' } })).status).toBe(
      200,
    );
  });

  test('without a token: a caller on this machine scrapes, an outside client behind the trusted proxy gets 403', async () => {
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200);
    // 127.0.0.2 is loopback too (127.0.0.0/8), so "non-local" is tested as a public client forwarded by the trusted proxy.
    const remote = await fetch(`${open.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(remote.status).toBe(403);
    const body = (await remote.json()) as { error: { code: string } };
    expect(body.error.code).toBe('FORBIDDEN');
    // A client's own spoofed entry left of the proxy's does not make it local: the proxy's (rightmost) entry decides.
    expect((await fetch(`${open.url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1, 203.0.113.9' } })).status).toBe(403);
    // The local proxy forwarding a local client is local.
    expect((await fetch(`${open.url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(200);
  });
});

describe('queues', () => {
  test('every queue has its depth by state and the age of its oldest ready job, read live from pg-boss', async () => {
    const { families } = await scrape(open);
    for (const state of ['ready', 'deferred', 'active'])
      expect(sample(families, 'lora_queue_jobs', { queue: 'ingest-artifact', state })).toBeNumber();
    expect(sample(families, 'lora_queue_oldest_ready_age_seconds', { queue: 'ingest-artifact' })).toBeNumber();

    // The dead-letter queue has no worker: what is sent there waits, and the gauges show it.
    const dead = 'ingest-artifact-dead';
    const depth = (f: Map<string, Family>, state: string) => sample(f, 'lora_queue_jobs', { queue: dead, state }) ?? Number.NaN;
    const before = (await scrape(open)).families;
    const ready = await open.deps.boss.send(dead, { jobId: crypto.randomUUID() });
    const later = await open.deps.boss.send(dead, { jobId: crypto.randomUUID() }, { startAfter: 3600 });
    try {
      const after = (await scrape(open)).families;
      expect(depth(after, 'ready') - depth(before, 'ready')).toBe(1);
      expect(depth(after, 'deferred') - depth(before, 'deferred')).toBe(1);
      expect(sample(after, 'lora_queue_oldest_ready_age_seconds', { queue: dead })).toBeGreaterThan(0);
    } finally {
      await open.deps.boss.deleteJob(dead, [ready!, later!]);
    }
    const cleared = (await scrape(open)).families;
    expect(depth(cleared, 'ready')).toBe(depth(before, 'ready'));
    expect(depth(cleared, 'deferred')).toBe(depth(before, 'deferred'));
  });
});

/** Scrapes until `moved` says the counters moved (a job counts right after it commits), or 10 s passed. */
async function scrapeUntil(svc: TestService, moved: (f: Map<string, Family>) => boolean) {
  let families = (await scrape(svc)).families;
  for (const deadline = Date.now() + 10_000; !moved(families) && Date.now() < deadline; ) {
    await Bun.sleep(20);
    families = (await scrape(svc)).families;
  }
  return families;
}

const ingests = (f: Map<string, Family>, outcome: string) => sample(f, 'lora_ingest_duration_seconds_count', { outcome }) ?? 0;

describe('ingest, downloads and signed links', () => {
  test('an ingest that fails for good counts as failed, with no bytes', async () => {
    expectErrorLog(/ingest failed/);
    const user = await newUser(open, 'ingest-fails');
    const before = (await scrape(open)).families;
    const run = await runTrainingJob(open, user.api, { writeOutput: (dir) => fs.rmSync(dir, { recursive: true }) });
    expect((await waitForIngest(user.api, run.jobId)).ingestStatus).toBe('failed');
    const after = await scrapeUntil(open, (f) => ingests(f, 'failed') > ingests(before, 'failed'));
    expect(ingests(after, 'failed') - ingests(before, 'failed')).toBe(1);
    expect(sample(after, 'lora_ingest_bytes_total', { outcome: 'failed' })).toBe(sample(before, 'lora_ingest_bytes_total', { outcome: 'failed' })!);
    expect(ingests(after, 'delivered')).toBe(ingests(before, 'delivered'));
  });

  test('a real ingest moves the delivered duration count by one and the bytes by what it stored', async () => {
    const user = await newUser(open, 'ingest');
    const before = (await scrape(open)).families;
    const run = await runTrainingJob(open, user.api);
    const job = await waitForIngest(user.api, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    const after = await scrapeUntil(open, (f) => ingests(f, 'delivered') > ingests(before, 'delivered'));
    expect(ingests(after, 'delivered') - ingests(before, 'delivered')).toBe(1);
    const model = await user.api.models.get.query({ modelId: job.artifactId! });
    // Stored by the ingest: every file but the card, which delivery renders.
    const copied = model.files.filter((f) => f.path !== 'README.md').reduce((a, f) => a + f.sizeBytes, 0);
    expect(copied).toBeGreaterThan(0);
    const bytes = (f: Map<string, Family>) => sample(f, 'lora_ingest_bytes_total', { outcome: 'delivered' }) ?? 0;
    expect(bytes(after) - bytes(before)).toBe(copied);
    for (const outcome of ['failed', 'retried']) {
      expect(sample(after, 'lora_ingest_duration_seconds_count', { outcome })).toBe(
        sample(before, 'lora_ingest_duration_seconds_count', { outcome }),
      );
    }

    // models.download: one download, a signed link per file and one for the bundle; a chosen file: one link, no bundle.
    const counts = (f: Map<string, Family>) => ({
      downloads: sample(f, 'lora_downloads_total', { kind: 'files', via: 'member' }) ?? 0,
      bundles: sample(f, 'lora_downloads_total', { kind: 'bundle', via: 'member' }) ?? 0,
      fileLinks: sample(f, 'lora_signed_links_issued_total', { kind: 'file' }) ?? 0,
      bundleLinks: sample(f, 'lora_signed_links_issued_total', { kind: 'bundle' }) ?? 0,
    });
    const start = counts((await scrape(open)).families);
    const all = await user.api.models.download.mutate({ modelId: model.id });
    expect(all.files.length).toBe(model.files.length);
    await user.api.models.download.mutate({ modelId: model.id, fileIds: [model.files[0]!.id] });
    const signed = counts((await scrape(open)).families);
    expect({
      downloads: signed.downloads - start.downloads,
      fileLinks: signed.fileLinks - start.fileLinks,
      bundleLinks: signed.bundleLinks - start.bundleLinks,
      bundles: signed.bundles - start.bundles,
    }).toEqual({ downloads: 2, fileLinks: all.files.length + 1, bundleLinks: 1, bundles: 0 });
    // A refused download (no such model) records nothing and signs nothing.
    await expect(user.api.models.download.mutate({ modelId: crypto.randomUUID() })).rejects.toThrow();
    // The bundle, fetched: one more download, of kind bundle.
    const zip = await fetch(all.bundle!.url);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
    const fetched = counts((await scrape(open)).families);
    expect({ ...fetched, bundles: fetched.bundles - signed.bundles }).toEqual({ ...signed, bundles: 1 });
  });
});

describe('a ROLE=worker process with METRICS_PORT', () => {
  test('serves /healthz, /readyz and /metrics there and nothing else, and counts the ingests it runs', async () => {
    const api = await startTestService({ label: 'metrics_split_api', env: { ROLE: 'api' } });
    const worker = await startTestService({
      label: 'metrics_split_worker',
      env: { ROLE: 'worker', DATA_DIR: api.dataDir, METRICS_PORT: String(await freePort()) },
      databaseUrl: api.databaseUrl,
    });
    try {
      const probes = worker.probesUrl!;
      expect(probes).toStartWith('http://127.0.0.1:');
      expect((await fetch(`${probes}/healthz`)).status).toBe(200);
      expect((await fetch(`${probes}/readyz`)).status).toBe(200);
      // No API on a worker: tRPC, the event stream and the dashboard are 404 in the JSON envelope.
      for (const p of ['/trpc/models.list', '/api/events', '/models']) {
        const res = await fetch(`${probes}${p}`);
        expect(res.status).toBe(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
      }
      const scrapeWorker = async () => {
        const res = await fetch(`${probes}/metrics`);
        expect(res.status).toBe(200);
        return parseExposition(await res.text());
      };
      const before = await scrapeWorker();
      const user = await newUser(api, 'split');
      const run = await runTrainingJob(api, user.api);
      expect((await waitForIngest(user.api, run.jobId)).ingestStatus).toBe('ready');
      let after = await scrapeWorker();
      for (const deadline = Date.now() + 10_000; ingests(after, 'delivered') === ingests(before, 'delivered') && Date.now() < deadline; ) {
        await Bun.sleep(20);
        after = await scrapeWorker();
      }
      // Counted where the ingest ran; the API process, which only queued it, counted none.
      expect(ingests(after, 'delivered') - ingests(before, 'delivered')).toBe(1);
      expect(ingests((await scrape(api)).families, 'delivered')).toBe(0);
    } finally {
      await worker.stop();
      await api.stop();
    }
  }, 60_000);
});
