import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import type { StarScore } from '../quality/score.ts';
import type { ConvergenceLabel } from '../vocabulary.ts';
import * as q from './queries.ts';

/**
 * Something a user is told about. Every notification is written by `notify` from one of these, so
 * webhooks and live updates can hang off that one seam and see the same typed event.
 */
export type NotificationEvent =
  | {
      kind: 'model.ready';
      userId: string;
      jobId: string;
      artifactId: string;
      modelName: string;
      fileCount: number;
      qualityScore: StarScore | null;
      convergence: ConvergenceLabel | null;
      /** Null when the dataset is gone. */
      datasetName: string | null;
    }
  | { kind: 'ingest.failed'; userId: string; jobId: string; jobName: string; error: string };

type NotificationKind = NotificationEvent['kind'];

/** The `notifications.type` each event kind is stored (and listed) as. */
const NOTIFICATION_TYPE = { 'model.ready': 'model_ready', 'ingest.failed': 'ingest_failed' } as const satisfies Record<NotificationKind, string>;

function render(event: NotificationEvent): { title: string; body: string; link: string } {
  switch (event.kind) {
    case 'model.ready': {
      const stars = event.qualityScore ? `${event.qualityScore}★ ${event.convergence}` : 'not rated';
      return {
        title: `Your model ${event.modelName} is ready`,
        body: `${event.fileCount} files, ${stars}${event.datasetName ? `, trained on ${event.datasetName}` : ''}.`,
        link: `/models/${event.artifactId}`,
      };
    }
    case 'ingest.failed':
      return { title: `Your model ${event.jobName} could not be delivered`, body: event.error, link: `/jobs?job=${event.jobId}` };
  }
}

/**
 * Records `event` for its user inside `tx`, so the notification exists exactly when the state change
 * that caused it commits. The one place notifications are written.
 */
export async function notify(tx: Tx, event: NotificationEvent): Promise<void> {
  await q.insertNotification(tx, { userId: event.userId, type: NOTIFICATION_TYPE[event.kind], ...render(event) });
}

/** The caller's notifications and how many are unread. */
export function listNotifications(deps: Deps, userId: string, input: { unreadOnly?: boolean | undefined; limit: number }) {
  return deps.database.asUser(userId, async (tx) => {
    const rows = await q.listNotifications(tx, userId, { unreadOnly: input.unreadOnly ?? false, limit: input.limit });
    return { notifications: rows, unreadCount: await q.unreadCount(tx, userId) };
  });
}

/** Marks the caller's named notifications read; ids already read or not theirs are left alone. */
export async function markRead(deps: Deps, userId: string, ids: string[]): Promise<{ updated: number }> {
  const rows = await deps.database.asUser(userId, (tx) => q.markRead(tx, userId, ids));
  return { updated: rows.length };
}
