import { Navigate, Route, Router, type RouteSectionProps } from '@solidjs/router';
import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/solid-query';
import { type Component, lazy, Suspense } from 'solid-js';
import { AppLayout } from './components/app-layout.tsx';
import { PageSkeleton } from './components/states.tsx';
import { errorCode } from './lib/trpc.ts';

// Every page is its own chunk: uPlot, for one, loads only with the model detail page.
const SignIn = lazy(() => import('./routes/sign-in.tsx'));
const SignUp = lazy(() => import('./routes/sign-up.tsx'));
const Models = lazy(() => import('./routes/models.tsx'));
const ModelDetail = lazy(() => import('./routes/model-detail.tsx'));
const Jobs = lazy(() => import('./routes/jobs.tsx'));
const Tokens = lazy(() => import('./routes/tokens.tsx'));
const Members = lazy(() => import('./routes/members.tsx'));
const Webhooks = lazy(() => import('./routes/webhooks.tsx'));
const Compare = lazy(() => import('./routes/compare.tsx'));
const Usage = lazy(() => import('./routes/usage.tsx'));
const Notifications = lazy(() => import('./routes/notifications.tsx'));
const Account = lazy(() => import('./routes/account.tsx'));
const Invite = lazy(() => import('./routes/invite.tsx'));
const Share = lazy(() => import('./routes/share.tsx'));
const NotFound = lazy(() => import('./routes/not-found.tsx'));

/** A page outside the signed-in frame, with its skeleton while its code (and first data) loads. */
function standalone(Page: Component<RouteSectionProps>) {
  return (props: RouteSectionProps) => (
    <Suspense fallback={<PageSkeleton pathname={props.location.pathname} />}>
      <Page {...props} />
    </Suspense>
  );
}

export function App() {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      // A session that ended elsewhere: re-check it, and the layout sends the user to sign in.
      onError: (err) => {
        if (errorCode(err) === 'UNAUTHORIZED') void client.invalidateQueries({ queryKey: ['session'] });
      },
    }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        // An offline browser gets the error state and its Retry too, not a query paused with a skeleton forever.
        networkMode: 'always',
        // One quick retry for a blip (no answer, a 5xx); a refusal is final. With the API down, the error state
        // (and its Retry) shows within about a second, not after a long backoff.
        retry: (count, err) => count < 1 && !['NOT_FOUND', 'UNAUTHORIZED', 'BAD_REQUEST', 'FORBIDDEN'].includes(errorCode(err) ?? ''),
        retryDelay: 300,
      },
    },
  });

  return (
    <QueryClientProvider client={client}>
      <Router>
        <Route path="/sign-in" component={standalone(SignIn)} />
        <Route path="/sign-up" component={standalone(SignUp)} />
        {/* Public pages, outside the signed-in frame: an invite (which signs in from there) and a shared model. */}
        <Route path="/invite/:token" component={standalone(Invite)} />
        <Route path="/s/:token" component={standalone(Share)} />
        <Route path="/" component={AppLayout}>
          <Route path="/" component={() => <Navigate href="/models" />} />
          <Route path="/models" component={Models} />
          <Route path="/models/:id" component={ModelDetail} />
          <Route path="/jobs" component={Jobs} />
          <Route path="/tokens" component={Tokens} />
          <Route path="/members" component={Members} />
          <Route path="/webhooks" component={Webhooks} />
          <Route path="/compare" component={Compare} />
          <Route path="/usage" component={Usage} />
          <Route path="/notifications" component={Notifications} />
          <Route path="/account" component={Account} />
          <Route path="*404" component={NotFound} />
        </Route>
      </Router>
    </QueryClientProvider>
  );
}
