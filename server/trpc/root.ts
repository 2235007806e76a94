import { datasetsRouter } from '../datasets/router.ts';
import { jobsRouter } from '../jobs/router.ts';
import { modelsRouter } from '../models/router.ts';
import { notificationsRouter } from '../notifications/router.ts';
import { sharesRouter } from '../shares/router.ts';
import { tokensRouter } from '../tokens/router.ts';
import { webhooksRouter } from '../webhooks/router.ts';
import { workspacesRouter } from '../workspaces/router.ts';
import { createCallerFactory, router } from './init.ts';

export const appRouter = router({
  models: modelsRouter,
  jobs: jobsRouter,
  datasets: datasetsRouter,
  notifications: notificationsRouter,
  tokens: tokensRouter,
  workspaces: workspacesRouter,
  shares: sharesRouter,
  webhooks: webhooksRouter,
});

/** The type integrators import (`import type { AppRouter }`); no server code comes with it. */
export type AppRouter = typeof appRouter;

/** Calls procedures without HTTP: `createCaller(createContextInner(deps, { user }))`. */
export const createCaller = createCallerFactory(appRouter);
