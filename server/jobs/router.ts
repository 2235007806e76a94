import { z } from 'zod';
import { ERRORS } from '../errors.ts';
import { protectedProcedure, router, workerProcedure } from '../trpc/init.ts';
import { workspaceIdInput } from '../workspaces/schemas.ts';
import { completeJobInput, createJobInput, failJobInput, jobIdInput, reportMetricsInput } from './schemas.ts';
import * as jobs from './service.ts';

/** The worker token is good for its own job only; any other id looks like a missing job. */
function ownJob(worker: { jobId: string }, jobId: string): string {
  if (worker.jobId !== jobId) throw ERRORS.notFound('Job');
  return jobId;
}

export const jobsRouter = router({
  create: protectedProcedure.input(createJobInput).mutation(({ ctx, input }) => jobs.createJob(ctx.deps, ctx.user, input)),
  list: protectedProcedure
    .input(z.object({ workspaceId: workspaceIdInput }).optional())
    .query(({ ctx, input }) => jobs.listJobs(ctx.deps, ctx.user, input ?? {})),
  get: protectedProcedure.input(jobIdInput).query(({ ctx, input }) => jobs.getJob(ctx.deps, ctx.user, input.jobId)),
  retryIngest: protectedProcedure.input(jobIdInput).mutation(({ ctx, input }) => jobs.retryIngest(ctx.deps, ctx.user, input.jobId)),

  start: workerProcedure.input(jobIdInput).mutation(({ ctx, input }) => jobs.startJob(ctx.deps, ownJob(ctx.worker, input.jobId))),
  reportMetrics: workerProcedure
    .input(reportMetricsInput)
    .mutation(({ ctx, input }) => jobs.reportMetrics(ctx.deps, ownJob(ctx.worker, input.jobId), input.points)),
  complete: workerProcedure
    .input(completeJobInput)
    .mutation(({ ctx, input }) => jobs.completeJob(ctx.deps, { ...input, jobId: ownJob(ctx.worker, input.jobId) })),
  fail: workerProcedure.input(failJobInput).mutation(({ ctx, input }) => jobs.failJob(ctx.deps, ownJob(ctx.worker, input.jobId), input.error)),
});
