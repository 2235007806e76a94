import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromDrizzle } from 'pg-boss';
import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import type { NotificationEvent } from '../notifications/service.ts';
import { deliverWebhookJob } from './deliver.job.ts';
import * as q from './queries.ts';
import type { WebhookEvent } from './schemas.ts';

/** What the fan-out needs of the service: the queue, the public URL links are built on, the clock. */
export type FanOutDeps = Pick<Deps, 'boss' | 'env' | 'now'>;

/** The Standard Webhooks message id (`webhook-id`): one per message, the same on every attempt and every webhook. */
export function newMessageId(): string {
  return `msg_${randomUUID()}`;
}

/** The webhook event a notification is, and its workspace; null for notifications no webhook receives. */
function webhookEventOf(event: NotificationEvent): { type: WebhookEvent; workspaceId: string } | null {
  switch (event.kind) {
    case 'model.ready':
      return { type: 'model.ready', workspaceId: event.workspaceId };
    case 'ingest.failed':
      return { type: 'model.failed', workspaceId: event.workspaceId };
    case 'model.deleted':
      return { type: 'model.deleted', workspaceId: event.workspaceId };
    case 'export.ready':
      return { type: 'export.ready', workspaceId: event.workspaceId };
    default:
      return null;
  }
}

/**
 * Each message's `data`: ids, names and a dashboard link (PUBLIC_URL), never a signed download link; a
 * receiver fetches files with its own API token (`lora pull`, models.download).
 */
async function messageData(tx: Tx, publicUrl: string, event: NotificationEvent): Promise<Record<string, unknown>[]> {
  const modelLink = (id: string) => `${publicUrl}/models/${id}`;
  switch (event.kind) {
    case 'model.ready': {
      const facts = await q.modelFacts(tx, event.artifactId);
      return [
        {
          workspaceId: event.workspaceId,
          modelId: event.artifactId,
          jobId: event.jobId,
          name: event.modelName,
          family: facts?.family ?? null,
          version: facts?.version ?? null,
          ref: facts ? `${facts.family}@v${facts.version}` : null,
          qualityScore: event.qualityScore,
          convergence: event.convergence,
          filesCount: event.fileCount,
          fit: event.fit.verdict,
          untrained: event.untrained,
          link: modelLink(event.artifactId),
        },
      ];
    }
    case 'ingest.failed':
      return [
        {
          workspaceId: event.workspaceId,
          jobId: event.jobId,
          jobName: event.jobName,
          error: event.error,
          link: `${publicUrl}/jobs?job=${event.jobId}`,
        },
      ];
    case 'model.deleted':
      return event.modelIds.map((modelId, i) => ({
        workspaceId: event.workspaceId,
        modelId,
        name: event.modelNames[i] ?? null,
        deletedBy: event.by,
        purgeAfter: event.purgeAfter,
        link: `${publicUrl}/models?trash=1`,
      }));
    case 'export.ready':
      return [
        {
          workspaceId: event.workspaceId,
          modelId: event.artifactId,
          name: event.modelName,
          path: event.path,
          format: event.format,
          link: modelLink(event.artifactId),
        },
      ];
    default:
      return [];
  }
}

/**
 * Called by `notify` (server/notifications/service.ts) in the transaction of the change: one delivery per
 * message per enabled webhook of the workspace subscribed to its type, each with its delivery job, so the
 * deliveries exist exactly when the change commits. notify's callers have left app_user by then (they write
 * other members' notifications), so this reads every webhook of the workspace and may write pg-boss's tables.
 */
export async function enqueueWebhookMessages(deps: FanOutDeps, tx: Tx, event: NotificationEvent): Promise<void> {
  const target = webhookEventOf(event);
  if (!target) return;
  const hooks = await q.subscribedWebhooks(tx, target.workspaceId, target.type);
  if (hooks.length === 0) return;
  const timestamp = new Date(deps.now()).toISOString();
  const messages = (await messageData(tx, deps.env.publicUrl, event)).map((data) => ({
    messageId: newMessageId(),
    payload: { type: target.type, timestamp, data },
  }));
  const ids = await q.insertDeliveries(
    tx,
    hooks.flatMap((h) => messages.map((m) => ({ webhookId: h.id, workspaceId: target.workspaceId, event: target.type, ...m }))),
  );
  await enqueueDeliveries(deps, tx, ids);
}

/** One delivery job per delivery, in `tx` (the owner's role: pg-boss's tables are not app_user's). Job id = delivery id. */
export async function enqueueDeliveries(deps: Pick<Deps, 'boss'>, tx: Tx, deliveryIds: string[]): Promise<void> {
  if (deliveryIds.length === 0) return;
  await deps.boss.insert(
    deliverWebhookJob.name,
    deliveryIds.map((id) => ({ id, data: { deliveryId: id } })),
    { db: fromDrizzle(tx, sql) },
  );
}
