import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { artifactFiles, datasets, modelArtifacts, modelFamilies, trainingJobs, type AdapterInfo } from '../../db/schema/index.ts';
import { familyFromName } from '../../server/registry/refs.ts';
import type { ConvergenceLabel, FileKind, JobConfig, LossPoint } from '../../server/vocabulary.ts';
import type { Deps } from '../../server/deps.ts';
import { personalWorkspace } from '../../server/workspaces/service.ts';

/**
 * Test-data factories: rows inserted directly with the owner's connection (bypassing row-level
 * security and the ingest), so catalogue tests can set scores, timestamps and names precisely.
 */

/** A valid `jobs.create` config (a small Qwen run); spread it to vary one field. */
export const sampleJobConfig = {
  baseModel: 'Qwen/Qwen2.5-0.5B',
  loraRank: 8,
  loraAlpha: 16,
  learningRate: 2e-4,
  epochs: 3,
  batchSize: 8,
} as const satisfies JobConfig;

/** The user's personal workspace (made if the user has none yet): where factories put rows by default. */
export function personalWorkspaceOf(deps: Deps, userId: string): Promise<string> {
  return personalWorkspace(deps.database.db, { id: userId, name: 'Personal' });
}

export async function insertDataset(deps: Deps, userId: string, name = 'dataset', workspaceId?: string): Promise<{ id: string; name: string }> {
  const [row] = await deps.database.db
    .insert(datasets)
    .values({ workspaceId: workspaceId ?? (await personalWorkspaceOf(deps, userId)), createdBy: userId, name, format: 'jsonl', rowCount: 100 })
    .returning({ id: datasets.id, name: datasets.name });
  return row!;
}

interface FileSpec {
  path: string;
  /** Written to storage under a server-style key when given; otherwise only the row is inserted. */
  bytes?: Uint8Array<ArrayBuffer>;
  kind?: FileKind;
  contentType?: string;
}

export interface ArtifactSpec {
  /** Default: the user's personal workspace. */
  workspaceId?: string;
  name?: string;
  /** Default: the name made a slug; the version is the family's next. */
  family?: string;
  datasetId?: string;
  qualityScore?: number | null;
  convergence?: ConvergenceLabel | null;
  /** Microseconds since the epoch, so ties and sub-millisecond order can be set exactly. */
  createdAtMicros?: bigint;
  durationSeconds?: number;
  totalCost?: number;
  lossCurve?: LossPoint[];
  adapter?: AdapterInfo | null;
  files?: FileSpec[];
}

interface InsertedFile {
  id: string;
  path: string;
  key: string;
  sha256: string;
  size: number;
  bytes: Uint8Array<ArrayBuffer> | null;
}

export interface InsertedArtifact {
  id: string;
  name: string;
  jobId: string;
  jobName: string;
  family: string;
  version: number;
  datasetId: string;
  qualityScore: number | null;
  convergence: ConvergenceLabel | null;
  createdAtMicros: bigint;
  files: InsertedFile[];
}

/** `2025-01-01T00:00:00.123456Z` from microseconds since the epoch. */
export function microsToIso(micros: bigint): string {
  const ms = micros / 1000n;
  const iso = new Date(Number(ms)).toISOString(); // …ss.mmmZ
  const extra = (micros % 1000n).toString().padStart(3, '0');
  return `${iso.slice(0, 23)}${extra}Z`;
}

