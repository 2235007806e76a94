import { and, asc, desc, eq, gt, gte, ilike, isNotNull, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import {
  artifactFiles,
  datasets,
  downloadEvents,
  modelArtifacts,
  modelCounts,
  modelShares,
  trainingJobs,
  users,
  workspaceMembers,
} from '../../db/schema/index.ts';
import { familyHistory, heldAliases } from '../registry/versions-queries.ts';
import type { Reach } from '../workspaces/roles.ts';
import type { FitVerdict } from '../adapters/types.ts';
import type { ListModelsInput } from './schemas.ts';

/** The columns of a model summary (`summary()` in service.ts), dataset and job joined in the same query. */
const summaryColumns = {
  id: modelArtifacts.id,
  name: modelArtifacts.name,
  description: modelArtifacts.description,
  tags: modelArtifacts.tags,
  family: modelArtifacts.family,
  version: modelArtifacts.version,
  deletedAt: modelArtifacts.deletedAt,
  createdAt: modelArtifacts.createdAt,
  /**
   * Full microsecond precision for keyset cursors (a JS Date keeps only milliseconds), as ISO 8601 in UTC:
   * `::text` would follow the session's TimeZone and DateStyle (`… 00:00:00.123456+00`), which JS cannot parse.
   */
  createdAtKey: sql<string>`to_char(${modelArtifacts.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('created_at_key'),
  qualityScore: modelArtifacts.qualityScore,
  convergenceQuality: modelArtifacts.convergence,
  /** The fit verdict and the untrained flag, for the catalogue's warnings (null / false before the checks existed). */
  fitVerdict: sql<FitVerdict | null>`${modelArtifacts.compatibility}->>'verdict'`.as('fit_verdict'),
  untrained: sql<boolean>`coalesce((${modelArtifacts.weights}->>'untrained')::boolean, false)`.as('untrained'),
  totalCost: modelArtifacts.totalCost,
  totalBytes: modelArtifacts.totalBytes,
  datasetId: datasets.id,
  datasetName: datasets.name,
  jobId: trainingJobs.id,
  jobName: trainingJobs.name,
  jobCompletedAt: trainingJobs.completedAt,
};

const score = sql<number>`coalesce(${modelArtifacts.qualityScore}, 0)`;

/**
 * `column` names a workspace the caller is a member of (for a token: its own only), with the placeholders
 * `me` and `only` (see `reachValues`): every read by record id filters by membership itself, and
 * row-level security says the same again.
 */
function reachable(column: SQL.Aliased | typeof modelArtifacts.workspaceId | typeof artifactFiles.workspaceId): SQL {
  const p = sql.placeholder;
  return sql`(${column} in (select ${workspaceMembers.workspaceId} from ${workspaceMembers} where ${workspaceMembers.userId} = ${p('me')})
    and (${p('only')}::uuid is null or ${column} = ${p('only')}::uuid))`;
}

/**
 * The join to the caller's own membership of the model's workspace (placeholders `me`, `only`): a model of
 * a workspace they are not in (for a token: any but its own) is no row, and the row carries their role.
 */
export function myMembership(): SQL {
  const p = sql.placeholder;
  return and(
    eq(workspaceMembers.workspaceId, modelArtifacts.workspaceId),
    eq(workspaceMembers.userId, p('me')),
    sql`(${p('only')}::uuid is null or ${modelArtifacts.workspaceId} = ${p('only')}::uuid)`,
  )!;
}

/** The values of `myMembership`'s and `reachable`'s placeholders for `reach`. */
export function reachValues(reach: Reach): { me: string; only: string | null } {
  return { me: reach.userId, only: reach.token?.workspaceId ?? null };
}

export interface Cursor {
  sort: 'recent' | 'quality';
  score: number;
  createdAt: string;
  id: string;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Placeholders for the filters that are present, and their values (see `prepared` in db/client.ts). */
function filters(input: ListModelsInput): { where: SQL; shape: string; values: Record<string, unknown> } {
  const f = input.filter ?? {};
  const p = sql.placeholder;
  const values: Record<string, unknown> = {};
  // The trash and the catalogue are two shapes (a literal condition, not a value): each matches its own partial
  // indexes (model_artifacts_trash_idx; the catalogue's `where deleted_at is null` ones).
  const trash = f.deleted === true;
  const conds: SQL[] = [
    eq(modelArtifacts.workspaceId, p('workspaceId')),
    trash ? isNotNull(modelArtifacts.deletedAt) : isNull(modelArtifacts.deletedAt),
  ];
  let shape = trash ? ',trash' : '';
  const add = (key: string, value: unknown, cond: SQL) => {
    values[key] = value;
    conds.push(cond);
    shape += `,${key}`;
  };
  if (f.minScore !== undefined) add('minScore', f.minScore, gte(modelArtifacts.qualityScore, p('minScore')));
  if (f.convergence) add('convergence', f.convergence, eq(modelArtifacts.convergence, p('convergence')));
  if (f.datasetId) add('datasetId', f.datasetId, sql`${modelArtifacts.datasetId} = ${p('datasetId')}::uuid`);
  // Compared in Postgres (microseconds); a JS Date would cut the bound to milliseconds.
  if (f.createdAfter) add('createdAfter', f.createdAfter, gte(modelArtifacts.createdAt, sql`${p('createdAfter')}::timestamptz`));
  if (f.createdBefore) add('createdBefore', f.createdBefore, lte(modelArtifacts.createdAt, sql`${p('createdBefore')}::timestamptz`));
  if (f.search) {
    add('search', `%${escapeLike(f.search)}%`, or(ilike(modelArtifacts.name, p('search')), ilike(modelArtifacts.description, p('search')))!);
  }
  // `@>` (contains all), which the GIN index on tags answers. A quoted array literal: tags are [a-z0-9._:+-] only,
  // and quoting keeps a tag named `null` a string.
  if (f.tags?.length) add('tags', `{${f.tags.map((t) => `"${t}"`).join(',')}}`, sql`${modelArtifacts.tags} @> ${p('tags')}::text[]`);
  return { where: and(...conds)!, shape, values };
}

/** True when the list has no filter, so its total is the workspace's model count. */
function unfiltered(input: ListModelsInput): boolean {
  const f = input.filter ?? {};
  const { deleted, tags, ...rest } = f;
  // model_counts counts live models only; the trash is counted by its own query.
  return !deleted && !tags?.length && Object.values(rest).every((v) => v === undefined || v === '');
}

/**
 * One page of the catalogue. With a cursor the page is found by keyset (fast however deep); without
 * one, by offset. Ties are broken by recency, then id, so pages never repeat or skip a model.
 *
 * The page is cut from model_artifacts alone (an index range scan in the ORDER BY's own order) and
 * only its rows are joined to their dataset and job; the unfiltered total comes from model_counts.
 * Both statements are prepared once per shape (sort, cursor or not, which filters): a page costs
 * their execution, not building them.
 */
export async function listModels(tx: Tx, workspaceId: string, input: ListModelsInput, cursor: Cursor | null) {
  const { where, shape, values } = filters(input);
  const p = sql.placeholder;
  const quality = input.sort === 'quality';
  const rowsShape = `listModels:${input.sort}:${cursor ? 'cursor' : 'offset'}${shape}`;
  const rowsValues = {
    ...values,
    workspaceId,
    limit: input.limit + 1,
    offset: cursor ? 0 : (input.page - 1) * input.limit,
    ...(cursor ? { cursorScore: cursor.score, cursorCreatedAt: cursor.createdAt, cursorId: cursor.id } : {}),
  };
  const rowsQuery = prepared(
    tx,
    rowsShape,
    (b) => {
      const keyset = !cursor
        ? undefined
        : quality
          ? sql`(${score}, ${modelArtifacts.createdAt}, ${modelArtifacts.id}) < (${p('cursorScore')}, ${p('cursorCreatedAt')}::timestamptz, ${p('cursorId')}::uuid)`
          : sql`(${modelArtifacts.createdAt}, ${modelArtifacts.id}) < (${p('cursorCreatedAt')}::timestamptz, ${p('cursorId')}::uuid)`;
      const page = b
        .select({
          id: modelArtifacts.id,
          name: modelArtifacts.name,
          description: modelArtifacts.description,
          tags: modelArtifacts.tags,
          family: modelArtifacts.family,
          version: modelArtifacts.version,
          deletedAt: modelArtifacts.deletedAt,
          createdAt: modelArtifacts.createdAt,
          createdAtKey: summaryColumns.createdAtKey,
          qualityScore: modelArtifacts.qualityScore,
          convergenceQuality: sql<string | null>`${modelArtifacts.convergence}`.as('convergence_quality'),
          fitVerdict: summaryColumns.fitVerdict,
          untrained: summaryColumns.untrained,
          totalCost: modelArtifacts.totalCost,
          totalBytes: modelArtifacts.totalBytes,
          sortScore: sql<number>`${score}`.as('sort_score'),
          pageDatasetId: sql<string>`${modelArtifacts.datasetId}`.as('page_dataset_id'),
          pageJobId: sql<string>`${modelArtifacts.jobId}`.as('page_job_id'),
        })
        .from(modelArtifacts)
        .where(keyset ? and(where, keyset) : where)
        .orderBy(
          ...(quality
            ? [desc(score), desc(modelArtifacts.createdAt), desc(modelArtifacts.id)]
            : [desc(modelArtifacts.createdAt), desc(modelArtifacts.id)]),
        )
        .limit(p('limit'))
        .offset(p('offset'))
        .as('page');
      return b
        .select({
          id: page.id,
          name: page.name,
          description: page.description,
          tags: page.tags,
          family: page.family,
          version: page.version,
          deletedAt: page.deletedAt,
          createdAt: page.createdAt,
          createdAtKey: page.createdAtKey,
          qualityScore: page.qualityScore,
          convergenceQuality: page.convergenceQuality,
          fitVerdict: page.fitVerdict,
          untrained: page.untrained,
          totalCost: page.totalCost,
          totalBytes: page.totalBytes,
          datasetId: datasets.id,
          datasetName: datasets.name,
          jobId: trainingJobs.id,
          jobName: trainingJobs.name,
          jobCompletedAt: trainingJobs.completedAt,
        })
        .from(page)
        .innerJoin(datasets, eq(datasets.id, page.pageDatasetId))
        .innerJoin(trainingJobs, eq(trainingJobs.id, page.pageJobId))
        .orderBy(...(quality ? [desc(page.sortScore), desc(page.createdAt), desc(page.id)] : [desc(page.createdAt), desc(page.id)]));
    },
    rowsValues,
  );
  const countQuery = unfiltered(input)
    ? prepared(
        tx,
        'listModels:count:all',
        (b) =>
          b
            .select({ n: modelCounts.total })
            .from(modelCounts)
            .where(eq(modelCounts.workspaceId, p('workspaceId'))),
        { workspaceId },
      )
    : prepared(tx, `listModels:count${shape}`, (b) => b.select({ n: sql<number>`count(*)::int` }).from(modelArtifacts).where(where), {
        ...values,
        workspaceId,
      });
  const [rows, [count]] = await Promise.all([rowsQuery, countQuery]);
  return {
    rows: rows.map((r) => ({ ...r, convergenceQuality: r.convergenceQuality as (typeof modelArtifacts.$inferSelect)['convergence'] })),
    total: count?.n ?? 0,
  };
}

/** What a model's card shows beyond its summary (`modelCard` in service.ts): members' page and the public share page. */
export const cardColumns = {
  name: modelArtifacts.name,
  family: modelArtifacts.family,
  version: modelArtifacts.version,
  description: modelArtifacts.description,
  tags: modelArtifacts.tags,
  mainCheckpoint: modelArtifacts.mainCheckpoint,
  compatibility: modelArtifacts.compatibility,
  weights: modelArtifacts.weights,
  lossReductionPct: modelArtifacts.lossReductionPct,
  initialLoss: modelArtifacts.initialLoss,
  finalTrainingLoss: modelArtifacts.finalTrainingLoss,
  finalValidationLoss: modelArtifacts.finalValidationLoss,
  overfitGap: modelArtifacts.overfitGap,
  perplexity: modelArtifacts.perplexity,
  epochsCompleted: modelArtifacts.epochsCompleted,
  totalSteps: modelArtifacts.totalSteps,
  durationSeconds: modelArtifacts.durationSeconds,
  hyperparameters: modelArtifacts.hyperparameters,
  gpu: modelArtifacts.gpu,
  adapter: modelArtifacts.adapter,
  lossCurve: modelArtifacts.lossCurve,
  evaluations: modelArtifacts.evaluations,
  outputReport: modelArtifacts.outputReport,
};

/** The model with the caller's role in its workspace; null when it is not in one of theirs, or is in the trash. */
export async function getModel(tx: Tx, reach: Reach, modelId: string) {
  const [row] = await prepared(
    tx,
    'getModel',
    (b) =>
      b
        .select({
          ...summaryColumns,
          ...cardColumns,
          workspaceId: modelArtifacts.workspaceId,
          role: workspaceMembers.role,
          bestCheckpoint: modelArtifacts.bestCheckpoint,
          fileCount: modelArtifacts.fileCount,
          mainCheckpoint: modelArtifacts.mainCheckpoint,
          prunedCheckpoints: modelArtifacts.prunedCheckpoints,
          prunedBytes: modelArtifacts.prunedBytes,
          heldAliases,
          familyHistory,
        })
        .from(modelArtifacts)
        .innerJoin(datasets, eq(datasets.id, modelArtifacts.datasetId))
        .innerJoin(trainingJobs, eq(trainingJobs.id, modelArtifacts.jobId))
        .innerJoin(workspaceMembers, myMembership())
        .where(and(eq(modelArtifacts.id, sql.placeholder('modelId')), isNull(modelArtifacts.deletedAt))),
    { modelId, ...reachValues(reach) },
  );
  return row ?? null;
}

/**
 * The model's name, workspace and the caller's role there, when it is in one of their workspaces: all a
 * download or a share needs, without the loss curve and the rest. A model in the trash is no row: it is
 * neither downloaded nor shared.
 */
export async function modelAccess(tx: Tx, reach: Reach, modelId: string) {
  const [row] = await prepared(
    tx,
    'modelAccess',
    (b) =>
      b
        .select({
          name: modelArtifacts.name,
          workspaceId: modelArtifacts.workspaceId,
          role: workspaceMembers.role,
          mainCheckpoint: modelArtifacts.mainCheckpoint,
        })
        .from(modelArtifacts)
        .innerJoin(workspaceMembers, myMembership())
        .where(and(eq(modelArtifacts.id, sql.placeholder('modelId')), isNull(modelArtifacts.deletedAt))),
    { modelId, ...reachValues(reach) },
  );
  return row ?? null;
}

/** The model's live share link (not revoked, not expired), without its token; null when it has none. */
export async function activeShare(tx: Tx, modelId: string) {
  const [row] = await prepared(
    tx,
    'activeShare',
    (b) =>
      b
        .select({ id: modelShares.id, expiresAt: modelShares.expiresAt, createdAt: modelShares.createdAt })
        .from(modelShares)
        .where(and(eq(modelShares.artifactId, sql.placeholder('modelId')), isNull(modelShares.revokedAt), gt(modelShares.expiresAt, sql`now()`)))
        .orderBy(desc(modelShares.createdAt))
        .limit(1),
    { modelId },
  );
  return row ?? null;
}

/**
 * What a download (members' page, models.download, bundles) serves of each of the model's files, in path
 * order: with a promoted checkpoint, its adapter in place of the run's own (registry/checkpoints-queries.ts).
 */
/** What a download (members' or through a share link) needs of each stored file. */
export const fileColumns = {
  id: artifactFiles.id,
  path: artifactFiles.path,
  sizeBytes: artifactFiles.sizeBytes,
  sha256: artifactFiles.sha256,
  kind: artifactFiles.kind,
  contentType: artifactFiles.contentType,
  storageKey: artifactFiles.storageKey,
  format: artifactFiles.format,
};

/**
 * The model's stored files, in path order. For a delivery, pass them through `asDelivered` (registry/
 * checkpoints.ts) with the model's main_checkpoint: a promoted checkpoint is applied there, in one pass,
 * not here (a self-join would cost a row-level-security check per alias and files² comparisons).
 */
export function listFiles(tx: Tx, reach: Reach, modelId: string) {
  return prepared(
    tx,
    'listFiles',
    (b) =>
      b
        .select(fileColumns)
        .from(artifactFiles)
        .where(and(eq(artifactFiles.artifactId, sql.placeholder('modelId')), reachable(artifactFiles.workspaceId)))
        .orderBy(asc(artifactFiles.path)),
    { modelId, ...reachValues(reach) },
  );
}

/** What a zip bundle needs of the model itself: its name (the zip's) and creation time (the entries' mtime); none in the trash. */
export async function bundleModel(tx: Tx, reach: Reach, modelId: string) {
  const [row] = await prepared(
    tx,
    'bundleModel',
    (b) =>
      b
        .select({ name: modelArtifacts.name, createdAt: modelArtifacts.createdAt, mainCheckpoint: modelArtifacts.mainCheckpoint })
        .from(modelArtifacts)
        .where(and(eq(modelArtifacts.id, sql.placeholder('modelId')), isNull(modelArtifacts.deletedAt), reachable(modelArtifacts.workspaceId))),
    { modelId, ...reachValues(reach) },
  );
  return row ?? null;
}

type DownloadEvent = {
  /** Who downloaded; null through a share link. */
  userId: string | null;
  /** The share link it came through, if any. */
  shareId: string | null;
  artifactId: string;
  /** The files handed out; null for all of the model's. */
  fileIds: string[] | null;
  kind: 'files' | 'bundle';
  ip: string | null;
  userAgent: string | null;
};

/**
 * One row of the download audit trail: which files of which model, to whom (or through which share link),
 * from where; it belongs to the model's workspace. The file list is
 * read in the statement itself (in path order, only ids of this model's files), so the insert needs no
 * earlier answer and can leave in the same write as the reads that validate the request: when they find
 * nothing to hand out, the caller throws and the transaction takes the row back.
 */
export async function recordDownload(tx: Tx, event: DownloadEvent): Promise<void> {
  const p = sql.placeholder;
  await prepared(
    tx,
    'recordDownload',
    (b) =>
      b.insert(downloadEvents).values({
        userId: p('userId'),
        shareId: p('shareId'),
        workspaceId: sql`(select ${modelArtifacts.workspaceId} from ${modelArtifacts} where ${modelArtifacts.id} = ${p('artifactId')}::uuid)`,
        artifactId: p('artifactId'),
        fileIds: sql`(select coalesce(array_agg(${artifactFiles.id} order by ${artifactFiles.path}), '{}') from ${artifactFiles}
          where ${artifactFiles.artifactId} = ${p('artifactId')}::uuid and (${p('fileIds')}::uuid[] is null or ${artifactFiles.id} = any(${p('fileIds')}::uuid[])))`,
        kind: p('kind'),
        ip: p('ip'),
        userAgent: p('userAgent'),
      }),
    {
      userId: event.userId,
      shareId: event.shareId,
      artifactId: event.artifactId,
      fileIds: event.fileIds === null ? null : `{${event.fileIds.join(',')}}`,
      kind: event.kind,
      ip: event.ip,
      userAgent: event.userAgent?.slice(0, 500) ?? null,
    },
  );
}

/** A position in a model's download history, newest first: the event's time (microseconds, UTC) and id. */
export interface DownloadCursor {
  at: string;
  id: string;
}

/**
 * `limit` download records of the model (newest first, after `cursor`), each with the downloader as far as
 * the caller may see them (a teammate; null for a share link or an account gone), whether it covered every
 * file the model has now, and the paths of the files it named that are still there.
 */
export async function listDownloads(tx: Tx, modelId: string, cursor: DownloadCursor | null, limit: number) {
  const after = cursor ? sql`and (e.created_at, e.id) < (${cursor.at}::timestamptz, ${cursor.id}::uuid)` : sql``;
  const rows = await tx.execute<{
    id: string;
    /** Microsecond precision, ISO 8601 in UTC (as listModels' createdAtKey): the cursor's. */
    atKey: string;
    kind: 'files' | 'bundle';
    userId: string | null;
    userName: string | null;
    userEmail: string | null;
    shareId: string | null;
    allFiles: boolean;
    files: { id: string; path: string }[];
  }>(sql`
    select e.id,
      to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "atKey",
      e.kind, u.id as "userId", u.name as "userName", u.email as "userEmail", e.share_id as "shareId",
      (cardinality(e.file_ids) > 0 and not exists (
        select 1 from ${artifactFiles} f where f.artifact_id = e.artifact_id and f.id <> all(e.file_ids))) as "allFiles",
      coalesce((select json_agg(json_build_object('id', f.id, 'path', f.path) order by f.path) from ${artifactFiles} f
        where f.artifact_id = e.artifact_id and f.id = any(e.file_ids)), '[]'::json) as "files"
    from ${downloadEvents} e left join ${users} u on u.id = e.user_id
    where e.artifact_id = ${modelId}::uuid ${after}
    order by e.created_at desc, e.id desc
    limit ${limit}`);
  return [...rows];
}
