import type { JobWithMetadata } from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { notify } from '../notifications/service.ts';
import { defineJob } from '../queue/define-job.ts';
import { DAY_MS } from '../vocabulary.ts';
import * as q from './queries.ts';
import { TEST_EVENT } from './schemas.ts';
import { openSecret } from './secret.ts';
import { targetRefusal } from './target.ts';

/** One POST waits this long for the receiver's answer (headers and the little of the body we read). */
const TIMEOUT_MS = 15_000;
/** A delivery is retried for this long after its event, then given up. */
const RETRY_WINDOW_MS = DAY_MS;
/** A webhook failing for this long without one success is disabled, and its admins are told. */
const DISABLE_AFTER_MS = 3 * DAY_MS;
/** How much of a failing receiver's answer is kept as the error (for the delivery log). */
const BODY_SNIPPET = 300;

type Target = NonNullable<Awaited<ReturnType<typeof q.deliveryToSend>>>;

interface Sent {
  ok: boolean;
  responseStatus: number | null;
  durationMs: number;
  error: string | null;
}

/** The first few hundred characters of a failing answer, then the rest is dropped unread. */
async function snippet(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < BODY_SNIPPET) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // The answer's status is what counts; a body cut short is still a failure's detail.
  } finally {
    reader.cancel().catch(() => {});
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, BODY_SNIPPET);
}

/** One signed POST: the body is the stored payload, the same bytes on every attempt; only the timestamp moves. */
async function send(deps: Deps, target: Target): Promise<Sent> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(target.url);
  const refusal = await targetRefusal(url, deps.env.webhookAllowPrivateHosts);
  if (refusal) return { ok: false, responseStatus: null, durationMs: elapsed(), error: `Not sent: the URL ${refusal}.` };
  const body = JSON.stringify(target.payload);
  // One instant for the header and the signature: read twice, a second could tick between them.
  const at = new Date(deps.now());
  const signature = new Webhook(openSecret(deps.secret, target.webhookId, target.secretSealed)).sign(target.messageId, at, body);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'lora-artifacts-webhooks/1',
        'webhook-id': target.messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
      // A redirect is not followed: the next hop would escape the address check, and a receiver that moved says so.
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return {
      ok: false,
      responseStatus: null,
      durationMs: elapsed(),
      error: timedOut ? `No answer within ${TIMEOUT_MS / 1000} s.` : `Could not connect: ${(error as Error).message}`,
    };
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    await response.body?.cancel().catch(() => {});
    return { ok: true, responseStatus: status, durationMs: elapsed(), error: null };
  }
  const detail = status >= 300 && status < 400 ? 'redirects are not followed; point the webhook at the final URL' : await snippet(response);
  return { ok: false, responseStatus: status, durationMs: elapsed(), error: `HTTP ${status}${detail ? `: ${detail}` : ''}` };
}

/** The earliest time pg-boss runs the next attempt (its backoff adds up to as much again at random). */
function nextAttemptAt(job: JobWithMetadata<unknown>, now: number): Date {
  const base = Math.max(job.retryDelay, job.retryBackoff ? 1 : 0);
  const seconds = job.retryBackoff ? Math.min(job.retryDelayMax ?? Number.POSITIVE_INFINITY, base * 2 ** Math.min(16, job.retryCount)) : base;
  return new Date(now + seconds * 1000);
}

/**
 * Sends one webhook delivery (its id is the pg-boss job's id). At-least-once: every attempt carries the
 * delivery's `webhook-id`, so a receiver deduplicates; a delivery already succeeded or given up is not
 * sent again when pg-boss runs its job twice. A failure throws, and pg-boss retries with exponential
 * backoff (30 s doubling to an hour between attempts) until the delivery is a day old; then it has failed.
 * A webhook with no success for 3 days is disabled and its workspace's admins and owners are told.
 */
export const deliverWebhookJob = defineJob({
  name: 'deliver-webhook',
  payload: z.object({ deliveryId: z.uuid() }),
  queue: {
    notify: true,
    // One attempt is one POST of at most TIMEOUT_MS; a worker lost mid-attempt is retried soon.
    expireInSeconds: 120,
    // 30 s, 1, 2, 4 … min, capped at an hour: ~30 attempts cover the day of RETRY_WINDOW_MS.
    retryLimit: 40,
    retryDelay: 30,
    retryBackoff: true,
    retryDelayMax: 3600,
  },
  work: { includeMetadata: true, perJobResults: true, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 10 },
  // A slow receiver holds one slot for up to TIMEOUT_MS: the others keep delivering.
  slots: 4,
  async handle(deps, { deliveryId }, job) {
    const { db } = deps.database;
    const target = await q.deliveryToSend(db, deliveryId);
    if (!target) return { status: 'completed', output: { skipped: 'deleted' } };
    if (target.status !== 'pending') return { status: 'completed', output: { skipped: target.status } };
    if (!target.enabled && target.event !== TEST_EVENT) {
      await q.abandonDelivery(db, deliveryId, 'Not sent: the webhook was disabled.');
      return { status: 'completed', output: { skipped: 'disabled' } };
    }
    const log = deps.log.child({ job: 'deliver-webhook', deliveryId, webhookId: target.webhookId, attempt: target.attempts + 1 });
    const sent = await send(deps, target);
    const now = deps.now();
    const final = sent.ok || job.retryCount >= job.retryLimit || now - target.createdAt.getTime() >= RETRY_WINDOW_MS;
    const outcome = await db.transaction(async (tx) => {
      const pending = await q.lockPendingDelivery(tx, deliveryId);
      // Another run of this job recorded the delivery's end meanwhile: this attempt changes nothing.
      if (!pending) return 'settled' as const;
      let ended = final;
      if (sent.ok) await q.clearFailing(tx, target.webhookId);
      else {
        await q.markFailing(tx, target.webhookId, new Date(now));
        const reason = `Disabled after 3 days of failed deliveries (last: ${sent.error ?? 'no answer'}).`;
        const off = await q.disableFailing(tx, target.webhookId, new Date(now - DISABLE_AFTER_MS), reason);
        if (off) {
          ended = true;
          await notify(deps, tx, { kind: 'webhook.disabled', workspaceId: off.workspaceId, webhookId: off.id, url: off.url, reason });
        }
      }
      await q.recordAttempt(
        tx,
        deliveryId,
        { attempt: pending.attempts + 1, ...sent },
        {
          status: sent.ok ? 'succeeded' : ended ? 'failed' : 'pending',
          at: new Date(now),
          nextAttemptAt: ended ? null : nextAttemptAt(job as unknown as JobWithMetadata<unknown>, now),
        },
      );
      return sent.ok ? ('succeeded' as const) : ended ? ('gave_up' as const) : ('failed' as const);
    });
    if (outcome === 'settled') return { status: 'completed', output: { skipped: 'settled' } };
    deps.metrics.webhookDeliveries.inc({ outcome });
    if (outcome === 'failed') {
      log.warn('webhook delivery failed; will retry', { error: sent.error, status: sent.responseStatus });
      throw new Error(`webhook delivery failed: ${sent.error}`);
    }
    if (outcome === 'gave_up') log.warn('webhook delivery failed for good', { error: sent.error, status: sent.responseStatus });
    return { status: 'completed', output: { outcome, responseStatus: sent.responseStatus } };
  },
});
