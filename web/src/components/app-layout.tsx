import { A, useLocation, useNavigate, type RouteSectionProps } from '@solidjs/router';
import { useQuery, useQueryClient } from '@tanstack/solid-query';
import { createEffect, Show, Suspense } from 'solid-js';
import { getSession, signOut } from '../lib/auth.ts';
import { NotificationBell } from './notification-bell.tsx';

/** The signed-in frame: header with navigation, the bell and the account; guests go to /sign-in?next=…. */
export function AppLayout(props: RouteSectionProps) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const session = useQuery(() => ({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000 }));

  createEffect(() => {
    if (session.isSuccess && session.data === null) {
      const next = location.pathname + location.search;
      navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    }
  });

  const onSignOut = async () => {
    await signOut().catch(() => {});
    qc.clear();
    navigate('/sign-in', { replace: true });
  };

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <div class="container header-inner">
          <A href="/models" class="brand" aria-label="LoRA Models home">
            <span class="brand-mark" aria-hidden="true">
              L
            </span>
            <span class="brand-text">LoRA Models</span>
          </A>
          <nav class="main-nav" aria-label="Main">
            <A href="/models" activeClass="active">
              Models
            </A>
            <A href="/jobs" activeClass="active">
              Jobs
            </A>
            <A href="/tokens" activeClass="active">
              API tokens
            </A>
          </nav>
          <div class="header-end">
            <Show when={session.data}>
              {(user) => (
                <>
                  <NotificationBell />
                  <span class="user-email" title={user().email}>
                    {user().email}
                  </span>
                  <button type="button" class="btn btn-small btn-ghost" onClick={onSignOut}>
                    Sign out
                  </button>
                </>
              )}
            </Show>
          </div>
        </div>
      </header>
      <main id="main" class="container main" tabindex="-1">
        <Show when={session.data} fallback={<div class="page-loading" aria-busy="true" />}>
          <Suspense fallback={<div class="page-loading" aria-busy="true" />}>{props.children}</Suspense>
        </Show>
      </main>
    </>
  );
}