/** A completed training job and its model artifact (with files), as the ingest would leave them. */
export async function insertArtifact(deps: Deps, userId: string, spec: ArtifactSpec = {}): Promise<InsertedArtifact> {
  const db = deps.database.db;
  const workspaceId = spec.workspaceId ?? (await personalWorkspaceOf(deps, userId));
  const datasetId = spec.datasetId ?? (await insertDataset(deps, userId, 'dataset', workspaceId)).id;
  const name = spec.name ?? `model-${randomBytes(3).toString('hex')}`;
  const createdAtMicros = spec.createdAtMicros ?? BigInt(Date.now()) * 1000n;
  const createdAt = sql`${microsToIso(createdAtMicros)}::timestamptz`;
  const jobName = `job-${name}`;
  const family = spec.family ?? familyFromName(name);
  const [familyRow] = await db
    .insert(modelFamilies)
    .values({ workspaceId, name: family, lastVersion: 1 })
    .onConflictDoUpdate({ target: [modelFamilies.workspaceId, modelFamilies.name], set: { lastVersion: sql`${modelFamilies.lastVersion} + 1` } })
    .returning({ version: modelFamilies.lastVersion });
  const version = familyRow!.version;
  const [job] = await db
    .insert(trainingJobs)
    .values({
      workspaceId,
      createdBy: userId,
      datasetId,
      name: jobName,
      family,
      status: 'completed',
      config: sampleJobConfig,
      gpu: { type: 'A100-80GB', count: 1 },
      outputUri: 'file:///nowhere',
      workerTokenHash: randomBytes(32).toString('hex'),
      startedAt: createdAt,
      completedAt: createdAt,
      epochsCompleted: 3,
      totalSteps: 300,
      durationSeconds: spec.durationSeconds ?? 5400,
      costUsd: spec.totalCost ?? 3.42,
      ingestStatus: 'ready',
      createdAt,
    })
    .returning({ id: trainingJobs.id });
  const artifactId = crypto.randomUUID();
  const prefix = `artifacts/${artifactId}/`;
  const files: InsertedFile[] = [];
  for (const [n, f] of (spec.files ?? []).entries()) {
    const bytes = f.bytes ?? null;
    const key = `${prefix}${n}`;
    if (bytes)
      await deps.storage.put(key, new Response(bytes).body!, {
        size: bytes.byteLength,
        contentType: f.contentType ?? 'application/octet-stream',
        fileName: f.path.split('/').pop()!,
      });
    files.push({
      id: crypto.randomUUID(),
      path: f.path,
      key,
      sha256: createHash('sha256')
        .update(bytes ?? f.path)
        .digest('hex'),
      size: bytes?.byteLength ?? 1000 + n,
      bytes,
    });
  }
  const qualityScore = spec.qualityScore === undefined ? 3 : spec.qualityScore;
  const convergence = spec.convergence === undefined ? 'good' : spec.convergence;
  await db.insert(modelArtifacts).values({
    id: artifactId,
    workspaceId,
    createdBy: userId,
    jobId: job!.id,
    datasetId,
    name,
    family,
    version,
    qualityScore,
    convergence,
    lossReductionPct: 61.5,
    initialLoss: 2.4,
    finalTrainingLoss: 0.92,
    finalValidationLoss: 0.97,
    overfitGap: 0.05,
    perplexity: 2.64,
    epochsCompleted: 3,
    totalSteps: 300,
    durationSeconds: spec.durationSeconds ?? 5400,
    totalCost: spec.totalCost ?? 3.42,
    hyperparameters: sampleJobConfig,
    gpu: { type: 'A100-80GB', count: 1 },
    adapter: spec.adapter === undefined ? null : spec.adapter,
    lossCurve: spec.lossCurve ?? [
      { step: 1, trainingLoss: 2.4, validationLoss: null },
      { step: 300, trainingLoss: 0.92, validationLoss: 0.97 },
    ],
    storagePrefix: prefix,
    totalBytes: files.reduce((s, f) => s + f.size, 0),
    fileCount: files.length,
    createdAt,
  });
  await db.update(trainingJobs).set({ artifactId }).where(sql`${trainingJobs.id} = ${job!.id}`);
  if (files.length) {
    await db.insert(artifactFiles).values(
      files.map((f, n) => ({
        id: f.id,
        artifactId,
        workspaceId,
        path: f.path,
        storageKey: f.key,
        sizeBytes: f.size,
        sha256: f.sha256,
        kind: spec.files?.[n]?.kind ?? 'other',
        contentType: spec.files?.[n]?.contentType ?? 'application/octet-stream',
      })),
    );
  }
  return { id: artifactId, name, family, version, jobId: job!.id, jobName, datasetId, qualityScore, convergence, createdAtMicros, files };
}

/** Deterministic bytes with a readable marker, so a test can tell whether a body leaked file content. */
export function fileBytes(marker: string, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  const head = new TextEncoder().encode(`${marker}|`);
  let state = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    state = (state ^ (state << 13)) >>> 0;
    state = (state ^ (state >>> 17)) >>> 0;
    state = (state ^ (state << 5)) >>> 0;
    out[i] = i < head.length ? head[i]! : state & 0xff;
  }
  return out;
}

/**
 * A family of `versions` models (v1…vN, no files) in two statements, for tests and benchmarks that need a
 * large family: insertArtifact one by one would take most of their time.
 */
export async function seedFamily(
  deps: Deps,
  spec: { workspaceId: string; userId: string; datasetId: string; family: string; versions: number },
): Promise<void> {
  const { db } = deps.database;
  const { workspaceId, userId, datasetId, family, versions } = spec;
  await db.insert(modelFamilies).values({ workspaceId, name: family, lastVersion: versions });
  await db.execute(sql`
    insert into training_jobs (id, workspace_id, created_by, dataset_id, name, family, status, config, gpu, worker_token_hash, ingest_status)
    select md5(${family} || '-job-' || g)::uuid, ${workspaceId}::uuid, ${userId}, ${datasetId}::uuid, ${family} || ' ' || g, ${family}, 'completed',
      ${JSON.stringify(sampleJobConfig)}::jsonb, '{"type":"A100-80GB","count":1}'::jsonb, md5(${family} || '-token-' || g), 'ready'
    from generate_series(1, ${versions}::int) g`);
  await db.execute(sql`
    insert into model_artifacts (id, workspace_id, created_by, job_id, dataset_id, name, family, version, quality_score, convergence,
      final_validation_loss, perplexity, hyperparameters, gpu, loss_curve, storage_prefix, total_bytes, file_count)
    select m.id, ${workspaceId}::uuid, ${userId}, md5(${family} || '-job-' || g)::uuid, ${datasetId}::uuid,
      ${family} || ' ' || g, ${family}, g, 1 + g % 5, 'good', 1.0 / g, 2.0, ${JSON.stringify(sampleJobConfig)}::jsonb,
      '{"type":"A100-80GB","count":1}'::jsonb, '[]'::jsonb, 'artifacts/' || m.id || '/', 1000, 1
    from generate_series(1, ${versions}::int) g,
      -- A v4-shaped id (zod's uuid() wants a version and variant), still derived from the name.
      lateral (select overlay(overlay(md5(${family} || '-model-' || g) placing '4' from 13) placing '8' from 17)::uuid as id) m`);
  await db.execute(sql`analyze model_artifacts`);
}
