import { z } from 'zod';
import { protectedProcedure, publicProcedure, router } from '../trpc/init.ts';
import { emailInput, inviteTokenInput, roleInput, workspaceName } from './schemas.ts';
import * as invitations from './invitations.ts';
import * as workspaces from './service.ts';
import * as checkpoints from '../registry/checkpoints.ts';
import { usageInput, workspaceSettingsInput } from '../registry/schemas.ts';
import * as usage from '../registry/usage.ts';

const workspaceId = z.object({ workspaceId: z.uuid() });
const member = z.object({ workspaceId: z.uuid(), userId: z.string().min(1).max(100) });

const membersRouter = router({
  list: protectedProcedure.input(workspaceId).query(({ ctx, input }) => workspaces.listMembers(ctx.deps, ctx.user, input.workspaceId)),
  invites: protectedProcedure.input(workspaceId).query(({ ctx, input }) => invitations.listInvites(ctx.deps, ctx.user, input.workspaceId)),
  invite: protectedProcedure
    .input(z.object({ workspaceId: z.uuid(), email: emailInput, role: roleInput }))
    .mutation(({ ctx, input }) => invitations.inviteMember(ctx.deps, ctx.user, input)),
  revokeInvite: protectedProcedure
    .input(z.object({ workspaceId: z.uuid(), inviteId: z.uuid() }))
    .mutation(({ ctx, input }) => invitations.revokeInvite(ctx.deps, ctx.user, input.workspaceId, input.inviteId)),
  // Public: the invitation page shows what it offers before the visitor signs in.
  preview: publicProcedure.input(z.object({ token: inviteTokenInput })).query(({ ctx, input }) => invitations.previewInvite(ctx.deps, input.token)),
  accept: protectedProcedure
    .input(z.object({ token: inviteTokenInput }))
    .mutation(({ ctx, input }) => invitations.acceptInvite(ctx.deps, ctx.user, input.token)),
  setRole: protectedProcedure
    .input(member.extend({ role: roleInput }))
    .mutation(({ ctx, input }) => workspaces.setMemberRole(ctx.deps, ctx.user, input)),
  remove: protectedProcedure.input(member).mutation(({ ctx, input }) => workspaces.removeMember(ctx.deps, ctx.user, input)),
});

/** Workspaces: who owns models, jobs, datasets and tokens, and who may do what with them. */
export const workspacesRouter = router({
  list: protectedProcedure.query(({ ctx }) => workspaces.listWorkspaces(ctx.deps, ctx.user)),
  get: protectedProcedure.input(workspaceId).query(({ ctx, input }) => workspaces.getWorkspace(ctx.deps, ctx.user, input.workspaceId)),
  create: protectedProcedure
    .input(z.object({ name: workspaceName }))
    .mutation(({ ctx, input }) => workspaces.createWorkspace(ctx.deps, ctx.user, input.name)),
  rename: protectedProcedure
    .input(z.object({ workspaceId: z.uuid(), name: workspaceName }))
    .mutation(({ ctx, input }) => workspaces.renameWorkspace(ctx.deps, ctx.user, input.workspaceId, input.name)),
  delete: protectedProcedure.input(workspaceId).mutation(({ ctx, input }) => workspaces.deleteWorkspace(ctx.deps, ctx.user, input.workspaceId)),
  leave: protectedProcedure.input(workspaceId).mutation(({ ctx, input }) => workspaces.leaveWorkspace(ctx.deps, ctx.user, input.workspaceId)),
  update: protectedProcedure
    .input(workspaceSettingsInput)
    .mutation(({ ctx, input }) => checkpoints.updateWorkspaceSettings(ctx.deps, ctx.user, input)),
  usage: protectedProcedure.input(usageInput).query(({ ctx, input }) => usage.workspaceUsage(ctx.deps, ctx.user, input)),
  members: membersRouter,
});
