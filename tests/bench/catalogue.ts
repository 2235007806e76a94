/**
 * Catalogue at scale: 1,000,000 models in all, 100,000 of them in one user's personal workspace
 * (interleaved in the heap, as real arrivals are), inserted with generate_series (users with their
 * personal workspaces, datasets, training_jobs, model_artifacts) then VACUUM ANALYZE (the state
 * autovacuum reaches within a minute of such a load). Then, against a real Bun.serve of the app
 * (startTestService) with the user's Bearer token, from a separate client process (catalogue-load.ts), each goal of issue 15 against its anchor measured in the same run:
 *   - models.list page 1 over HTTP against the same two queries as bare SQL (exactly what drizzle
 *     generates for listModels, captured from its logger) under the same RLS setup (transaction +
 *     set_config + set local role): p50 with one client (goal: at most 1 ms above SQL's), and
 *     throughput with 32 (goal: at least 0.7 of SQL's)
 *   - models.download of a 20-file model against models.get of it: p50 with one client (goal: at most
 *     2 ms above), throughput with 32 (goal: at least 0.7 of get's)
 *   - page 500 by cursor and by offset, reported
 * and EXPLAIN (ANALYZE, BUFFERS) of the first-page, cursor and count queries.
 * Standalone: `bun tests/bench/catalogue.ts`.
 */
