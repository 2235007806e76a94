import { protectedProcedure, router } from '../trpc/init.ts';
import { createWebhookInput, deliveriesInput, listWebhooksInput, updateWebhookInput, webhookIdInput } from './schemas.ts';
import * as webhooks from './service.ts';

/** A workspace's webhooks (admins and owners): signed per Standard Webhooks, delivered by the deliver-webhook job. */
export const webhooksRouter = router({
  create: protectedProcedure.input(createWebhookInput).mutation(({ ctx, input }) => webhooks.createWebhook(ctx.deps, ctx.user, input)),
  list: protectedProcedure.input(listWebhooksInput.optional()).query(({ ctx, input }) => webhooks.listWebhooks(ctx.deps, ctx.user, input ?? {})),
  update: protectedProcedure.input(updateWebhookInput).mutation(({ ctx, input }) => webhooks.updateWebhook(ctx.deps, ctx.user, input)),
  delete: protectedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.deleteWebhook(ctx.deps, ctx.user, input.webhookId)),
  rotateSecret: protectedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.rotateSecret(ctx.deps, ctx.user, input.webhookId)),
  // A mutation: it sends something.
  test: protectedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.testWebhook(ctx.deps, ctx.user, input.webhookId)),
  deliveries: protectedProcedure.input(deliveriesInput).query(({ ctx, input }) => webhooks.listDeliveries(ctx.deps, ctx.user, input)),
});
