import { createContext, useContext } from 'solid-js';
import type { Role, Workspace } from './trpc.ts';

/** Display names of the roles, highest first; typed by the union, so a new role fails to compile until it has one. */
export const ROLE_LABEL: Record<Role, string> = { owner: 'Owner', admin: 'Admin', member: 'Member', viewer: 'Viewer' };

const RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3, owner: 4 };

/** The role an action needs, as the server ranks them (read is every member, so it needs no check). */
type Need = 'write' | 'admin' | 'owner';
const NEED: Record<Need, number> = { write: RANK.member, admin: RANK.admin, owner: RANK.owner };

/** Whether `role` may do what `need` names; the server decides again, this only hides what would be refused. */
export function can(role: Role | null | undefined, need: Need): boolean {
  return role ? RANK[role] >= NEED[need] : false;
}

/** Whether `actor` may change or remove a member of role `target` (nobody acts on a higher role; owners only by owners). */
export function outranks(actor: Role, target: Role): boolean {
  return can(actor, 'admin') && RANK[actor] >= RANK[target] && (target !== 'owner' || actor === 'owner');
}

const STORE_KEY = 'lora.workspace';

/** The workspace last shown in this browser, so a bare URL opens it again. */
export function rememberedWorkspace(): string | null {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    // Storage can be off (private modes, policies): the personal workspace is then the default.
    return null;
  }
}

export function rememberWorkspace(id: string): void {
  try {
    localStorage.setItem(STORE_KEY, id);
  } catch {
    // As above: not remembering is harmless.
  }
}

/** `path` with the workspace as its `ws` search parameter, so links keep the current workspace. */
export function withWorkspace(path: string, workspaceId: string): string {
  const at = path.indexOf('?');
  const search = new URLSearchParams(at < 0 ? '' : path.slice(at + 1));
  search.set('ws', workspaceId);
  return `${at < 0 ? path : path.slice(0, at)}?${search}`;
}

interface WorkspaceState {
  /** The current workspace (from `?ws=`, else the remembered one, else the personal one). */
  current: () => Workspace;
  /** `path` in the current workspace. */
  href: (path: string) => string;
  /** Opens the "new workspace" dialog of the header. */
  openCreate: () => void;
}

/** Provided by AppLayout once the workspace list has loaded. */
export const WorkspaceContext = createContext<WorkspaceState>();

/** The current workspace of an app page (inside AppLayout). */
export function useWorkspace(): WorkspaceState {
  const state = useContext(WorkspaceContext);
  if (!state) throw new Error('useWorkspace() outside AppLayout');
  return state;
}
