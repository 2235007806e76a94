import { and, count, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.ts';
import { notifications, workspaceMembers, workspaces } from '../../db/schema/index.ts';
import type { Role } from '../workspaces/roles.ts';

/**
 * A page of the user's notifications, newest first (unread ones only when asked), after the notification
 * `cursor` (keyset on created_at, id: rows written by one statement share created_at). Reads `limit + 1`
 * rows, so the caller knows whether there is a next page. A cursor that is not one of the user's rows
 * matches nothing: an empty page.
 */
export function listNotifications(tx: Tx, userId: string, options: { unreadOnly: boolean; limit: number; cursor: string | null }) {
  const mine = eq(notifications.userId, userId);
  const after = options.cursor
    ? sql`(${notifications.createdAt}, ${notifications.id}) < (select n.created_at, n.id from notifications n where n.id = ${options.cursor} and n.user_id = ${userId})`
    : undefined;
  return tx
    .select({
      id: notifications.id,
      type: notifications.type,
      title: notifications.title,
      body: notifications.body,
      link: notifications.link,
      readAt: notifications.readAt,
      createdAt: notifications.createdAt,
    })
    .from(notifications)
    .where(and(mine, options.unreadOnly ? isNull(notifications.readAt) : undefined, after))
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(options.limit + 1);
}

export async function unreadCount(tx: Tx, userId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(notifications)
    .where(and(eq(notifications.userId, userId), isNull(notifications.readAt)));
  return row?.n ?? 0;
}

/** Marks the named unread notifications read; returns the ids it changed. */
export function markRead(tx: Tx, userId: string, ids: string[]) {
  return tx
    .update(notifications)
    .set({ readAt: new Date() })
    .where(and(eq(notifications.userId, userId), inArray(notifications.id, ids), isNull(notifications.readAt)))
    .returning({ id: notifications.id });
}

/** What a live `notification` event carries of each new row (server/events/publish.ts). */
const inserted = {
  id: notifications.id,
  userId: notifications.userId,
  type: notifications.type,
  title: notifications.title,
  body: notifications.body,
  link: notifications.link,
  createdAt: notifications.createdAt,
};

/** Marks every unread notification of the user read; returns how many it changed. */
export async function markAllRead(tx: Tx, userId: string): Promise<number> {
  const rows = await tx
    .update(notifications)
    .set({ readAt: new Date() })
    .where(and(eq(notifications.userId, userId), isNull(notifications.readAt)))
    .returning({ id: notifications.id });
  return rows.length;
}

export function insertNotification(tx: Tx, row: { userId: string; type: string; title: string; body: string | null; link: string | null }) {
  return tx.insert(notifications).values(row).returning(inserted);
}

export async function workspaceForNotice(tx: Tx, workspaceId: string) {
  const [row] = await tx.select({ name: workspaces.name, personal: workspaces.personal }).from(workspaces).where(eq(workspaces.id, workspaceId));
  return row ?? null;
}

/** One notification per member of the workspace (of those roles, when given), in one statement. */
export async function insertForMembers(
  tx: Tx,
  workspaceId: string,
  row: { type: string; title: string; body: string | null; link: string | null },
  roles?: readonly Role[],
) {
  return tx
    .insert(notifications)
    .select(
      tx
        .select({
          id: sql`gen_random_uuid()`.as('id'),
          userId: workspaceMembers.userId,
          type: sql`${row.type}`.as('type'),
          title: sql`${row.title}`.as('title'),
          body: sql`${row.body}`.as('body'),
          link: sql`${row.link}`.as('link'),
          readAt: sql`null::timestamptz`.as('read_at'),
          createdAt: sql`now()`.as('created_at'),
        })
        .from(workspaceMembers)
        .where(and(eq(workspaceMembers.workspaceId, workspaceId), roles ? inArray(workspaceMembers.role, [...roles]) : undefined)),
    )
    .returning(inserted);
}
