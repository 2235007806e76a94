import { z } from 'zod';

/** What a webhook may subscribe to: the `type` of each message it receives. */
const WEBHOOK_EVENTS = ['model.ready', 'model.failed', 'model.deleted', 'export.ready'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The message `webhooks.test` sends: no webhook subscribes to it, any webhook may be sent one. */
export const TEST_EVENT = 'webhook.test';

const MAX_URL_LENGTH = 2048;

/**
 * The target's syntax: a URL that parses, http(s), no credentials in it. Whether plain http is allowed and
 * where the host points need the server's settings and DNS: the service checks them (webhooks/target.ts).
 */
const url = z
  .string()
  .trim()
  .min(1)
  .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
  .superRefine((value, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL, such as https://example.com/hooks/lora' });
      return;
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: 'must be an https:// URL' });
    else if (parsed.username || parsed.password) {
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@); verify the signature instead' });
    }
  });

/** Event names, each known; duplicates are dropped. Unknown names are refused by name. */
const events = z
  .array(z.string().max(100))
  .min(1, 'choose at least one event')
  .max(20)
  .superRefine((names, ctx) => {
    const unknown = names.filter((n) => !(WEBHOOK_EVENTS as readonly string[]).includes(n));
    if (unknown.length) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown event${unknown.length === 1 ? '' : 's'} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; known: ${WEBHOOK_EVENTS.join(', ')}`,
      });
    }
  })
  .transform((names) => [...new Set(names)] as WebhookEvent[]);

const description = z.string().trim().max(500);

export const createWebhookInput = z.object({
  /** Default: the caller's personal workspace (or an API token's own). */
  workspaceId: z.uuid().optional(),
  url,
  events,
  description: description.optional(),
});

export const listWebhooksInput = z.object({ workspaceId: z.uuid().optional() });

export const webhookIdInput = z.object({ webhookId: z.uuid() });

export const updateWebhookInput = z.object({
  webhookId: z.uuid(),
  url: url.optional(),
  events: events.optional(),
  /** null clears it. */
  description: description.nullable().optional(),
  /** Enabling again clears why it was disabled and its run of failures. */
  enabled: z.boolean().optional(),
});

export const deliveriesInput = z.object({
  webhookId: z.uuid(),
  limit: z.number().int().min(1).max(100).default(20),
  /** The last delivery id of the previous page (`nextCursor`). */
  cursor: z.uuid().optional(),
});
