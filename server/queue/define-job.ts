import type { Job, Queue, WorkOptions } from 'pg-boss';
import type { z } from 'zod';
import type { Deps } from '../deps.ts';

/** What a job handler decides about one pg-boss job. */
type JobOutcome = { status: 'completed'; output?: object } | { status: 'deadletter'; output: { error: string } };

/**
 * One background job: its queue name and options, the payload schema, and the handler. Every job in
 * the service is declared this way and registered in one place (registry.ts).
 */
export interface JobDefinition<P extends z.ZodType> {
  name: string;
  payload: P;
  queue: Omit<Queue, 'name'>;
  work: WorkOptions;
  /** Key for pg-boss's singleton policies, so the same work is not queued twice. */
  singletonKey?: (payload: z.infer<P>) => string;
  /** Cron schedule (UTC), for periodic jobs. */
  cron?: string;
  /** Workers per process (default 1; the ingest's is INGEST_CONCURRENCY), for jobs that mostly wait on someone else. */
  slots?: number;
  handle: (deps: Deps, payload: z.infer<P>, job: Job<z.infer<P>> & { retryCount: number; retryLimit: number }) => Promise<JobOutcome>;
}

export function defineJob<P extends z.ZodType>(def: JobDefinition<P>): JobDefinition<P> {
  return def;
}

export type AnyJob = JobDefinition<z.ZodType>;

/** Options to `boss.send` for `def`, with its singleton key when it has one. */
export function sendOptions<P extends z.ZodType>(def: JobDefinition<P>, payload: z.infer<P>) {
  return def.singletonKey ? { singletonKey: def.singletonKey(payload) } : {};
}
