import { A, useNavigate, useParams } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { Match, Show, Switch } from 'solid-js';
import { getSession, signOut } from '../lib/auth.ts';
import { api, errorCode, errorMessage } from '../lib/trpc.ts';
import { ROLE_LABEL, withWorkspace } from '../lib/workspace.ts';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';
import { FormError } from '../components/states.tsx';

/**
 * An invite link (/invite/:token), readable without signing in: who invites whom to what. A guest signs in
 * or up and comes back here (`?next=` is a same-site path, see safeNext); a signed-in user accepts.
 */
export default function Invite() {
  const params = useParams<{ token: string }>();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const session = useQuery(() => ({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000 }));
  const preview = useQuery(() => ({
    queryKey: ['invite', params.token],
    queryFn: () => api.workspaces.members.preview.query({ token: params.token }),
  }));
  usePageTitle(() => (preview.data ? `Join ${preview.data.workspaceName}` : 'Invitation'));
  const accept = useMutation(() => ({
    mutationFn: () => api.workspaces.members.accept.mutate({ token: params.token }),
    onSuccess: async (res) => {
      // The switcher's list must hold the new workspace before the catalogue opens in it.
      await qc.invalidateQueries({ queryKey: ['workspaces'] });
      navigate(withWorkspace('/models', res.workspaceId), { replace: true });
    },
  }));
  const next = () => encodeURIComponent(`/invite/${encodeURIComponent(params.token)}`);
  const switchAccount = async () => {
    await signOut().catch(() => {});
    // The sign-in form clears the rest of the cache; here only the sign-in state changes.
    qc.setQueryData(['session'], null);
  };
  const otherEmail = () => {
    const p = preview.data;
    const user = session.data;
    return Boolean(p && user && p.email.toLowerCase() !== user.email.toLowerCase());
  };

  return (
    <main class="auth-page" id="main">
      <div class="auth-card panel invite-card">
        <div class="brand auth-brand">
          <span class="brand-mark" aria-hidden="true">
            L
          </span>
          <span class="brand-text">LoRA Models</span>
        </div>
        <Switch>
          <Match when={errorCode(preview.error) === 'NOT_FOUND'}>
            <h1>Invite not found</h1>
            <p class="muted">This invite link is not valid. Ask for a new one.</p>
          </Match>
          <Match when={preview.isError}>
            <h1>Could not load this invite</h1>
            <p class="form-error" role="alert">
              {errorMessage(preview.error)}
            </p>
            <button type="button" class="btn btn-secondary" onClick={() => void preview.refetch()}>
              Try again
            </button>
          </Match>
          <Match when={preview.data}>
            {(p) => (
              <>
                <h1>Join {p().workspaceName}</h1>
                <p data-testid="invite-summary">
                  You are invited to join <strong>{p().workspaceName}</strong> as <strong>{ROLE_LABEL[p().role]}</strong>. The invite is for{' '}
                  <strong>{p().email}</strong>.
                </p>
                <Switch>
                  <Match when={p().status === 'accepted'}>
                    <p class="form-error" role="alert">
                      This invite has already been used.
                    </p>
                  </Match>
                  <Match when={p().status === 'expired'}>
                    <p class="form-error" role="alert">
                      This invite expired on <Time value={p().expiresAt} />. Ask for a new one.
                    </p>
                  </Match>
                  <Match when={session.isPending}>
                    <div class="skeleton-block" aria-busy="true" />
                  </Match>
                  <Match when={!session.data}>
                    <p class="muted">Sign in with {p().email}, or create an account with it, to accept.</p>
                    <div class="invite-actions">
                      <A class="btn btn-primary" href={`/sign-in?next=${next()}`}>
                        Sign in to accept
                      </A>
                      <A class="btn btn-secondary" href={`/sign-up?next=${next()}`}>
                        Create an account
                      </A>
                    </div>
                  </Match>
                  <Match when={session.data}>
                    {(user) => (
                      <>
                        <p class="muted">
                          Signed in as <strong>{user().email}</strong>. Valid until <Time value={p().expiresAt} />.
                        </p>
                        <Show
                          when={!otherEmail()}
                          fallback={
                            <>
                              <p class="notice notice-error" role="alert">
                                This invite is for {p().email}. Sign in with that address to accept it.
                              </p>
                              <button type="button" class="btn btn-secondary btn-block" onClick={() => void switchAccount()}>
                                Sign out
                              </button>
                            </>
                          }
                        >
                          <FormError when={accept.isError} error={accept.error} />
                          <button type="button" class="btn btn-primary btn-block" disabled={accept.isPending} onClick={() => accept.mutate()}>
                            {accept.isPending ? 'Joining…' : 'Accept invite'}
                          </button>
                        </Show>
                      </>
                    )}
                  </Match>
                </Switch>
              </>
            )}
          </Match>
          <Match when={true}>
            <div class="skeleton-block" role="status" aria-busy="true" aria-label="Loading invite" />
          </Match>
        </Switch>
      </div>
    </main>
  );
}
