import { z } from 'zod';
import { ROLES } from './roles.ts';

/** The optional workspace of a list or create call; without it, the personal workspace (or a token's own). */
export const workspaceIdInput = z.uuid().optional();

export const roleInput = z.enum(ROLES);

export const workspaceName = z.string().trim().min(1).max(100);

/** Lower-cased before it is stored and compared. */
export const emailInput = z.email().max(254);

/** An invitation token as handed out (`lwi_` and 43 base64url characters); anything else is not one. */
export const inviteTokenInput = z.string().min(1).max(100);
