import { and, asc, desc, eq, isNull, sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { modelAliasEvents, modelAliases, modelArtifacts, modelFamilies, users, workspaceMembers } from '../../db/schema/index.ts';
import { myMembership, reachValues } from '../models/queries.ts';
import type { Reach } from '../workspaces/roles.ts';

const p = sql.placeholder;

/** Whether the family exists in the workspace (it does from its first model on, even when all are purged since). */
export async function familyExists(tx: Tx, workspaceId: string, family: string): Promise<boolean> {
  const rows = await prepared(
    tx,
    'familyExists',
    (b) =>
      b
        .select({ one: sql<number>`1` })
        .from(modelFamilies)
        .where(and(eq(modelFamilies.workspaceId, p('workspaceId')), eq(modelFamilies.name, p('family')))),
    { workspaceId, family },
  );
  return rows.length > 0;
}

/**
 * The family's live models, newest version first, with what their quality is judged by: one range of the
 * (workspace_id, family, version) unique index, read backwards. Who made each comes from a left join, so a
 * maker the caller cannot see (no longer a teammate) or a deleted account is a null name.
 */
export function familyVersions(tx: Tx, workspaceId: string, family: string) {
  return prepared(
    tx,
    'familyVersions',
    (b) =>
      b
        .select({
          id: modelArtifacts.id,
          version: modelArtifacts.version,
          name: modelArtifacts.name,
          createdAt: modelArtifacts.createdAt,
          qualityScore: modelArtifacts.qualityScore,
          convergenceQuality: modelArtifacts.convergence,
          finalValidationLoss: modelArtifacts.finalValidationLoss,
          perplexity: modelArtifacts.perplexity,
          totalBytes: modelArtifacts.totalBytes,
          createdById: users.id,
          createdByName: users.name,
        })
        .from(modelArtifacts)
        .leftJoin(users, eq(users.id, modelArtifacts.createdBy))
        .where(and(eq(modelArtifacts.workspaceId, p('workspaceId')), eq(modelArtifacts.family, p('family')), isNull(modelArtifacts.deletedAt)))
        .orderBy(desc(modelArtifacts.version)),
    { workspaceId, family },
  );
}

/** Every alias of the family and the model it points at (the primary key's range). */
export function familyAliases(tx: Tx, workspaceId: string, family: string) {
  return prepared(
    tx,
    'familyAliases',
    (b) =>
      b
        .select({ alias: modelAliases.alias, artifactId: modelAliases.artifactId })
        .from(modelAliases)
        .where(and(eq(modelAliases.workspaceId, p('workspaceId')), eq(modelAliases.family, p('family'))))
        .orderBy(asc(modelAliases.alias)),
    { workspaceId, family },
  );
}

/** What moving an alias needs of the model: its family and version, whether it is in the trash, the caller's role. */
export async function aliasTarget(tx: Tx, reach: Reach, modelId: string) {
  const [row] = await prepared(
    tx,
    'aliasTarget',
    (b) =>
      b
        .select({
          workspaceId: modelArtifacts.workspaceId,
          family: modelArtifacts.family,
          version: modelArtifacts.version,
          deletedAt: modelArtifacts.deletedAt,
          role: workspaceMembers.role,
        })
        .from(modelArtifacts)
        .innerJoin(workspaceMembers, myMembership())
        .where(eq(modelArtifacts.id, p('modelId'))),
    { modelId, ...reachValues(reach) },
  );
  return row ?? null;
}

/** A model of the family found by a reference: its id and whether it is in the trash. */
interface Found {
  id: string;
  version: number;
  deletedAt: Date | null;
}

/** The family's newest live model. */
export async function latestVersion(tx: Tx, workspaceId: string, family: string): Promise<Found | null> {
  const [row] = await prepared(
    tx,
    'latestVersion',
    (b) =>
      b
        .select({ id: modelArtifacts.id, version: modelArtifacts.version, deletedAt: modelArtifacts.deletedAt })
        .from(modelArtifacts)
        .where(and(eq(modelArtifacts.workspaceId, p('workspaceId')), eq(modelArtifacts.family, p('family')), isNull(modelArtifacts.deletedAt)))
        .orderBy(desc(modelArtifacts.version))
        .limit(1),
    { workspaceId, family },
  );
  return row ?? null;
}

/** The family's model with that version, live or in the trash. */
export async function modelOfVersion(tx: Tx, workspaceId: string, family: string, version: number): Promise<Found | null> {
  const [row] = await prepared(
    tx,
    'modelOfVersion',
    (b) =>
      b
        .select({ id: modelArtifacts.id, version: modelArtifacts.version, deletedAt: modelArtifacts.deletedAt })
        .from(modelArtifacts)
        .where(
          and(eq(modelArtifacts.workspaceId, p('workspaceId')), eq(modelArtifacts.family, p('family')), eq(modelArtifacts.version, p('version'))),
        ),
    { workspaceId, family, version },
  );
  return row ?? null;
}

/** The model an alias points at, live or in the trash. */
export async function modelOfAlias(tx: Tx, workspaceId: string, family: string, alias: string): Promise<Found | null> {
  const [row] = await prepared(
    tx,
    'modelOfAlias',
    (b) =>
      b
        .select({ id: modelArtifacts.id, version: modelArtifacts.version, deletedAt: modelArtifacts.deletedAt })
        .from(modelAliases)
        .innerJoin(modelArtifacts, eq(modelArtifacts.id, modelAliases.artifactId))
        .where(and(eq(modelAliases.workspaceId, p('workspaceId')), eq(modelAliases.family, p('family')), eq(modelAliases.alias, p('alias')))),
    { workspaceId, family, alias },
  );
  return row ?? null;
}

interface AliasKey {
  workspaceId: string;
  family: string;
  alias: string;
}

/**
 * Serialises every move and removal of one alias until the transaction ends. Needed because the read of
 * the previous holder and the upsert cannot be one atomic step otherwise: two first-time setters both
 * read "no holder", and the one whose insert conflicts turns into an update with a stale answer; a
 * `FOR UPDATE` in the same statement as the upsert would not help either (the upsert's own update hides
 * the row from it). After this lock the next statement's snapshot sees every earlier move committed.
 * The two-key form never meets the one-key advisory locks pg-boss takes.
 */
async function lockAlias(tx: Tx, key: AliasKey): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtext('model_aliases'), hashtext(${key.workspaceId}::text || '/' || ${key.family}::text || '/' || ${key.alias}::text))`,
  );
}

/**
 * Points the alias at the model (one upsert on the primary key) and records the move with the version it
 * left, in one statement after `lockAlias`. All parts of the statement read one snapshot taken after the
 * lock, so `old` is the holder right before this move whatever order Postgres runs them in. Setting it to
 * the model that already holds it changes nothing and records nothing. `at` is the clock time, not the
 * transaction's start: moves that queued on the lock are recorded in the order they happened.
 */
export async function moveAlias(
  tx: Tx,
  move: AliasKey & { modelId: string; version: number; actorId: string },
): Promise<{ previousVersion: number | null; moved: boolean }> {
  const locked = lockAlias(tx, move);
  const moved = tx.execute<{ previous_version: number | null; moved: boolean }>(sql`
    with old as (
      select m.version from ${modelAliases} a join ${modelArtifacts} m on m.id = a.artifact_id
      where a.workspace_id = ${move.workspaceId}::uuid and a.family = ${move.family}::text and a.alias = ${move.alias}::text
    ), up as (
      insert into ${modelAliases} as a (workspace_id, family, alias, artifact_id, set_by, set_at)
      values (${move.workspaceId}::uuid, ${move.family}::text, ${move.alias}::text, ${move.modelId}::uuid, ${move.actorId}::text, clock_timestamp())
      on conflict (workspace_id, family, alias) do update
        set artifact_id = excluded.artifact_id, set_by = excluded.set_by, set_at = excluded.set_at
        where a.artifact_id <> excluded.artifact_id
      returning 1
    ), event as (
      insert into ${modelAliasEvents} (workspace_id, family, alias, action, version, previous_version, actor_id, at)
      select ${move.workspaceId}::uuid, ${move.family}::text, ${move.alias}::text, 'set', ${move.version}::int, (select version from old), ${move.actorId}::text, clock_timestamp()
      from up
      returning 1
    )
    select (select version from old) as previous_version, exists (select 1 from event) as moved`);
  // Both leave in one write; the lock answers first (Postgres runs a connection's statements in order).
  const [, rows] = await Promise.all([locked, moved]);
  const row = rows[0]!;
  return { previousVersion: row.previous_version, moved: row.moved };
}

/** Removes the alias if this model holds it, recording the removal; false when it does not. */
export async function removeAlias(tx: Tx, removal: AliasKey & { modelId: string; version: number; actorId: string }): Promise<boolean> {
  const locked = lockAlias(tx, removal);
  const removed = tx.execute<{ removed: boolean }>(sql`
    with gone as (
      delete from ${modelAliases}
      where workspace_id = ${removal.workspaceId}::uuid and family = ${removal.family}::text and alias = ${removal.alias}::text and artifact_id = ${removal.modelId}::uuid
      returning 1
    ), event as (
      insert into ${modelAliasEvents} (workspace_id, family, alias, action, version, previous_version, actor_id, at)
      select ${removal.workspaceId}::uuid, ${removal.family}::text, ${removal.alias}::text, 'removed', ${removal.version}::int, null, ${removal.actorId}::text, clock_timestamp()
      from gone
      returning 1
    )
    select exists (select 1 from event) as removed`);
  const [, rows] = await Promise.all([locked, removed]);
  return rows[0]!.removed;
}

/**
 * The aliases the outer query's model holds, by name: a column of models.get's one statement (a separate
 * statement costs a round of row-level security, ~0.3 ms at one client).
 */
export const heldAliases = sql<string[]>`array(select ${modelAliases.alias} from ${modelAliases}
  where ${modelAliases.artifactId} = ${modelArtifacts.id} order by 1)`.as('held_aliases');

/** One alias event as models.get reads it (JSON: `at` is an ISO string; a mover the caller cannot see is null). */
export interface AliasEventRow {
  alias: string;
  action: 'set' | 'removed';
  version: number;
  previousVersion: number | null;
  actorId: string | null;
  actorName: string | null;
  at: string;
}

/** How many alias events of a family a model's page shows. */
const HISTORY_LIMIT = 50;

/**
 * The latest alias events of the outer query's model's family, newest first, as one JSON column of the
 * same statement. Row-level security keeps it to the caller's workspaces, and users they may still see.
 */
export const familyHistory = sql<AliasEventRow[]>`(select coalesce(jsonb_agg(jsonb_build_object(
    'alias', h.alias, 'action', h.action, 'version', h.version, 'previousVersion', h.previous_version,
    'actorId', h.actor_id, 'actorName', h.actor_name, 'at', h.at) order by h.at desc, h.id desc), '[]'::jsonb)
  from (select e.id, e.alias, e.action, e.version, e.previous_version, u.id as actor_id, u.name as actor_name, e.at
    from ${modelAliasEvents} e left join ${users} u on u.id = e.actor_id
    where e.workspace_id = ${modelArtifacts.workspaceId} and e.family = ${modelArtifacts.family}
    order by e.at desc, e.id desc limit ${sql.raw(String(HISTORY_LIMIT))}) h)`.as('family_history');
