import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { workspaces } from './workspaces.ts';

/**
 * A workspace's webhook: where its events are POSTed, signed per Standard Webhooks. Admins manage them;
 * the `deliver-webhook` job (owner connection) reads them.
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: id(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    /** The event types it receives (server/webhooks: model.ready, model.failed, model.deleted, export.ready). */
    events: text('events').array().notNull(),
    description: text('description'),
    /** The signing secret (`whsec_…`), sealed with a key derived from AUTH_SECRET: shown once, never listed. */
    secretSealed: text('secret_sealed').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Why it was disabled (by an admin, or after 3 days of failed deliveries). */
    disabledReason: text('disabled_reason'),
    /** The first failure of the current run of failures; cleared by a success. */
    failingSince: tstz('failing_since'),
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [index('webhooks_workspace_idx').on(t.workspaceId)],
);

/**
 * One message to one webhook: the Standard Webhooks `webhook-id` (`messageId`) stays the same on every
 * attempt, so a receiver deduplicates; UNIQUE(webhook, message) makes a re-run of the fan-out a no-op.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: id(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    messageId: text('message_id').notNull(),
    event: text('event').notNull(),
    /** The JSON body sent on every attempt: `{ type, timestamp, data }`, ids and links only, never a signed URL. */
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['pending', 'succeeded', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** The last attempt's HTTP status (null: no response), time taken and error in words. */
    responseStatus: integer('response_status'),
    durationMs: integer('duration_ms'),
    error: text('error'),
    lastAttemptAt: tstz('last_attempt_at'),
    nextAttemptAt: tstz('next_attempt_at'),
    createdAt: createdAt(),
  },
  (t) => [
    unique('webhook_deliveries_message_key').on(t.webhookId, t.messageId),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.createdAt),
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'succeeded', 'failed')`),
  ],
);

/** Every attempt of a delivery: the log the dashboard shows (status, response code, duration, attempt). */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: id(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    ok: boolean('ok').notNull(),
    responseStatus: integer('response_status'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [unique('webhook_attempts_attempt_key').on(t.deliveryId, t.attempt)],
);
