/** better-auth's email routes, called with the session cookie; errors come back as readable messages. */

export interface SessionUser {
  id: string;
  email: string;
  name: string;
}

async function post(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`/api/auth/${path}`, {
    method: 'POST',
    credentials: 'include',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = (await res.json().catch(() => null)) as { message?: string } | null;
  if (!res.ok) {
    if (res.status === 429) throw new Error('Too many attempts. Wait a minute and try again.');
    throw new Error(data?.message || `Request failed (${res.status}).`);
  }
  return data;
}

export async function getSession(): Promise<SessionUser | null> {
  const res = await fetch('/api/auth/get-session', { credentials: 'include' });
  // A server that is down is not a signed-out user: fail, so the frame shows the error and Retry, not sign-in.
  if (res.status >= 500) throw new Error('The server is not answering right now. Try again in a moment.');
  if (!res.ok) return null;
  const data = (await res.json().catch(() => null)) as { user?: SessionUser } | null;
  return data?.user ?? null;
}

export const signIn = (email: string, password: string) => post('sign-in/email', { email, password });
export const signUp = (name: string, email: string, password: string) => post('sign-up/email', { email, password, name });
export const signOut = () => post('sign-out', {});

/**
 * A new password, checked against the current one. With `signOutOthers` every other session ends (and this
 * browser gets a fresh session cookie in the answer); every process drops the ended ones at once.
 */
export const changePassword = (currentPassword: string, newPassword: string, signOutOthers: boolean) =>
  post('change-password', { currentPassword, newPassword, revokeOtherSessions: signOutOthers });

/** Ends every session of this account but the one asking. */
export const signOutOtherSessions = () => post('revoke-other-sessions', {});

/** Deletes the account (its password confirms it); refused while it is the only owner of a team workspace. */
export const deleteAccount = (password: string) => post('delete-user', { password });

/** Only same-site paths are honoured as a post-sign-in destination. */
export function safeNext(next: string | undefined | null): string {
  if (next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')) return next;
  return '/models';
}