import path from 'node:path';
import { sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from '../../db/schema/index.ts';
import type { Tx } from '../../db/client.ts';
import * as q from '../../server/models/queries.ts';
import { listModelsInput } from '../../server/models/schemas.ts';
import { personalWorkspaceOf } from '../helpers/factories.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import type { Latency, Scenario } from './catalogue-load.ts';
import { emit, info } from './lib.ts';

const BENCH = 'catalogue';
const TOTAL = 1_000_000;
const OTHER_USERS = 999;
const CONCURRENCY = 32;
const DEEP_PAGE = 500;

async function load(s: Scenario): Promise<Latency> {
  try {
    return await loadOnce(s);
  } catch (e) {
    emit(BENCH, `load generator failed (${s.mode})`, String((e as Error).message).slice(0, 120), '');
    // NaN figures, so the report goes on with the remaining scenarios.
    return { n: 0, p50: NaN, p99: NaN, max: NaN, rps: NaN, clientCpuUs: NaN };
  }
}

/** The generator's last stdout line. */
async function loadOnce(s: Scenario): Promise<Latency> {
  const proc = Bun.spawn(['bun', path.join(import.meta.dir, 'catalogue-load.ts'), JSON.stringify(s)], { stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  if (code !== 0) throw new Error(`load generator exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!);
}

async function seed(pg: postgres.Sql, mainUser: string, mainWorkspace: string) {
  await pg`set synchronous_commit = off`;
  await pg`set maintenance_work_mem = '256MB'`;
  await pg`insert into users (id, name, email) select 'bench-u-' || g, 'Bench user ' || g, 'bench-u-' || g || '@example.com' from generate_series(1, ${OTHER_USERS}) g`;
  // Each other user owns a personal workspace (id md5('ws-' || g)), as sign-up makes one.
  await pg`
    insert into workspaces (id, name, slug, personal_user_id)
    select md5('ws-' || g)::uuid, 'Bench user ' || g, 'bench-u-' || g, 'bench-u-' || g from generate_series(1, ${OTHER_USERS}) g`;
  await pg`
    insert into workspace_members (workspace_id, user_id, role)
    select md5('ws-' || g)::uuid, 'bench-u-' || g, 'owner' from generate_series(1, ${OTHER_USERS}) g`;
  await pg`
    insert into datasets (id, workspace_id, created_by, name, format, row_count)
    select md5('ds-main-' || g)::uuid, ${mainWorkspace}::uuid, ${mainUser}, 'dataset-' || g, 'jsonl', 1000 * (g + 1) from generate_series(0, 9) g`;
  await pg`
    insert into datasets (id, workspace_id, created_by, name, format, row_count)
    select md5('ds-' || g)::uuid, md5('ws-' || g)::uuid, 'bench-u-' || g, 'dataset', 'jsonl', 1000 from generate_series(1, ${OTHER_USERS}) g`;
  const rows = pg`
    select g,
      case when g % 10 = 0 then ${mainUser} else 'bench-u-' || ((g % ${OTHER_USERS}) + 1) end as u,
      case when g % 10 = 0 then ${mainWorkspace}::uuid else md5('ws-' || ((g % ${OTHER_USERS}) + 1))::uuid end as w,
      case when g % 10 = 0 then md5('ds-main-' || ((g / 10) % 10))::uuid else md5('ds-' || ((g % ${OTHER_USERS}) + 1))::uuid end as d,
      now() - ((${TOTAL} - g) * interval '30 seconds') - (g % 997) * interval '1 millisecond' as c,
      case when g % 13 = 0 then null else 1 + ((g * 7) % 5) end as qs
    from generate_series(1, ${TOTAL}) g`;
  let t = performance.now();
  await pg`
    insert into training_jobs (id, workspace_id, created_by, dataset_id, name, family, status, config, gpu, output_uri, worker_token_hash, started_at, completed_at,
      epochs_completed, total_steps, duration_seconds, cost_usd, artifact_id, ingest_status, ingest_attempts, created_at, updated_at)
    select md5('job-' || g)::uuid, w, u, d, 'run-' || g, 'run', 'completed',
      '{"baseModel":"Qwen/Qwen2.5-0.5B","loraRank":8,"loraAlpha":16,"learningRate":0.0002,"epochs":3,"batchSize":8}'::jsonb,
      '{"type":"A100-80GB","count":1}'::jsonb, 'file:///bench/out/' || g, md5('wt-' || g), c - interval '2 hours', c - interval '1 minute',
      3, 1000, 5400, 3.42, overlay(overlay(md5('art-' || g) placing '4' from 13) placing '8' from 17)::uuid, 'ready', 1, c - interval '3 hours', c
    from (${rows}) s`;
  info(BENCH, `training_jobs: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  await pg`
    insert into model_artifacts (id, workspace_id, created_by, job_id, dataset_id, name, family, version, quality_score, convergence, loss_reduction_pct, initial_loss,
      final_training_loss, final_validation_loss, overfit_gap, perplexity, epochs_completed, total_steps, duration_seconds, total_cost,
      hyperparameters, gpu, adapter, best_checkpoint, loss_curve, storage_prefix, total_bytes, file_count, created_at)
    select overlay(overlay(md5('art-' || g) placing '4' from 13) placing '8' from 17)::uuid, w, u, md5('job-' || g)::uuid, d, 'run-' || g, 'run', g, qs::smallint,
      case when qs is null then null when qs = 5 then 'excellent' when qs = 4 then 'good' when qs = 3 then 'fair' else 'poor' end,
      case when qs is null then null else 10.0 * qs + 5 end, 2.5, 2.5 * (1 - (10.0 * coalesce(qs, 0) + 5) / 100), 0.9, 0.1, 2.46,
      3, 1000, 5400, 3.42,
      '{"baseModel":"Qwen/Qwen2.5-0.5B","loraRank":8,"loraAlpha":16,"learningRate":0.0002,"epochs":3,"batchSize":8}'::jsonb,
      '{"type":"A100-80GB","count":1}'::jsonb,
      '{"baseModel":"Qwen/Qwen2.5-0.5B","rank":8,"alpha":16,"targetModules":["q_proj","v_proj"],"dtype":"F32","parameterCount":1081344}'::jsonb,
      null, '[{"step":1,"trainingLoss":2.5,"validationLoss":null},{"step":500,"trainingLoss":1.1,"validationLoss":1.2},{"step":1000,"trainingLoss":0.8,"validationLoss":0.9}]'::jsonb,
      'artifacts/' || overlay(overlay(md5('art-' || g) placing '4' from 13) placing '8' from 17)::uuid || '/', 20000000 + g, 8, c
    from (${rows}) s`;
  info(BENCH, `model_artifacts: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  await pg`vacuum (analyze) users, workspaces, workspace_members, datasets, training_jobs, model_artifacts`;
  info(BENCH, `vacuum analyze: ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

export async function main() {
  const svc = await startTestService({ label: 'bench_catalogue', env: { LOG_LEVEL: 'silent' } });
  const pg = postgres(svc.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const { userId, token } = await newUser(svc, 'bench-catalogue');
    const workspaceId = await personalWorkspaceOf(svc.deps, userId);
    const t0 = performance.now();
    await seed(pg, userId, workspaceId);
    emit(BENCH, 'seed 1M models (100k for one user) + VACUUM ANALYZE', (performance.now() - t0) / 1000, 's');
    await pg`reset synchronous_commit`;

    // A 20-file model of the user (the newest one), for models.download.
    const [model] = await pg`select id, storage_prefix from model_artifacts where workspace_id = ${workspaceId} order by created_at desc limit 1`;
    await pg`
      insert into artifact_files (artifact_id, workspace_id, path, storage_key, size_bytes, sha256, kind, content_type)
      select ${model!.id}::uuid, ${workspaceId}::uuid, case when k = 0 then 'adapter_model.safetensors' else 'checkpoint-' || (k * 100) || '/adapter_model.safetensors' end,
        ${model!.storage_prefix} || k, 20000000, md5('f' || k) || md5('g' || k), case when k = 0 then 'adapter_weights' else 'checkpoint' end, 'application/octet-stream'
      from generate_series(0, 19) k`;

    const auth = { authorization: `Bearer ${token}` };
    const listUrl = (input: object) => `${svc.url}/trpc/models.list?input=${encodeURIComponent(JSON.stringify(input))}`;
    const firstInput = { page: 1, limit: 12, sort: 'recent' as const };

    // Walk the cursor to page 500 once (capped at 20 s: past that, the cursor of page 500 is computed
    // in SQL with the same encoding the service uses, and the walk's per-request time is reported).
    let cursor: string | null = null;
    const tw = performance.now();
    let walked = 0;
    for (let page = 1; page < DEEP_PAGE && performance.now() - tw < 20_000; page++) {
      const res = await fetch(listUrl({ ...firstInput, page, ...(cursor ? { cursor } : {}) }), { headers: auth });
      const body = (await res.json()) as { result: { data: { nextCursor: string | null } } };
      cursor = body.result.data.nextCursor;
      walked = page;
      if (!cursor) throw new Error(`no cursor after page ${page}`);
    }
    const walkMs = performance.now() - tw;
    emit(BENCH, `cursor walk: mean per page (${walked} sequential requests)`, walkMs / walked, 'ms');
    if (walked < DEEP_PAGE - 1) {
      info(BENCH, `cursor walk reached page ${walked + 1} in 20 s; computing the page-500 cursor in SQL`);
      const [last] = await pg`
        select coalesce(quality_score, 0) as score, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as key, id
        from model_artifacts where workspace_id = ${workspaceId} order by created_at desc, id desc offset ${(DEEP_PAGE - 1) * 12 - 1} limit 1`;
      cursor = Buffer.from(JSON.stringify(['recent', last!.score, last!.key, last!.id])).toString('base64url');
    }
    const deepInput = { ...firstInput, page: DEEP_PAGE, cursor: cursor! };

    // The SQL drizzle generates for listModels (rows + count), captured from its logger.
    const captured: { query: string; params: unknown[] }[] = [];
    const cdb = drizzle(pg, { schema, casing: 'snake_case', logger: { logQuery: (query, params) => captured.push({ query, params }) } });
    const capture = async (input: object) => {
      const parsed = listModelsInput.parse(input);
      const c = parsed.cursor
        ? (([sort, score, createdAt, id]) => ({ sort, score, createdAt, id }))(JSON.parse(Buffer.from(parsed.cursor, 'base64url').toString('utf8')))
        : null;
      captured.length = 0;
      await cdb.transaction(async (tx) => {
        await tx.execute(dsql`select set_config('app.user_id', ${userId}, true)`);
        await tx.execute(dsql`set local role app_user`);
        await q.listModels(tx as unknown as Tx, workspaceId, parsed, c);
      });
      const stmts = captured.filter((s) => /^select/i.test(s.query) && !s.query.includes('set_config'));
      return stmts.map((s) => ({ query: s.query, params: s.params.map((p) => (p instanceof Date ? p.toISOString() : p)) }));
    };
    const firstSql = await capture(firstInput);
    const deepSql = await capture(deepInput);
    info(BENCH, `rows query: ${firstSql[0]!.query}`);
    info(BENCH, `count query: ${firstSql[1]!.query}`);

    // EXPLAIN (ANALYZE, BUFFERS) under the same RLS setup.
    const explain = async (label: string, stmt: { query: string; params: unknown[] }) => {
      const lines = await pg.begin(async (tx) => {
        await tx`select set_config('app.user_id', ${userId}, true)`;
        await tx`set local role app_user`;
        return tx.unsafe(`explain (analyze, buffers) ${stmt.query}`, stmt.params as never[]);
      });
      const text = lines.map((l) => String(Object.values(l)[0])).join('\n');
      const recent = text.includes('model_artifacts_workspace_recent_idx');
      const quality = text.includes('model_artifacts_workspace_quality_idx');
      const exec = Number(/Execution Time: ([\d.]+)/.exec(text)?.[1] ?? NaN);
      const heap = [...text.matchAll(/Heap Fetches: (\d+)/g)].map((m) => Number(m[1])).reduce((a, b) => a + b, 0);
      const top = text.split('\n')[0]!.trim();
      info(
        BENCH,
        `EXPLAIN ${label}: ${top}\n  uses workspace_recent_idx=${recent} workspace_quality_idx=${quality} heapFetches=${heap} exec=${exec} ms`,
      );
      info(
        BENCH,
        text
          .split('\n')
          .slice(0, 14)
          .map((l) => `    ${l}`)
          .join('\n'),
      );
      emit(BENCH, `EXPLAIN ${label}: execution`, exec, 'ms', null, top);
      emit(BENCH, `EXPLAIN ${label}: index used`, recent ? 'workspace_recent_idx' : quality ? 'workspace_quality_idx' : 'neither', '', null);
    };
    async function explainAll() {
      await explain('page 1 recent rows', firstSql[0]!);
      await explain('page 500 cursor rows', deepSql[0]!);
      await explain('count(*)', firstSql[1]!);
      const qualFirst = await capture({ page: 1, limit: 12, sort: 'quality' });
      await explain('page 1 quality rows', qualFirst[0]!);
    }

    await explainAll();

    const http = (input: object, n: number, concurrency = CONCURRENCY) =>
      load({ mode: 'http', url: listUrl(input), method: 'GET', headers: auth, n, concurrency, warmup: 64 });
    const bare = (statements: { query: string; params: unknown[] }[], rls: boolean, n: number) =>
      load({ mode: 'sql', dbUrl: svc.databaseUrl, statements, rlsUserId: rls ? userId : null, n, concurrency: CONCURRENCY, warmup: 64 });

    const report = (label: string, r: { p50: number; p99: number; rps: number }, goal: string | null) => {
      emit(BENCH, `${label} p50`, r.p50, 'ms');
      emit(BENCH, `${label} p99`, r.p99, 'ms', goal);
      info(BENCH, `${label}: p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} ms, ${r.rps.toFixed(0)} req/s`);
    };
    // Deep pages by keyset cursor, reported (the goals below are page 1's).
    const httpDeep = await http(deepInput, 2000);
    report('HTTP models.list page 500 by cursor (c=32)', httpDeep, null);
    const sqlDeep = await bare(deepSql, true, 2000);
    report('SQL+RLS listModels page 500 cursor (c=32)', sqlDeep, null);
    const offsetDeep = await http({ ...firstInput, page: DEEP_PAGE }, 500);
    report('HTTP models.list page 500 by offset, no cursor (c=32)', offsetDeep, null);

    // Goal 2 (issue 15): what HTTP, tRPC and authentication add to models.list's own SQL under RLS.
    // c=1 alternates HTTP and SQL three times and keeps each one's best p50, so drift hits both alike.
    const c1 = { http: [] as number[], sql: [] as number[] };
    for (let round = 0; round < 3; round++) {
      c1.http.push((await http(firstInput, 600, 1)).p50);
      c1.sql.push(
        (await load({ mode: 'sql', dbUrl: svc.databaseUrl, statements: firstSql, rlsUserId: userId, n: 600, concurrency: 1, warmup: 10 })).p50,
      );
    }
    const httpP50 = Math.min(...c1.http);
    const sqlP50 = Math.min(...c1.sql);
    emit(BENCH, 'models.list c=1: HTTP p50 (best of 3)', httpP50, 'ms');
    emit(BENCH, 'models.list c=1: SQL+RLS p50 (anchor, best of 3)', sqlP50, 'ms');
    emit(BENCH, 'models.list c=1: HTTP p50 minus SQL+RLS p50', httpP50 - sqlP50, 'ms', '<= 1');
    const tput = { http: [] as number[], sql: [] as number[] };
    for (let round = 0; round < 2; round++) {
      tput.http.push((await http(firstInput, 4000)).rps);
      tput.sql.push((await bare(firstSql, true, 4000)).rps);
    }
    const httpRps = Math.max(...tput.http);
    const sqlRps = Math.max(...tput.sql);
    emit(BENCH, 'models.list c=32: HTTP throughput (best of 2)', httpRps, 'req/s');
    emit(BENCH, 'models.list c=32: SQL+RLS throughput (anchor, best of 2)', sqlRps, 'req/s');
    emit(BENCH, 'models.list c=32: HTTP / SQL+RLS throughput', httpRps / sqlRps, 'x', '>= 0.7');

    // Goal 3: models.download of a 20-file model against models.get of the same model (both read the
    // model and its 20 files under RLS; download also signs 20 links and records the download).
    const getUrl = `${svc.url}/trpc/models.get?input=${encodeURIComponent(JSON.stringify({ modelId: model!.id }))}`;
    const get = (n: number, concurrency: number) => load({ mode: 'http', url: getUrl, method: 'GET', headers: auth, n, concurrency, warmup: 32 });
    const dl = (n: number, concurrency: number) =>
      load({
        mode: 'http',
        url: `${svc.url}/trpc/models.download`,
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ modelId: model!.id }),
        n,
        concurrency,
        warmup: 32,
      });
    const d1 = { get: [] as number[], dl: [] as number[] };
    const d32 = { get: [] as number[], dl: [] as number[] };
    for (let round = 0; round < 2; round++) {
      d1.get.push((await get(600, 1)).p50);
      d1.dl.push((await dl(600, 1)).p50);
      d32.get.push((await get(3000, CONCURRENCY)).rps);
      d32.dl.push((await dl(3000, CONCURRENCY)).rps);
    }
    emit(BENCH, 'models.get c=1 p50 (anchor, best of 2)', Math.min(...d1.get), 'ms');
    emit(BENCH, 'models.download 20 files c=1 p50 (best of 2)', Math.min(...d1.dl), 'ms');
    emit(BENCH, 'models.download c=1 p50 minus models.get p50', Math.min(...d1.dl) - Math.min(...d1.get), 'ms', '<= 2');
    emit(BENCH, 'models.get c=32 throughput (anchor, best of 2)', Math.max(...d32.get), 'req/s');
    emit(BENCH, 'models.download c=32 throughput (best of 2)', Math.max(...d32.dl), 'req/s');
    emit(BENCH, 'models.download / models.get throughput, c=32', Math.max(...d32.dl) / Math.max(...d32.get), 'x', '>= 0.7');
  } finally {
    await pg.end();
    await svc.stop();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
