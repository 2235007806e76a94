import { Navigate, Route, Router } from '@solidjs/router';
import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/solid-query';
import { lazy } from 'solid-js';
import { AppLayout } from './components/app-layout.tsx';
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
const Invite = lazy(() => import('./routes/invite.tsx'));
const Share = lazy(() => import('./routes/share.tsx'));
const NotFound = lazy(() => import('./routes/not-found.tsx'));

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
        retry: (count, err) => !['NOT_FOUND', 'UNAUTHORIZED', 'BAD_REQUEST', 'FORBIDDEN'].includes(errorCode(err) ?? '') && count < 2,
      },
    },
  });

  return (
    <QueryClientProvider client={client}>
      <Router>
        <Route path="/sign-in" component={SignIn} />
        <Route path="/sign-up" component={SignUp} />
        {/* Public pages, outside the signed-in frame: an invite (which signs in from there) and a shared model. */}
        <Route path="/invite/:token" component={Invite} />
        <Route path="/s/:token" component={Share} />
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
          <Route path="*404" component={NotFound} />
        </Route>
      </Router>
    </QueryClientProvider>
  );
}
