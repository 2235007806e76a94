import type { Tx } from '../../db/client.ts';
import type { FitVerdict } from '../adapters/types.ts';
import type { Deps } from '../deps.ts';
import { publishNotifications } from '../events/publish.ts';
import type { StarScore } from '../quality/score.ts';
import type { ConvergenceLabel } from '../vocabulary.ts';
import { enqueueWebhookMessages, type FanOutDeps } from '../webhooks/fan-out.ts';
import * as q from './queries.ts';

/**
 * Something a user is told about. Every notification is written by `notify` from one of these, so
 * webhooks and live updates can hang off that one seam and see the same typed event.
 */
export type NotificationEvent =
  | {
      kind: 'model.ready';
      /** Every member of the workspace is told. */
      workspaceId: string;
      jobId: string;
      artifactId: string;
      modelName: string;
      fileCount: number;
      qualityScore: StarScore | null;
      convergence: ConvergenceLabel | null;
      /** Null when the dataset is gone. */
      datasetName: string | null;
      /** Whether the adapter fits its base model (server/adapters/fit.ts): a mismatch is said in the notification. */
      fit: { verdict: FitVerdict; base: string | null; mismatchCount: number };
      /** Every lora_B is zero: the adapter changes nothing. */
      untrained: boolean;
    }
  | { kind: 'ingest.failed'; workspaceId: string; jobId: string; jobName: string; error: string }
  | {
      kind: 'model.deleted';
      /** Every member of the workspace is told: one event per workspace of a bulk delete. */
      workspaceId: string;
      /** The names of the models moved to the trash (all of them; the text shows the first few). */
      modelNames: string[];
      /** Their ids, in the same order (a webhook message per model). */
      modelIds: string[];
      /** Who deleted them (their display name). */
      by: string;
      /** When the trash purges them for good (ISO); until then they can be restored. */
      purgeAfter: string;
    }
  | { kind: 'workspace.invited'; userId: string; workspaceName: string; role: string; link: string }
  | {
      kind: 'export.ready';
      /** Every member of the workspace is told (anyone may download it). */
      workspaceId: string;
      artifactId: string;
      modelName: string;
      /** The exported file's path among the model's files. */
      path: string;
      format: 'gguf';
    }
  | { kind: 'export.failed'; workspaceId: string; artifactId: string; modelName: string; error: string }
  /** Its workspace's admins and owners are told (only they manage webhooks). */
  | { kind: 'webhook.disabled'; workspaceId: string; webhookId: string; url: string; reason: string };

type NotificationKind = NotificationEvent['kind'];

/** The `notifications.type` each event kind is stored (and listed) as. */
const NOTIFICATION_TYPE = {
  'model.ready': 'model_ready',
  'ingest.failed': 'ingest_failed',
  'model.deleted': 'model_deleted',
  'workspace.invited': 'workspace_invited',
  'export.ready': 'export_ready',
  'export.failed': 'export_failed',
  'webhook.disabled': 'webhook_disabled',
} as const satisfies Record<NotificationKind, string>;

