import { A, type RouteSectionProps, useBeforeLeave, useIsRouting, useLocation, useNavigate, useSearchParams } from '@solidjs/router';
import { useQuery, useQueryClient } from '@tanstack/solid-query';
import { createEffect, createMemo, createSignal, Match, Show, Suspense, Switch } from 'solid-js';
import { getSession, signOut } from '../lib/auth.ts';
import { api } from '../lib/trpc.ts';
import { rememberedWorkspace, rememberWorkspace, withWorkspace, WorkspaceContext } from '../lib/workspace.ts';
import { NotificationBell } from './notification-bell.tsx';
import { ErrorState, PageSkeleton } from './states.tsx';
import { NewWorkspaceDialog, WorkspaceSwitcher } from './workspace-switcher.tsx';

const isModelPage = (pathname: string) => pathname.startsWith('/models/');

/**
 * The signed-in frame: header with the workspace switcher, navigation, the bell and the account; guests go
 * to /sign-in?next=…. The current workspace is the URL's `?ws=`; a URL without one (or with one the user is
 * not a member of) opens the workspace last shown in this browser, else the personal one, and gets its `?ws=`.
 */
export function AppLayout(props: RouteSectionProps) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const [params, setParams] = useSearchParams<{ ws?: string }>();
  const [creating, setCreating] = createSignal(false);
  // Where a navigation in progress goes (useIsRouting is true until the new page has its code and data).
  const routing = useIsRouting();
  const [target, setTarget] = createSignal<string | null>(null);
  useBeforeLeave((e) => setTarget(typeof e.to === 'string' ? new URL(e.to, window.location.origin).pathname : null));
  const leaving = () => {
    const to = target();
    return routing() && to !== null && to !== location.pathname ? to : null;
  };
  const session = useQuery(() => ({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000 }));
  const workspaces = useQuery(() => ({
    queryKey: ['workspaces', 'list'],
    queryFn: () => api.workspaces.list.query(),
    enabled: Boolean(session.data),
  }));

  createEffect(() => {
    if (session.isSuccess && session.data === null) {
      const next = location.pathname + location.search;
      navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    }
  });

  const current = createMemo(() => {
    const list = workspaces.data;
    if (!list) return undefined;
    const asked = params.ws ? list.find((w) => w.id === params.ws) : undefined;
    if (asked) return asked;
    // A workspace made or joined a moment ago may be missing from a list fetched before: wait for the fresh one.
    if (params.ws && workspaces.isFetching) return undefined;
    const remembered = rememberedWorkspace();
    return list.find((w) => w.id === remembered) ?? list.find((w) => w.personal) ?? list[0];
  });

  createEffect(() => {
    const w = current();
    if (!w) return;
    rememberWorkspace(w.id);
    // A model's page is addressed by its id alone (the model decides its workspace), so links to it stay stable.
    if (params.ws !== w.id && !isModelPage(location.pathname)) setParams({ ws: w.id }, { replace: true });
  });

  const href = (path: string) => {
    const w = current();
    return w ? withWorkspace(path, w.id) : path;
  };

  // A model belongs to one workspace: switching from its page goes to the other workspace's catalogue.
  const onSwitch = (id: string) => navigate(withWorkspace(isModelPage(location.pathname) ? '/models' : location.pathname, id));

  const onCreated = async (id: string) => {
    await qc.invalidateQueries({ queryKey: ['workspaces'] });
    setCreating(false);
    navigate(withWorkspace('/members', id));
  };

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
          <A href={href('/models')} class="brand">
            <span class="brand-mark" aria-hidden="true">
              L
            </span>
            <span class="brand-text">LoRA Models</span>
          </A>
          <Show when={workspaces.data}>
            {(list) => <WorkspaceSwitcher workspaces={list()} current={current()} onSwitch={onSwitch} onNew={() => setCreating(true)} />}
          </Show>
          <nav class="main-nav" aria-label="Main">
            <A href={href('/models')} activeClass="active">
              Models
            </A>
            <A href={href('/jobs')} activeClass="active">
              Jobs
            </A>
            <A href={href('/tokens')} activeClass="active">
              API tokens
            </A>
            <A href={href('/members')} activeClass="active">
              Members
            </A>
            <A href={href('/webhooks')} activeClass="active">
              Webhooks
            </A>
            <A href={href('/usage')} activeClass="active">
              Usage
            </A>
          </nav>
          <div class="header-end">
            <Show when={session.data}>
              {(user) => (
                <>
                  <NotificationBell />
                  <A href={href('/account')} class="user-email" title={`${user().email}: account settings`} activeClass="active">
                    <span class="account-long">{user().email}</span>
                    <span class="account-short">Account</span>
                  </A>
                  <button type="button" class="btn btn-small btn-ghost" onClick={onSignOut}>
                    Sign out
                  </button>
                </>
              )}
            </Show>
          </div>
        </div>
      </header>
      <Show when={creating()}>
        <NewWorkspaceDialog onClose={() => setCreating(false)} onCreated={onCreated} />
      </Show>
      <main id="main" class="container main" tabindex="-1">
        <Switch fallback={<PageSkeleton pathname={location.pathname} />}>
          <Match when={session.isError && !session.data}>
            <ErrorState error={session.error} onRetry={() => void session.refetch()} title="Could not reach the server" />
          </Match>
          <Match when={workspaces.isError && !workspaces.data}>
            <ErrorState error={workspaces.error} onRetry={() => void workspaces.refetch()} title="Could not load your workspaces" />
          </Match>
          <Match when={session.data && current()}>
            {(w) => (
              <WorkspaceContext.Provider value={{ current: w, href, openCreate: () => setCreating(true) }}>
                {/* A navigation to another page waits (a transition) for its code and data: its skeleton shows at once meanwhile. */}
                <Show when={leaving()}>{(to) => <PageSkeleton pathname={to()} />}</Show>
                <div class="route-view" hidden={leaving() !== null}>
                  <Suspense fallback={<PageSkeleton pathname={location.pathname} />}>{props.children}</Suspense>
                </div>
              </WorkspaceContext.Provider>
            )}
          </Match>
        </Switch>
      </main>
    </>
  );
}
