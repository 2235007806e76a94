import { useNavigate } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, Show } from 'solid-js';
import { changePassword, deleteAccount, getSession, signOutOtherSessions } from '../lib/auth.ts';
import { usePageTitle } from '../lib/title.ts';

/** As the server accepts a password (server/auth/auth.ts). */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 256;

const errorText = (err: unknown) => (err instanceof Error ? err.message : 'Something went wrong.');

/**
 * The signed-in account: change the password, sign out of every other session, delete the account. All three
 * are better-auth's own endpoints (/api/auth/*); ending a session reaches every process's identity cache at once.
 */
export default function Account() {
  usePageTitle(() => 'Account');
  const session = useQuery(() => ({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000 }));
  return (
    <section aria-labelledby="account-title" class="account-page">
      <div class="page-head">
        <div>
          <h1 id="account-title">Account</h1>
          <Show when={session.data}>
            {(u) => (
              <p class="muted">
                Signed in as <strong>{u().name}</strong> (<span class="break">{u().email}</span>).
              </p>
            )}
          </Show>
        </div>
      </div>
      <PasswordPanel />
      <SessionsPanel />
      <Show when={session.data}>{(u) => <DeletePanel email={u().email} />}</Show>
    </section>
  );
}

function PasswordPanel() {
  const [mismatch, setMismatch] = createSignal(false);
  const [done, setDone] = createSignal<string | null>(null);
  const change = useMutation(() => ({
    mutationFn: (v: { current: string; next: string; others: boolean }) => changePassword(v.current, v.next, v.others),
  }));

  const onSubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const next = String(data.get('newPassword') ?? '');
    setDone(null);
    if (next !== String(data.get('confirmPassword') ?? '')) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    const others = data.get('signOutOthers') === 'on';
    const ok = await change.mutateAsync({ current: String(data.get('currentPassword') ?? ''), next, others }).then(
      () => true,
      () => false,
    );
    if (ok) {
      form.reset();
      setDone(others ? 'Password changed. Every other session was signed out.' : 'Password changed.');
    }
  };

  return (
    <form class="panel account-form" onSubmit={onSubmit} aria-labelledby="h-password">
      <h2 id="h-password">Change password</h2>
      <div class="field">
        <label for="a-current">Current password</label>
        <input
          id="a-current"
          name="currentPassword"
          type="password"
          autocomplete="current-password"
          required
          maxLength={MAX_PASSWORD}
          aria-invalid={change.isError ? 'true' : undefined}
          aria-describedby={change.isError ? 'a-current-error' : undefined}
        />
        <Show when={change.isError}>
          <p id="a-current-error" class="field-error" role="alert">
            {errorText(change.error) === 'Invalid password' ? 'That is not your current password.' : errorText(change.error)}
          </p>
        </Show>
      </div>
      <div class="field">
        <label for="a-new">New password</label>
        <input
          id="a-new"
          name="newPassword"
          type="password"
          autocomplete="new-password"
          required
          minLength={MIN_PASSWORD}
          maxLength={MAX_PASSWORD}
          aria-describedby="a-new-hint"
        />
        <p id="a-new-hint" class="hint">
          At least {MIN_PASSWORD} characters.
        </p>
      </div>
      <div class="field">
        <label for="a-confirm">Repeat the new password</label>
        <input
          id="a-confirm"
          name="confirmPassword"
          type="password"
          autocomplete="new-password"
          required
          minLength={MIN_PASSWORD}
          maxLength={MAX_PASSWORD}
          aria-invalid={mismatch() ? 'true' : undefined}
          aria-describedby={mismatch() ? 'a-confirm-error' : undefined}
        />
        <Show when={mismatch()}>
          <p id="a-confirm-error" class="field-error" role="alert">
            The two new passwords are not the same.
          </p>
        </Show>
      </div>
      <div class="field field-check">
        <input id="a-others" name="signOutOthers" type="checkbox" checked />
        <label for="a-others">Sign out of every other session</label>
      </div>
      <button type="submit" class="btn btn-primary" disabled={change.isPending}>
        {change.isPending ? 'Changing…' : 'Change password'}
      </button>
      <Show when={done()}>
        <p class="notice notice-success" role="status">
          {done()}
        </p>
      </Show>
    </form>
  );
}

function SessionsPanel() {
  const revoke = useMutation(() => ({ mutationFn: () => signOutOtherSessions() }));
  return (
    <section class="panel" aria-labelledby="h-sessions">
      <h2 id="h-sessions">Sessions</h2>
      <div class="danger-row">
        <p class="muted">Signed in on another computer, or a browser you no longer use? End every session but this one; they stop working at once.</p>
        <button type="button" class="btn btn-secondary" disabled={revoke.isPending} onClick={() => revoke.mutate()}>
          {revoke.isPending ? 'Signing out…' : 'Sign out of other sessions'}
        </button>
      </div>
      <Show when={revoke.isSuccess}>
        <p class="notice notice-success" role="status">
          Every other session was signed out.
        </p>
      </Show>
      <Show when={revoke.isError}>
        <p class="form-error" role="alert">
          {errorText(revoke.error)}
        </p>
      </Show>
    </section>
  );
}

/** Deleting the account: typing its email arms the button; the password confirms it. */
function DeletePanel(props: { email: string }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [typed, setTyped] = createSignal('');
  const matches = () => typed().trim().toLowerCase() === props.email.toLowerCase();
  const remove = useMutation(() => ({
    mutationFn: (password: string) => deleteAccount(password),
    onSuccess: () => {
      qc.clear();
      navigate('/sign-in', { replace: true });
    },
  }));

  const onSubmit = (e: SubmitEvent) => {
    e.preventDefault();
    const password = String(new FormData(e.currentTarget as HTMLFormElement).get('password') ?? '');
    if (matches() && password) remove.mutate(password);
  };

  return (
    <form class="panel danger-zone account-form" onSubmit={onSubmit} aria-labelledby="h-delete-account">
      <h2 id="h-delete-account">Delete account</h2>
      <p class="muted">
        Your account, your personal workspace with its models, runs, datasets and stored files, and your API tokens are deleted for good. Team
        workspaces you share with another owner keep their models. If you are the only owner of a team, make someone else an owner first.
      </p>
      <div class="field">
        <label for="a-delete-email">
          Type your email, <strong class="break">{props.email}</strong>, to confirm
        </label>
        <input
          id="a-delete-email"
          name="email"
          type="email"
          autocomplete="off"
          required
          value={typed()}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="a-delete-password">Password</label>
        <input
          id="a-delete-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          maxLength={MAX_PASSWORD}
          aria-invalid={remove.isError ? 'true' : undefined}
          aria-describedby={remove.isError ? 'a-delete-error' : undefined}
        />
      </div>
      <button type="submit" class="btn btn-danger" disabled={!matches() || remove.isPending}>
        {remove.isPending ? 'Deleting…' : 'Delete my account'}
      </button>
      <Show when={remove.isError}>
        <p id="a-delete-error" class="form-error" role="alert">
          {errorText(remove.error) === 'Invalid password' ? 'That is not your password.' : errorText(remove.error)}
        </p>
      </Show>
    </form>
  );
}
