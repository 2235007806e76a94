import { and, asc, count, desc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.ts';
import { modelArtifacts, webhookAttempts, webhookDeliveries, webhooks } from '../../db/schema/index.ts';

// ---- webhooks (the user's transaction: row-level security lets admins and owners only)

/** Serialises creates in one workspace for the rest of `tx`, so its cap holds under concurrent calls. */
export async function lockWorkspaceWebhooks(tx: Tx, workspaceId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('webhooks:' || ${workspaceId}))`);
}

export async function countWebhooks(tx: Tx, workspaceId: string): Promise<number> {
  const [row] = await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.workspaceId, workspaceId));
  return row?.n ?? 0;
}

export async function insertWebhook(
  tx: Tx,
  row: { id: string; workspaceId: string; url: string; events: string[]; description: string | null; secretSealed: string; createdBy: string },
): Promise<void> {
  await tx.insert(webhooks).values(row);
}

/** What a webhook shows: everything but its secret. */
const listed = {
  id: webhooks.id,
  workspaceId: webhooks.workspaceId,
  url: webhooks.url,
  events: webhooks.events,
  description: webhooks.description,
  enabled: webhooks.enabled,
  disabledReason: webhooks.disabledReason,
  failingSince: webhooks.failingSince,
  createdAt: webhooks.createdAt,
  updatedAt: webhooks.updatedAt,
};

export function listWebhooks(tx: Tx, workspaceId: string) {
  return tx.select(listed).from(webhooks).where(eq(webhooks.workspaceId, workspaceId)).orderBy(asc(webhooks.createdAt), asc(webhooks.id));
}

/** The workspace a webhook is in, whoever asks (owner connection): the caller's role there decides what they learn. */
export async function webhookWorkspace(db: Db, webhookId: string): Promise<string | null> {
  const [row] = await db.select({ workspaceId: webhooks.workspaceId }).from(webhooks).where(eq(webhooks.id, webhookId));
  return row?.workspaceId ?? null;
}

export async function updateWebhook(
  tx: Tx,
  webhookId: string,
  patch: Partial<{
    url: string;
    events: string[];
    description: string | null;
    enabled: boolean;
    disabledReason: string | null;
    failingSince: Date | null;
  }>,
) {
  const [row] = await tx
    .update(webhooks)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(eq(webhooks.id, webhookId))
    .returning(listed);
  return row ?? null;
}

export async function setSecret(tx: Tx, webhookId: string, secretSealed: string): Promise<boolean> {
  const rows = await tx
    .update(webhooks)
    .set({ secretSealed, updatedAt: sql`now()` })
    .where(eq(webhooks.id, webhookId))
    .returning({ id: webhooks.id });
  return rows.length > 0;
}

/** Deletes the webhook; its deliveries and their attempts go with it, and their queued jobs find nothing to send. */
export async function deleteWebhook(tx: Tx, webhookId: string): Promise<boolean> {
  const rows = await tx.delete(webhooks).where(eq(webhooks.id, webhookId)).returning({ id: webhooks.id });
  return rows.length > 0;
}

// ---- deliveries

/** The enabled webhooks of a workspace that receive `event` (in a notify transaction: the owner's role). */
export function subscribedWebhooks(tx: Tx, workspaceId: string, event: string) {
  return tx
    .select({ id: webhooks.id })
    .from(webhooks)
    .where(and(eq(webhooks.workspaceId, workspaceId), eq(webhooks.enabled, true), sql`${event} = any(${webhooks.events})`));
}

/** New deliveries; one already there for the same webhook and message is left alone. Returns the ids inserted. */
export async function insertDeliveries(
  tx: Tx,
  rows: { webhookId: string; workspaceId: string; messageId: string; event: string; payload: unknown }[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = await tx.insert(webhookDeliveries).values(rows).onConflictDoNothing().returning({ id: webhookDeliveries.id });
  return inserted.map((r) => r.id);
}

/** What a model.ready message names besides the event's own facts. */
export async function modelFacts(tx: Tx, modelId: string) {
  const [row] = await tx
    .select({ family: modelArtifacts.family, version: modelArtifacts.version })
    .from(modelArtifacts)
    .where(eq(modelArtifacts.id, modelId));
  return row ?? null;
}

/** A page of a webhook's deliveries, newest first, after the delivery `cursor` (keyset on created_at, id). */
export function listDeliveries(tx: Tx, webhookId: string, options: { limit: number; cursor: string | undefined }) {
  const after = options.cursor
    ? sql`(${webhookDeliveries.createdAt}, ${webhookDeliveries.id}) < (select d.created_at, d.id from webhook_deliveries d where d.id = ${options.cursor})`
    : undefined;
  return tx
    .select({
      id: webhookDeliveries.id,
      messageId: webhookDeliveries.messageId,
      event: webhookDeliveries.event,
      status: webhookDeliveries.status,
      attempts: webhookDeliveries.attempts,
      responseStatus: webhookDeliveries.responseStatus,
      durationMs: webhookDeliveries.durationMs,
      error: webhookDeliveries.error,
      lastAttemptAt: webhookDeliveries.lastAttemptAt,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
      createdAt: webhookDeliveries.createdAt,
    })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, webhookId), after))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(options.limit + 1);
}

export function attemptsOf(tx: Tx, deliveryIds: string[]) {
  if (deliveryIds.length === 0) return Promise.resolve([]);
  return tx
    .select({
      deliveryId: webhookAttempts.deliveryId,
      attempt: webhookAttempts.attempt,
      ok: webhookAttempts.ok,
      responseStatus: webhookAttempts.responseStatus,
      durationMs: webhookAttempts.durationMs,
      error: webhookAttempts.error,
      createdAt: webhookAttempts.createdAt,
    })
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, deliveryIds))
    .orderBy(asc(webhookAttempts.attempt));
}

// ---- the delivery job (owner connection)

/** A delivery with what sending it needs; null when it or its webhook was deleted. */
export async function deliveryToSend(db: Db, deliveryId: string) {
  const [row] = await db
    .select({
      id: webhookDeliveries.id,
      messageId: webhookDeliveries.messageId,
      event: webhookDeliveries.event,
      payload: webhookDeliveries.payload,
      status: webhookDeliveries.status,
      attempts: webhookDeliveries.attempts,
      createdAt: webhookDeliveries.createdAt,
      webhookId: webhooks.id,
      workspaceId: webhooks.workspaceId,
      url: webhooks.url,
      enabled: webhooks.enabled,
      secretSealed: webhooks.secretSealed,
    })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .where(eq(webhookDeliveries.id, deliveryId));
  return row ?? null;
}

/** Locks a delivery still pending; null when another run of its job finished it meanwhile (or it is gone). */
export async function lockPendingDelivery(tx: Tx, deliveryId: string) {
  const [row] = await tx
    .select({ attempts: webhookDeliveries.attempts })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')))
    .for('update');
  return row ?? null;
}

export interface AttemptRecord {
  attempt: number;
  ok: boolean;
  responseStatus: number | null;
  durationMs: number;
  error: string | null;
}

/** Logs one attempt and moves the delivery to its state after it. */
export async function recordAttempt(
  tx: Tx,
  deliveryId: string,
  a: AttemptRecord,
  after: { status: 'pending' | 'succeeded' | 'failed'; at: Date; nextAttemptAt: Date | null },
): Promise<void> {
  await tx
    .insert(webhookAttempts)
    .values({ deliveryId, attempt: a.attempt, ok: a.ok, responseStatus: a.responseStatus, durationMs: a.durationMs, error: a.error })
    .onConflictDoNothing();
  await tx
    .update(webhookDeliveries)
    .set({
      status: after.status,
      attempts: a.attempt,
      responseStatus: a.responseStatus,
      durationMs: a.durationMs,
      error: a.error,
      lastAttemptAt: after.at,
      nextAttemptAt: after.nextAttemptAt,
    })
    .where(eq(webhookDeliveries.id, deliveryId));
}

/** Ends a delivery that will not be attempted (its webhook was disabled meanwhile). */
export async function abandonDelivery(db: Db, deliveryId: string, reason: string): Promise<void> {
  await db
    .update(webhookDeliveries)
    .set({ status: 'failed', error: reason, nextAttemptAt: null })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')));
}

/** A success ends the webhook's run of failures. */
export async function clearFailing(tx: Tx, webhookId: string): Promise<void> {
  await tx
    .update(webhooks)
    .set({ failingSince: null })
    .where(and(eq(webhooks.id, webhookId), sql`${webhooks.failingSince} is not null`));
}

/** A failure starts a run of failures (unless one is under way); returns when that run started. */
export async function markFailing(tx: Tx, webhookId: string, at: Date): Promise<Date | null> {
  const [row] = await tx
    .update(webhooks)
    .set({ failingSince: sql`coalesce(${webhooks.failingSince}, ${at.toISOString()}::timestamptz)` })
    .where(eq(webhooks.id, webhookId))
    .returning({ failingSince: webhooks.failingSince });
  return row?.failingSince ?? null;
}

/** Disables a webhook still enabled whose failures began at or before `cutoff`; returns it, or null. */
export async function disableFailing(tx: Tx, webhookId: string, cutoff: Date, reason: string) {
  const [row] = await tx
    .update(webhooks)
    .set({ enabled: false, disabledReason: reason, updatedAt: sql`now()` })
    .where(and(eq(webhooks.id, webhookId), eq(webhooks.enabled, true), lte(webhooks.failingSince, cutoff)))
    .returning({ id: webhooks.id, url: webhooks.url, workspaceId: webhooks.workspaceId });
  return row ?? null;
}