/** Title, body and link; `team` names the workspace when it is not the reader's personal one. */
function render(event: NotificationEvent, team: string | null): { title: string; body: string; link: string } {
  switch (event.kind) {
    case 'model.ready': {
      const stars = event.qualityScore ? `${event.qualityScore}★ ${event.convergence}` : 'not rated';
      // What would make the model fail where it is run comes first: an adapter that does not fit, or one never trained.
      const warnings = [
        event.fit.verdict === 'mismatch'
          ? `Warning: it does not fit its base model ${event.fit.base ?? ''} (${event.fit.mismatchCount} tensor${event.fit.mismatchCount === 1 ? '' : 's'} differ).`
          : null,
        event.untrained ? 'Warning: untrained, every lora_B is zero, so the adapter changes nothing.' : null,
      ].filter((w) => w !== null);
      const fits = event.fit.verdict === 'fits' ? `, fits ${event.fit.base}` : '';
      return {
        title: team ? `${event.modelName} is ready in ${team}` : `Your model ${event.modelName} is ready`,
        body: [`${event.fileCount} files, ${stars}${fits}${event.datasetName ? `, trained on ${event.datasetName}` : ''}.`, ...warnings].join(' '),
        link: `/models/${event.artifactId}`,
      };
    }
    case 'ingest.failed':
      return {
        title: team ? `${event.jobName} could not be delivered in ${team}` : `Your model ${event.jobName} could not be delivered`,
        body: event.error,
        link: `/jobs?job=${event.jobId}`,
      };
    case 'model.deleted': {
      const shown = event.modelNames.slice(0, 3).join(', ');
      const more = event.modelNames.length > 3 ? ` and ${event.modelNames.length - 3} more` : '';
      const what = event.modelNames.length === 1 ? event.modelNames[0]! : `${event.modelNames.length} models`;
      return {
        title: `${event.by} moved ${what} to the trash${team ? ` in ${team}` : ''}`,
        body: `${shown}${more}: restorable until ${event.purgeAfter.slice(0, 16).replace('T', ' ')} UTC, then deleted for good.`,
        link: '/models?trash=1',
      };
    }
    case 'export.ready':
      return {
        title: team ? `The GGUF export of ${event.modelName} is ready in ${team}` : `The GGUF export of ${event.modelName} is ready`,
        body: `${event.path}: a llama.cpp LoRA adapter (F16), for llama.cpp --lora and an Ollama ADAPTER line.`,
        link: `/models/${event.artifactId}`,
      };
    case 'export.failed':
      return {
        title: team ? `The GGUF export of ${event.modelName} failed in ${team}` : `The GGUF export of ${event.modelName} failed`,
        body: event.error,
        link: `/models/${event.artifactId}`,
      };
    case 'webhook.disabled':
      return {
        title: team ? `A webhook of ${team} was disabled` : 'Your webhook was disabled',
        body: `${event.url}: ${event.reason} Fix the receiver, then enable it again.`,
        link: '/webhooks',
      };
    case 'workspace.invited':
      return {
        title: `You are invited to ${event.workspaceName}`,
        body: `Join as ${event.role}: open the invitation to accept it.`,
        link: event.link,
      };
  }
}

/** The roles told about what only they manage. */
const ADMINS = ['admin', 'owner'] as const;

/**
 * Records `event` inside `tx`, so the notification exists exactly when the state change that caused it
 * commits: one per member of the event's workspace (notifications stay per user), or for its one user.
 * The one place notifications are written. Runs on the owner's connection (members' rows are not the caller's).
 * `deps` is what the webhook fan-out needs: the queue, the public URL and the clock.
 */
export async function notify(deps: FanOutDeps, tx: Tx, event: NotificationEvent): Promise<void> {
  // Webhooks hear the same event, in the same transaction (server/webhooks/fan-out.ts).
  await enqueueWebhookMessages(deps, tx, event);
  const type = NOTIFICATION_TYPE[event.kind];
  if (!('workspaceId' in event)) {
    await publishNotifications(tx, await q.insertNotification(tx, { userId: event.userId, type, ...render(event, null) }));
    return;
  }
  const workspace = await q.workspaceForNotice(tx, event.workspaceId);
  if (!workspace) return;
  const text = render(event, workspace.personal ? null : workspace.name);
  const rows = await q.insertForMembers(tx, event.workspaceId, { type, ...text }, event.kind === 'webhook.disabled' ? ADMINS : undefined);
  // Each recipient's open dashboards hear it at commit (GET /api/events).
  await publishNotifications(tx, rows);
}

/**
 * A page of the caller's notifications, `nextCursor` (null on the last page), and how many are unread in all:
 * counted by the server, so the bell is right however few it lists.
 */
export function listNotifications(
  deps: Deps,
  userId: string,
  input: { unreadOnly?: boolean | undefined; limit: number; cursor?: string | null | undefined },
) {
  return deps.database.asUser({ userId }, async (tx) => {
    const rows = await q.listNotifications(tx, userId, { unreadOnly: input.unreadOnly ?? false, limit: input.limit, cursor: input.cursor ?? null });
    const page = rows.slice(0, input.limit);
    const nextCursor = rows.length > input.limit ? page[page.length - 1]!.id : null;
    return { notifications: page, nextCursor, unreadCount: await q.unreadCount(tx, userId) };
  });
}

/** Marks the caller's named notifications read; ids already read or not theirs are left alone. */
export async function markRead(deps: Deps, userId: string, ids: string[]): Promise<{ updated: number }> {
  const rows = await deps.database.asUser({ userId }, (tx) => q.markRead(tx, userId, ids));
  return { updated: rows.length };
}

/** Marks every unread notification of the caller read (the bell's "Mark all read"); returns how many. */
export async function markAllRead(deps: Deps, userId: string): Promise<{ count: number }> {
  return { count: await deps.database.asUser({ userId }, (tx) => q.markAllRead(tx, userId)) };
}
