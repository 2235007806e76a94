import { and, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { apiTokens, liveEvents, modelExports, sessions, trainingJobs, workspaceMembers } from '../../db/schema/index.ts';

/**
 * The SQL of live events (server/events). Writes run in the caller's transaction, possibly as app_user
 * (row-level security: a member may announce to their workspaces and to themselves); reads are the API
 * process's, on the owner connection, filtered by the listener's own memberships in the hub.
 */
type Queryable = Db | Tx;

/** The NOTIFY channel: its payload is one live_events id. */
export const LIVE_EVENTS_CHANNEL = 'live_events';

/** One row to write: for one user, or for every member of a workspace. */
export interface LiveEventRow {
  userId: string | null;
  workspaceId: string | null;
  type: string;
  data: unknown;
}

/**
 * Inserts the rows and sends one NOTIFY per row (its id), all in one statement of the caller's transaction:
 * Postgres delivers the notifications when it commits, and drops them if it rolls back. The ids come from
 * nextval rather than RETURNING: app_user may insert but not read live_events, and RETURNING needs reading.
 */
export async function insertLiveEvents(tx: Queryable, rows: readonly LiveEventRow[]): Promise<void> {
  if (rows.length === 0) return;
  const json = JSON.stringify(rows.map((r) => ({ user_id: r.userId, workspace_id: r.workspaceId, type: r.type, data: r.data })));
  // `rows` is referenced twice, so Postgres materialises it: each row's nextval runs once.
  await tx.execute(sql`
    with rows as (
      select nextval('live_events_id_seq') as id, r.user_id, r.workspace_id, r.type, r.data
      from jsonb_to_recordset(${json}::jsonb) as r(user_id text, workspace_id uuid, type text, data jsonb)
    ), ins as (
      insert into live_events (id, user_id, workspace_id, type, data) select id, user_id, workspace_id, type, data from rows
    )
    select pg_notify(${LIVE_EVENTS_CHANNEL}, id::text) from rows`);
}

/** What a `job` event says of a training job, as it stands in `tx`; null when there is no such job. */
export async function jobEventData(tx: Queryable, jobId: string) {
  const [row] = await tx
    .select({
      jobId: trainingJobs.id,
      workspaceId: trainingJobs.workspaceId,
      name: trainingJobs.name,
      status: trainingJobs.status,
      ingestStatus: trainingJobs.ingestStatus,
      ingestError: trainingJobs.ingestError,
      artifactId: trainingJobs.artifactId,
    })
    .from(trainingJobs)
    .where(eq(trainingJobs.id, jobId));
  return row ?? null;
}

/** What an `export` event says of an export, as it stands in `tx`; null when there is no such export. */
export async function exportEventData(tx: Queryable, exportId: string) {
  const [row] = await tx
    .select({
      exportId: modelExports.id,
      artifactId: modelExports.artifactId,
      workspaceId: modelExports.workspaceId,
      status: modelExports.status,
      fileId: modelExports.fileId,
      error: modelExports.error,
    })
    .from(modelExports)
    .where(eq(modelExports.id, exportId));
  return row ?? null;
}

const eventColumns = {
  id: liveEvents.id,
  userId: liveEvents.userId,
  workspaceId: liveEvents.workspaceId,
  type: liveEvents.type,
  data: liveEvents.data,
};

/** The events of these ids (the ones just announced); the caller puts them back in announcement order. */
export function eventsByIds(db: Db, ids: readonly number[]) {
  return db
    .select(eventColumns)
    .from(liveEvents)
    .where(inArray(liveEvents.id, [...ids]));
}

/**
 * The kept events of a listener's audience that may have been missed after `afterId`: every one with a larger
 * id, and those with a smaller id begun up to `lateWindowSeconds` before it (an id is taken at insert and
 * shows at commit, so a smaller id can commit after a larger one was sent). Oldest first, at most `limit`.
 */
export function eventsAfter(
  db: Db,
  audience: { userId: string | null; workspaceIds: readonly string[] },
  afterId: number,
  options: { lateWindowSeconds: number; limit: number },
) {
  const anchor = sql`(select e.created_at from live_events e where e.id = ${afterId})`;
  const late = and(
    sql`${liveEvents.id} < ${afterId}`,
    sql`${liveEvents.createdAt} >= ${anchor} - ${options.lateWindowSeconds} * interval '1 second'`,
  );
  const audienceFilter = or(
    audience.userId ? eq(liveEvents.userId, audience.userId) : undefined,
    audience.workspaceIds.length ? inArray(liveEvents.workspaceId, [...audience.workspaceIds]) : undefined,
  );
  if (!audienceFilter) return Promise.resolve([]);
  return db
    .select(eventColumns)
    .from(liveEvents)
    .where(and(or(gt(liveEvents.id, afterId), late), audienceFilter))
    .orderBy(liveEvents.id)
    .limit(options.limit);
}

/** Events committed recently or after `afterId` (the hub's catch-up after its listener reconnects). */
export function recentEvents(db: Db, afterId: number, seconds: number, limit: number) {
  return db
    .select(eventColumns)
    .from(liveEvents)
    .where(or(gt(liveEvents.id, afterId), sql`${liveEvents.createdAt} >= now() - ${seconds} * interval '1 second'`))
    .orderBy(liveEvents.id)
    .limit(limit);
}

/** The largest event id so far (0 when none). */
export async function lastEventId(db: Db): Promise<number> {
  const [row] = await db.select({ id: sql<string | null>`max(${liveEvents.id})` }).from(liveEvents);
  return Number(row?.id ?? 0);
}

/** The workspaces each of these users is a member of now. */
export function memberships(db: Db, userIds: readonly string[]) {
  return db
    .select({ userId: workspaceMembers.userId, workspaceId: workspaceMembers.workspaceId })
    .from(workspaceMembers)
    .where(inArray(workspaceMembers.userId, [...userIds]));
}

/** Which of these API token hashes are still live (not revoked, not expired). */
export async function liveTokenHashes(db: Db, hashes: readonly string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db
    .select({ hash: apiTokens.tokenHash })
    .from(apiTokens)
    .where(
      and(
        inArray(apiTokens.tokenHash, [...hashes]),
        isNull(apiTokens.revokedAt),
        or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
      ),
    );
  return new Set(rows.map((r) => r.hash));
}

/** Which of these dashboard sessions are still live (not signed out, not expired). */
export async function liveSessionIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(inArray(sessions.id, [...ids]), gt(sessions.expiresAt, sql`now()`)));
  return new Set(rows.map((r) => r.id));
}

/** Deletes events older than `seconds`; returns how many. */
export async function pruneLiveEvents(db: Db, seconds: number): Promise<number> {
  const rows = await db.execute<{ n: number }>(
    sql`with gone as (delete from live_events where created_at < now() - ${seconds} * interval '1 second' returning 1) select count(*)::int as n from gone`,
  );
  return rows[0]?.n ?? 0;
}
