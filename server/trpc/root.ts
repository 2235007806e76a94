import { datasetsRouter } from '../datasets/router';
import { jobsRouter } from '../jobs/router';
import { modelsRouter } from '../models/router';
import { notificationsRouter } from '../notifications/router';
import { tokensRouter } from '../tokens/router';
import { createCallerFactory, router } from './init';

export const appRouter = router({
  models: modelsRouter,
  jobs: jobsRouter,
  datasets: datasetsRouter,
  notifications: notificationsRouter,
  tokens: tokensRouter,
});

/** The type integrators import (`import type { AppRouter }`); no server code comes with it. */
export type AppRouter = typeof appRouter;

/** Calls procedures without HTTP: `createCaller(createContextInner(deps, { user }))`. */
export const createCaller = createCallerFactory(appRouter);
