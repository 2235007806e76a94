import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { z } from 'zod';
import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { memberRole } from '../workspaces/queries.ts';
import { type Actor, judge, rls, targetWorkspace } from '../workspaces/roles.ts';
import { inWorkspace } from '../workspaces/service.ts';
import { enqueueDeliveries, newMessageId } from './fan-out.ts';
import * as q from './queries.ts';
import { TEST_EVENT, type createWebhookInput, type deliveriesInput, type updateWebhookInput } from './schemas.ts';
import { newSigningSecret, sealSecret } from './secret.ts';
import { targetRefusal } from './target.ts';

/** Enough for every pipeline a team wires up; a runaway script stops here. */
const MAX_WEBHOOKS_PER_WORKSPACE = 20;

/** The URL, refused in one clear line (BAD_REQUEST naming `url`) when it is not https or reaches a non-public address. */
async function checkedUrl(deps: Deps, raw: string): Promise<string> {
  const url = new URL(raw);
  const refusal = await targetRefusal(url, deps.env.webhookAllowPrivateHosts);
  if (refusal) throw ERRORS.invalidField('url', `The webhook URL ${refusal}.`);
  return url.href;
}

function view(row: Awaited<ReturnType<typeof q.listWebhooks>>[number]) {
  return {
    ...row,
    failingSince: row.failingSince?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * Runs `fn` as the actor on a webhook of a workspace where they are an admin or owner. Row-level security shows
 * webhooks to admins only, so which workspace the webhook is in is read first as the service: a member or
 * viewer of that workspace is told FORBIDDEN, anyone else NOT_FOUND (as for a webhook that does not exist).
 */
async function asAdminOf<T>(deps: Deps, actor: Actor, webhookId: string, fn: (tx: Tx, workspaceId: string) => Promise<T>): Promise<T> {
  const workspaceId = await q.webhookWorkspace(deps.database.db, webhookId);
  if (!workspaceId) throw ERRORS.notFound('Webhook');
  return deps.database.asUser(rls(actor), async (tx) => {
    judge(actor, await memberRole(tx, actor.userId, workspaceId), 'admin', 'Webhook');
    return fn(tx, workspaceId);
  });
}

/** A webhook of the workspace (admins and owners); its signing secret is returned this once. */
export async function createWebhook(deps: Deps, actor: Actor, input: z.infer<typeof createWebhookInput>) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const url = await checkedUrl(deps, input.url);
  const id = randomUUID();
  const secret = newSigningSecret();
  await inWorkspace(deps, actor, workspaceId, 'admin', async (tx) => {
    await q.lockWorkspaceWebhooks(tx, workspaceId);
    if ((await q.countWebhooks(tx, workspaceId)) >= MAX_WEBHOOKS_PER_WORKSPACE) {
      throw ERRORS.conflict(`A workspace has at most ${MAX_WEBHOOKS_PER_WORKSPACE} webhooks; delete one first.`);
    }
    await q.insertWebhook(tx, {
      id,
      workspaceId,
      url,
      events: input.events,
      description: input.description || null,
      secretSealed: sealSecret(deps.secret, id, secret),
      createdBy: actor.userId,
    });
  });
  return { id, secret };
}

/** The workspace's webhooks (admins and owners), never their secrets. */
export async function listWebhooks(deps: Deps, actor: Actor, input: { workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  const rows = await inWorkspace(deps, actor, workspaceId, 'admin', (tx) => q.listWebhooks(tx, workspaceId));
  return rows.map(view);
}

export async function updateWebhook(deps: Deps, actor: Actor & { name: string }, input: z.infer<typeof updateWebhookInput>) {
  const url = input.url === undefined ? undefined : await checkedUrl(deps, input.url);
  const row = await asAdminOf(deps, actor, input.webhookId, (tx) =>
    q.updateWebhook(tx, input.webhookId, {
      ...(url === undefined ? {} : { url }),
      ...(input.events === undefined ? {} : { events: input.events }),
      ...(input.description === undefined ? {} : { description: input.description || null }),
      // Enabled again: a fresh start, its old run of failures forgotten. Disabled by hand: say who did it.
      ...(input.enabled === true ? { enabled: true, disabledReason: null, failingSince: null } : {}),
      ...(input.enabled === false ? { enabled: false, disabledReason: `Disabled by ${actor.name}.` } : {}),
    }),
  );
  if (!row) throw ERRORS.notFound('Webhook');
  return view(row);
}

export async function deleteWebhook(deps: Deps, actor: Actor, webhookId: string) {
  const deleted = await asAdminOf(deps, actor, webhookId, (tx) => q.deleteWebhook(tx, webhookId));
  if (!deleted) throw ERRORS.notFound('Webhook');
  return { id: webhookId };
}

/** A new signing secret, returned this once; the old one stops at once (attempts still to come are signed with the new). */
export async function rotateSecret(deps: Deps, actor: Actor, webhookId: string) {
  const secret = newSigningSecret();
  const done = await asAdminOf(deps, actor, webhookId, (tx) => q.setSecret(tx, webhookId, sealSecret(deps.secret, webhookId, secret)));
  if (!done) throw ERRORS.notFound('Webhook');
  return { secret };
}

/** Sends a `webhook.test` message through the delivery path every event takes (a disabled webhook too). */
export async function testWebhook(deps: Deps, actor: Actor, webhookId: string) {
  const messageId = newMessageId();
  const deliveryId = await asAdminOf(deps, actor, webhookId, async (tx, workspaceId) => {
    const payload = {
      type: TEST_EVENT,
      timestamp: new Date(deps.now()).toISOString(),
      data: { workspaceId, webhookId, message: 'A test message from lora-artifacts: the signature verified, this webhook works.' },
    };
    const [id] = await q.insertDeliveries(tx, [{ webhookId, workspaceId, messageId, event: TEST_EVENT, payload }]);
    // pg-boss's tables are not app_user's: leave the restricted role for the enqueue (same transaction).
    await tx.execute(sql`reset role`);
    await enqueueDeliveries(deps, tx, [id!]);
    return id!;
  });
  return { deliveryId, messageId };
}

/** The webhook's deliveries, newest first, each with its attempts (admins and owners). */
export async function listDeliveries(deps: Deps, actor: Actor, input: z.infer<typeof deliveriesInput>) {
  const { rows, attempts } = await asAdminOf(deps, actor, input.webhookId, async (tx) => {
    const rows = await q.listDeliveries(tx, input.webhookId, { limit: input.limit, cursor: input.cursor });
    const page = rows.slice(0, input.limit);
    return {
      rows,
      attempts: await q.attemptsOf(
        tx,
        page.map((r) => r.id),
      ),
    };
  });
  const page = rows.slice(0, input.limit);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    deliveries: page.map((d) => ({
      ...d,
      lastAttemptAt: iso(d.lastAttemptAt),
      nextAttemptAt: iso(d.nextAttemptAt),
      createdAt: d.createdAt.toISOString(),
      attemptLog: attempts.filter((a) => a.deliveryId === d.id).map(({ deliveryId: _, ...a }) => ({ ...a, createdAt: a.createdAt.toISOString() })),
    })),
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.id : null,
  };
}
