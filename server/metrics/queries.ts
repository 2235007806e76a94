import type postgres from 'postgres';

interface QueueRow {
  queue: string;
  ready: number;
  deferred: number;
  active: number;
  /** Seconds the oldest ready job has waited since it could run; 0 when none is ready. */
  oldestReadySeconds: number;
}

/**
 * Every pg-boss queue (dead-letter queues included) with its waiting and running jobs, read live from
 * `pgboss.job` in one statement: pg-boss's own counts (`pgboss.queue.*_count`) are refreshed only by
 * its monitor, which API processes do not run. The states follow pg-boss's `getQueueStats`: a job
 * below `active` (created or retry) is ready once its `start_after` has come and no flow parent blocks
 * it, deferred otherwise; the waiting time counts from when it could run (`greatest(created_on,
 * start_after)`), so a job delayed for a retry is not old before its delay is over. The job table is
 * partitioned by queue name and the fetch index covers `state < 'active'`; finished jobs are never read.
 */
export async function queueStats(client: postgres.Sql): Promise<QueueRow[]> {
  const rows = await client<QueueRow[]>`
    select q.name as queue,
      (count(*) filter (where j.state < 'active' and not j.blocked and j.start_after <= now()))::int as ready,
      (count(*) filter (where j.state < 'active' and (j.blocked or j.start_after > now())))::int as deferred,
      (count(*) filter (where j.state = 'active'))::int as active,
      coalesce(extract(epoch from now() - min(greatest(j.created_on, j.start_after))
        filter (where j.state < 'active' and not j.blocked and j.start_after <= now())), 0)::float8 as "oldestReadySeconds"
    from pgboss.queue q
    left join pgboss.job j on j.name = q.name and j.state <= 'active'
    group by q.name
    order by q.name`;
  return [...rows];
}
